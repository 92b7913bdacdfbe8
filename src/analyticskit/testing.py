"""What users import in their own tests: events kept in memory, exactly as PostHog
would receive them, and a context that routes everything captured inside it there.

```python
from analyticskit.testing import capture_events

with capture_events() as captured:
    checkout(cart)  # calls capture_event(...) and logs through PostHogHandler
captured.one("success_purchase_completed").assert_properties(source="iap")
```

Logs are captured too: when the logs lane is on (``PostHogHandler(logs_level=...)``),
``captured.logs`` holds each log as the lane would send it to PostHog Logs
(`CapturedLog`: body, severity, attributes, resource), in order.

The pytest fixture ``analytics_events`` (registered through the ``pytest11`` entry
point) is `capture_events` for the length of one test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import posthog
from posthog.request import DatetimeSerializer

from ._mapping.message import Message
from ._mapping.record_to_log import DISTINCT_ID_ATTRIBUTE, LogMessage, log_attributes
from ._validate import check, positive_problem
from ._volume.control import override_volume, parse_record_caps
from .analytics import DEFAULT_FLUSH_TIMEOUT, Analytics, swap_default
from .config import DEFAULT_MAX_QUEUED
from .sinks import LossReport, PostHogSink

__all__ = ["CapturedEvent", "CapturedEvents", "CapturedLog", "MemorySink", "capture_events"]

_MISSING = object()


@dataclass(frozen=True)
class CapturedEvent:
    """One event as PostHog would receive it (after the posthog SDK's enrichment and
    JSON encoding): ``name`` is the wire's ``event``; a personless event has the
    SDK's random distinct id and ``$process_person_profile: false``."""

    name: str
    distinct_id: str
    properties: dict[str, Any]
    timestamp: str
    uuid: str

    @property
    def personless(self) -> bool:
        """True for an event sent without a user (the SDK's anonymous form)."""
        return self.properties.get("$process_person_profile") is False

    def assert_properties(self, expected: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Assert that the event has these properties with these values (others may
        exist). Wire names that are not identifiers go in the mapping:
        ``event.assert_properties({"$session_id": "s1"}, source="auth")``.

        Raises:
            AssertionError: naming every property that is missing or differs.
        """
        _assert_items(
            f"event {self.name!r} (distinct id {self.distinct_id!r})",
            "properties",
            self.properties,
            {**(expected or {}), **more},
        )


@dataclass(frozen=True)
class CapturedLog:
    """One log as the logs lane would send it to PostHog Logs: ``body`` (the
    formatted message), ``severity_text`` (the level's name) and ``severity_number``
    (OpenTelemetry's), ``attributes`` as they travel (typed as PostHog's SDK logs
    specification encodes them; the user as ``posthogDistinctId``, the session as
    ``sessionId``), the lane's ``resource`` (``service.name``...), ``timestamp``
    (ISO-8601, UTC), ``logger`` (the logger's name, ``logger.name``) and the
    caller's OpenTelemetry ``trace_id``/``span_id`` (hex, "" without a span)."""

    body: str
    severity_text: str
    severity_number: int
    attributes: dict[str, Any]
    timestamp: str
    logger: str
    resource: dict[str, str] = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""

    @property
    def distinct_id(self) -> str | None:
        """The user the log was recorded for, or None."""
        value = self.attributes.get(DISTINCT_ID_ATTRIBUTE)
        return None if value is None else str(value)

    def assert_attributes(self, expected: Mapping[str, Any] | None = None, /, **more: Any) -> None:
        """Assert that the log has these attributes with these values (others may
        exist); dotted names go in the mapping: ``{"code.function.name": "pay"}``.

        Raises:
            AssertionError: naming every attribute that is missing or differs.
        """
        _assert_items(
            f"log {self.body!r} ({self.severity_text})",
            "attributes",
            self.attributes,
            {**(expected or {}), **more},
        )


def _assert_items(what: str, noun: str, got: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    problems = []
    for key, value in wanted.items():
        found = got.get(key, _MISSING)
        if found is _MISSING:
            problems.append(f"  {key}: missing (expected {value!r})")
        elif found != value:
            problems.append(f"  {key}: expected {value!r}, got {found!r}")
    if problems:
        raise AssertionError(f"{what}:\n" + "\n".join(problems) + f"\nits {noun}: {dict(got)!r}")


class _Queries:
    """Finding captured events by name."""

    @property
    def events(self) -> list[CapturedEvent]:
        raise NotImplementedError

    @property
    def names(self) -> list[str]:
        """The names of the captured events, in order."""
        return [event.name for event in self.events]

    def named(self, name: str) -> list[CapturedEvent]:
        """The captured events called ``name``, in order (``info_fetch_all_users``)."""
        return [event for event in self.events if event.name == name]

    def one(self, name: str) -> CapturedEvent:
        """The one event called ``name``.

        Raises:
            AssertionError: there are none or several, listing what was captured.
        """
        events = self.events
        found = [event for event in events if event.name == name]
        if len(found) != 1:
            raise AssertionError(
                f"expected exactly one event {name!r}, captured {len(found)};"
                f" events captured: {[event.name for event in events]!r}"
            )
        return found[0]


class MemorySink(_Queries):
    """A `Sink` that keeps events in memory, exactly as PostHog would receive them.

    Each message goes through the posthog SDK's own event building (its
    properties, ``$lib``, timestamp and personless forms, exceptions as
    ``$exception`` events) and JSON encoding, with a client that sends nothing.
    Thread-safe. Read after ``flush`` of the `Analytics` object that delivers to
    it (`capture_events` does that for you). When that object's logs lane is on,
    its logs are kept here too (`logs`), through `logs_sink`.
    """

    description = "memory (analyticskit.testing)"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[CapturedEvent] = []
        self._logs: list[CapturedLog] = []
        client = posthog.Posthog(
            "phc_analyticskit_testing",
            host="http://127.0.0.1:9",  # never used: send=False
            send=False,
            before_send=self._keep,
        )
        self._posthog = PostHogSink(client)

    def _keep(self, wire: dict[str, Any]) -> dict[str, Any]:
        event = json.loads(json.dumps(wire, cls=DatetimeSerializer))
        captured = CapturedEvent(
            name=event["event"],
            distinct_id=event["distinct_id"],
            properties=event.get("properties") or {},
            timestamp=event["timestamp"],
            uuid=event["uuid"],
        )
        with self._lock:
            self._events.append(captured)
        return wire

    @property
    def events(self) -> list[CapturedEvent]:
        """A copy of the events kept so far, in order."""
        with self._lock:
            return list(self._events)

    @property
    def logs(self) -> list[CapturedLog]:
        """A copy of the logs kept so far, in order."""
        with self._lock:
            return list(self._logs)

    def clear(self) -> None:
        """Forget the events and logs kept so far."""
        with self._lock:
            self._events.clear()
            self._logs.clear()

    def logs_sink(self, resource: Mapping[str, str]) -> _MemoryLogsSink:
        """The logs lane's sink when an `Analytics` object delivering here turns
        the lane on: its logs are kept in `logs`."""
        return _MemoryLogsSink(self, resource)

    def _keep_log(self, log: CapturedLog) -> None:
        with self._lock:
            self._logs.append(log)

    def attach(self, report: LossReport) -> None:
        self._posthog.attach(report)

    def warm_up(self) -> None:
        self._posthog.warm_up()

    def send(self, message: Message) -> int:
        return self._posthog.send(message)

    def pending(self) -> int:
        return 0

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


class _MemoryLogsSink:
    """The logs lane of a `MemorySink`: each log kept as a `CapturedLog`."""

    description = "memory (analyticskit.testing, logs)"

    def __init__(self, events: MemorySink, resource: Mapping[str, str]) -> None:
        self._events = events
        self._resource = dict(resource)

    def attach(self, report: LossReport) -> None:
        pass

    def warm_up(self) -> None:
        pass

    def send(self, message: Message) -> int:
        if not isinstance(message, LogMessage):
            raise TypeError(f"the logs lane delivers logs, got {type(message).__name__}")
        attributes = log_attributes(message)
        trace_id, span_id = message.trace or (None, None)
        self._events._keep_log(
            CapturedLog(
                body=message.body,
                severity_text=message.severity_text,
                severity_number=message.severity_number,
                attributes=attributes,
                timestamp=message.timestamp.isoformat(),
                logger=str(attributes.get("logger.name", "")),
                resource=dict(self._resource),
                trace_id="" if trace_id is None else f"{trace_id:032x}",
                span_id="" if span_id is None else f"{span_id:016x}",
            )
        )
        return 1

    def pending(self) -> int:
        return 0

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


class CapturedEvents(_Queries):
    """What `capture_events` yields: the events captured so far, each read flushing
    the capturing `Analytics` object first."""

    def __init__(self, sink: MemorySink, analytics: Analytics, timeout: float) -> None:
        self.sink = sink
        self.analytics = analytics
        self._timeout = timeout

    @property
    def events(self) -> list[CapturedEvent]:
        """The events captured so far, in order (queued ones are delivered first)."""
        self.analytics.flush(self._timeout)
        return self.sink.events

    @property
    def logs(self) -> list[CapturedLog]:
        """The logs captured so far, in order (queued ones are delivered first);
        empty while no handler has turned the logs lane on."""
        self.analytics.flush(self._timeout)
        return self.sink.logs

    def clear(self) -> None:
        """Deliver what is queued, then forget every event and log captured so far."""
        self.analytics.flush(self._timeout)
        self.sink.clear()


@contextmanager
def capture_events(
    *,
    max_queued: int = DEFAULT_MAX_QUEUED,
    timeout: float = DEFAULT_FLUSH_TIMEOUT,
    rate_limit: bool | Mapping[str, Any] | None = None,
    dedupe_window: float | None = None,
) -> Iterator[CapturedEvents]:
    """Route everything captured inside the block to memory, and restore the previous
    default `Analytics` instance after it.

    Inside, the default instance (module-level `capture_event`, and every
    `PostHogHandler` built without a connection of its own, ``install()``'s
    included) delivers to a `MemorySink` through the real mapping code; nothing
    is sent to PostHog, whatever ``POSTHOG_API_KEY`` says. `Analytics` objects
    and handlers given their own ``api_key``, ``client``, ``analytics`` or
    ``sink`` keep delivering there. Blocks nest. An instance `configure`
    installed inside the block is shut down at its end.

    Each block starts the logging front-ends' volume control afresh (rate-cap
    buckets, de-duplication windows): a record held back in one test is never
    held against, or summed up in, the next.

    Args:
        max_queued: the capturing instance's buffer limit.
        timeout: seconds each read (and the end of the block) waits for delivery.
        rate_limit, dedupe_window: the volume options of every front-end inside
            the block, as `PostHogHandler` takes them (``rate_limit=False,
            dedupe_window=0`` turns the caps off); None: each front-end's own.

    Raises:
        TypeError, ValueError: a bad ``rate_limit`` or ``dedupe_window``.
    """
    volume: dict[str, Any] = {}
    if rate_limit is not None:
        volume["rate_limit"] = parse_record_caps("rate_limit", rate_limit)
    if dedupe_window is not None:
        if dedupe_window != 0:
            check(positive_problem("dedupe_window", dedupe_window, float))
        volume["dedupe_window"] = float(dedupe_window)
    sink = MemorySink()
    analytics = Analytics(sink=sink, max_queued=max_queued)
    if volume:
        override_volume(analytics.delivery, **volume)
    previous = swap_default(analytics)
    try:
        yield CapturedEvents(sink, analytics, timeout)
    finally:
        current = swap_default(previous)
        analytics.shutdown(timeout)
        if current is not None and current is not analytics:
            current.shutdown()
