"""Where events leave the process: the `Sink` protocol, and the two sinks the library
ships: `PostHogSink` (the posthog SDK's client) and `LocalSink` (JSON lines on stderr).
`analyticskit.testing.MemorySink` is a third. Any object with the protocol's
members can be given as ``Analytics(sink=...)`` or ``PostHogHandler(sink=...)``."""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol
from uuid import uuid4

import posthog
from posthog.exception_utils import mark_exception_as_captured
from posthog.request import APIError
from posthog.utils import system_context

from . import _diagnostics
from ._engine.counters import SinkLoss
from ._engine.outgoing import EVENT_BYTES_CAP, scrub_exception
from ._engine.scrub import Scrubber
from ._json import json_line
from ._mapping.exception_event import exception_properties
from ._mapping.message import Message
from .context import trace_properties

_STOP_GRACE = 0.5  # seconds granted to an owned client's shutdown after the deadline

LossReport = Callable[[SinkLoss, int], None]


class _QuietOwnFlush(logging.Filter):
    """While analyticskit's own bounded flush runs on a thread, drops the warnings
    the SDK logs on that thread (its flush running out of budget): the caller gets
    False from `flush`, and `shutdown` reports (and counts) that loss itself, in
    one line. Keyed on the thread and the level, not on the SDK's wording; on the
    ``posthog`` logger only while such a flush runs."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._users = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.WARNING and getattr(self._local, "active", False))

    @contextlib.contextmanager
    def during_flush(self) -> Iterator[None]:
        logger = logging.getLogger("posthog")
        with self._lock:
            self._users += 1
            if self._users == 1:
                logger.addFilter(self)
        self._local.active = True
        try:
            yield
        finally:
            self._local.active = False
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    logger.removeFilter(self)


_quiet_own_flush = _QuietOwnFlush()


def _ignore_losses(kind: SinkLoss, count: int) -> None:
    """The loss report of a sink no delivery engine has attached to yet."""


SINK_MEMBERS = ("description", "attach", "warm_up", "send", "pending", "flush", "close")
"""What an object needs to be accepted as a `Sink`."""


class Sink(Protocol):
    """Where an `Analytics` object's events leave the process.

    The delivery engine (its bounded buffer, worker thread, counters and
    deadlines) calls these methods: ``warm_up`` and ``send`` on its worker
    thread, never on the thread that captured the event; ``flush`` and ``close``
    in ``flush``/``shutdown``; ``pending`` from any thread (keep it cheap). A
    `Message` has the event's name, distinct id (None: personless), JSON-safe
    properties, timestamp and uuid.

    ``send`` returns how many events it took (0 counts the event as dropped); an
    exception it raises counts the event as ``invalid``. Events a sink takes and
    later fails to deliver are reported through the function given to ``attach``
    (``report("failed", n)`` or ``report("rejected", n)``), so that the counters
    balance; ``report("too_large", n)`` for events it took that could not fit under
    PostHog's size limit. ``pending`` lets ``flush`` and the memory bound see what the sink
    still holds. ``flush`` and ``close`` must return within their ``timeout``: the
    engine's deadlines hold around a ``send`` that blocks, not inside them.
    """

    #: Named in diagnostics and ``repr``, e.g. ``"PostHog at https://..."``.
    description: str

    def attach(self, report: LossReport) -> None:
        """Receive the function to call with events finally not delivered."""

    def warm_up(self) -> None:
        """Build one-time lazy state; called on the worker before its first ``send``."""

    def send(self, message: Message) -> int:
        """Hand one message over; return how many events were queued (0: refused)."""

    def pending(self) -> int:
        """Messages handed over and not yet sent or failed."""

    def flush(self, timeout: float) -> None:
        """Deliver what is pending, giving up after ``timeout`` seconds."""

    def close(self, timeout: float) -> None:
        """Release what the sink owns, within ``timeout`` seconds."""


def check_sink(sink: object, **connection: object) -> None:
    """Raise TypeError unless ``sink`` has every member of `Sink`, and ValueError if a
    connection argument (``api_key``, ``host``, ``client``) is given beside it."""
    _check_members(sink)
    given = sorted(name for name, value in connection.items() if value is not None)
    if given:
        raise ValueError(
            f"give either sink or {', '.join(given)}, not both (a sink is where events go)"
        )


def _check_members(sink: object) -> None:
    missing = [name for name in SINK_MEMBERS if not hasattr(sink, name)]
    uncallable = [
        n for n in SINK_MEMBERS[1:] if n not in missing and not callable(getattr(sink, n))
    ]
    if not missing and not uncallable:
        return
    without = f" without {', '.join(missing)}" if missing else ""
    not_callable = f" whose {', '.join(uncallable)} is not callable" if uncallable else ""
    raise TypeError(
        f"sink must implement analyticskit.Sink ({', '.join(SINK_MEMBERS)}),"
        f" got {type(sink).__name__}{without}{not_callable}"
    )


class PostHogSink:
    """Delivery through a ``posthog.Posthog`` client: its queue, batching, gzip, retries.

    Args:
        client: a client to deliver through; flushed, never shut down. Its
            ``capture_trace_context`` decides whether events carry the caller's
            OpenTelemetry span as ``$trace_id``/``$span_id`` (``$exception``
            events always do, as in posthog).
        api_key, host, max_queued: build (and own) a client instead; its events
            carry the caller's span.
        scrubber: what scrubs the Error Tracking ``$exception`` events it builds
            (the others come scrubbed from the worker); None: none is scrubbed.
    """

    def __init__(
        self,
        client: posthog.Posthog | None = None,
        *,
        api_key: str | None = None,
        host: str | None = None,
        max_queued: int = 10_000,
        scrubber: Scrubber | None = None,
    ) -> None:
        self._report: LossReport = _ignore_losses
        self._owned = client is None
        # Error Tracking's $exception is built here, from the SDK's helpers: scrubbed
        # here, whoever owns the client (a client's before_send would clean every
        # event a second time).
        self._scrub_exception = scrub_exception(scrubber) if scrubber else None
        if client is None:
            if not api_key:
                raise ValueError("PostHogSink needs a posthog client or an api_key")
            client = posthog.Posthog(
                api_key, host=host, max_queue_size=max_queued, gzip=True, on_error=self._on_error
            )
        self.client = client
        self.description = f"PostHog at {client.host}"
        # posthog reads the span on the thread that calls capture(), the worker
        # here, where none is current: the caller's span travels in the message.
        self._trace_events = self._owned or bool(getattr(client, "capture_trace_context", False))

    def _on_error(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        # Runs on the SDK's consumer thread once per batch that finally failed.
        status = getattr(error, "status", None)
        # A 4xx is a refusal; 408 and 429 are "not now", which the SDK retried.
        rejected = (
            isinstance(error, APIError)
            and isinstance(status, int)
            and 400 <= status < 500
            and status not in (408, 429)
        )
        self._report("rejected" if rejected else "failed", len(batch))
        if rejected and status in (401, 403):
            _diagnostics.report_once(
                f"posthog-{status}",
                f"{self.description} answered {status} to a batch of {len(batch)} events:"
                " the project API key is wrong, or belongs to another region or host."
                " Events it rejects are dropped and counted.",
            )
        elif rejected:
            _diagnostics.report_once(
                f"posthog-{status}",
                f"{self.description} rejected a batch of {len(batch)} events with {status}.",
            )
        else:
            _diagnostics.report_once(
                "posthog-failed",
                f"could not deliver a batch of {len(batch)} events to {self.description}"
                f" after retries ({type(error).__name__}); they are counted as failed.",
            )

    def attach(self, report: LossReport) -> None:
        self._report = report

    def warm_up(self) -> None:
        system_context()
        # requests imports netrc on the first request, on the SDK's sender thread: a
        # fork in the middle of that import leaves the child's import lock held, and
        # its sender waiting for good. Imported here, before the first event leaves.
        importlib.import_module("netrc")

    def send(self, message: Message) -> int:
        properties = message.properties
        span = trace_properties(message.trace) if message.trace else None
        if span and self._trace_events:
            properties = {**span, **properties}  # a $trace_id the caller set wins
        queued = 0
        if message.exception is not None:
            exception_uuid = str(uuid4())
            queued, linked = self._send_exception(message, exception_uuid, span)
            if linked:
                properties = {**properties, "exception_uuid": exception_uuid}
        uuid = self.client.capture(
            message.name,
            distinct_id=message.distinct_id,
            properties=properties,
            timestamp=message.timestamp,
            uuid=message.uuid,
        )
        return queued + (uuid is not None)

    def _send_exception(
        self, message: Message, uuid: str, span: dict[str, Any] | None
    ) -> tuple[int, bool]:
        """Queue ``message``'s ``$exception`` (Error Tracking): how many events it made
        (one too large to send is reported as such, and counts as taken), and
        whether it was queued."""
        exception = message.exception
        assert exception is not None
        try:
            event = exception_properties(
                self.client,
                exception,
                {**(span or {}), "event_name": message.name, "event_uuid": message.uuid},
                self._scrub_exception,
            )
        except ValueError:  # posthog's own integration captured it already
            return 0, False
        if event is None:
            _diagnostics.report_once(
                "exception-too-large",
                f"an $exception stayed over {EVENT_BYTES_CAP} bytes with its frames cut;"
                " it was dropped (too_large). Reported once.",
            )
            self._report("too_large", 1)
            return 1, False
        if not self.client.capture(
            "$exception",
            distinct_id=message.distinct_id,
            properties=event,
            timestamp=message.timestamp,
            uuid=uuid,
        ):
            return 0, False
        mark_exception_as_captured(exception, uuid)
        return 1, True

    def pending(self) -> int:
        return int(self.client.queue.unfinished_tasks)

    def flush(self, timeout: float) -> None:
        with _quiet_own_flush.during_flush():
            self.client.flush(timeout_seconds=max(0.0, timeout))

    def close(self, timeout: float) -> None:
        if not self._owned:
            return
        # The SDK's shutdown() has no deadline; run it aside and wait a bounded time.
        # Once it owns the client's lifecycle, the SDK's own exit hook returns at once.
        stopper = threading.Thread(
            target=self.client.shutdown, name="analyticskit-posthog-shutdown", daemon=True
        )
        try:
            stopper.start()
        except RuntimeError:
            # Python 3.12+ starts no thread at interpreter exit: the SDK's own exit
            # hook stops the client (what it still held is counted already).
            return
        stopper.join(min(max(0.0, timeout), _STOP_GRACE))


class LocalSink:
    """The embedded default with no PostHog key: one JSON object a line on stderr.

    Each line is strict JSON (NaN and infinities are null) and holds no character
    that `str.splitlines` splits on, whatever the event's values.
    """

    description = "the local sink (stderr)"

    def __init__(self) -> None:
        self._report: LossReport = _ignore_losses

    def attach(self, report: LossReport) -> None:
        self._report = report

    def warm_up(self) -> None:
        pass

    def _payload(self, message: Message) -> dict[str, Any]:
        """The JSON object written for one message."""
        return {
            "event": message.name,
            "distinct_id": message.distinct_id,
            "timestamp": message.timestamp,
            "uuid": message.uuid or str(uuid4()),
            "properties": {**trace_properties(message.trace), **message.properties}
            if message.trace
            else message.properties,
        }

    def send(self, message: Message) -> int:
        line = json_line(self._payload(message))
        try:
            # sys.stderr is looked up on each write, so redirections apply.
            sys.stderr.write(line + "\n")
        except Exception:
            self._report("failed", 1)
        return 1

    def pending(self) -> int:
        return 0

    def flush(self, timeout: float) -> None:
        with contextlib.suppress(Exception):
            sys.stderr.flush()

    def close(self, timeout: float) -> None:
        self.flush(timeout)
