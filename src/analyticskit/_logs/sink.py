"""Where logs leave the process: OTLP/HTTP to PostHog Logs (or a Collector), or the
local sink.

`OtlpLogsSink` sends batches of OTLP protobuf (`_logs.otlp_encode`), gzipped, with
``Authorization: Bearer <key>``, on a thread of its own, the
way the posthog SDK's consumer does for events: the delivery worker only
converts and appends, ``pending`` bounds memory with the lane's ``max_queued``,
``flush`` waits at most its timeout, and every record the sink finally does not
deliver is reported to the lane's counters by reason. Its requests and their
answers follow PostHog's SDK logs specification (`_logs.otlp_http`), which
OpenTelemetry's exporter does not: it drops a batch answered 413 and gives up
on a ``Retry-After`` longer than its timeout. After a fork the child starts
empty, with a new connection pool.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posthog.request import determine_server_host

from .. import _diagnostics
from .._engine.counters import SinkLoss
from .._mapping.message import Message
from .._mapping.record_to_log import LogMessage, log_attributes
from ..sinks import LocalSink, LossReport, _ignore_losses
from .otlp_encode import envelope, log_record, request
from .otlp_http import MAX_BODY_BYTES, Verdict, compress, fits, post

LOGS_EXTRA_HINT = "pip install 'analyticskit-posthog[logs]'"
LOGS_PATH = "/i/v1/logs"
ENV_SERVICE_NAME = "OTEL_SERVICE_NAME"
#: The instrumentation scope of every log: the SDK, as the specification says (the
#: logger's name is the ``logger.name`` attribute).
_SCOPE_NAME = "analyticskit"

_BATCH = 512  # logs per export request, fewer when they would exceed the body cap
_INTERVAL = 1.0  # seconds between exports of a partial batch
_EXPORT_TIMEOUT = 10.0  # seconds per export request
_STOP_GRACE = 0.5  # seconds granted to the export thread after the deadline
# A batch answered 408, 429 or 5xx (or not at all) is tried this many times, waiting
# Retry-After or else the backoff between tries (1, 2, 4, ... s, capped at 30 s as
# the specification says), then counted as failed.
_MAX_ATTEMPTS = 6
_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 30.0


def require_opentelemetry() -> None:
    """Raise ImportError naming the extra when OpenTelemetry's SDK or exporter is missing."""
    try:
        import opentelemetry.sdk.resources  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"the PostHog Logs lane (logs_level) needs OpenTelemetry's SDK and OTLP/HTTP"
            f" exporter: {LOGS_EXTRA_HINT} ({error})"
        ) from error


def logs_endpoint(host: str, endpoint: str | None = None) -> str:
    """Where the lane sends: ``endpoint`` when it is a URL (a Collector, any OTLP/HTTP
    receiver); else PostHog's ingestion host for ``host`` (app hosts map to it as the
    posthog SDK maps them; self-hosted hosts keep theirs) with ``endpoint`` as the
    path, default ``/i/v1/logs``."""
    if endpoint is not None and not endpoint.startswith("/"):
        return endpoint
    return determine_server_host(host).rstrip("/") + (endpoint or LOGS_PATH)


def resource_attributes(
    service_name: str | None, service_version: str | None, environment: str | None
) -> dict[str, str]:
    """``service.name`` (given, else ``OTEL_SERVICE_NAME``, else the program's name)
    and, when given, ``service.version`` and ``deployment.environment``."""
    name = service_name or os.environ.get(ENV_SERVICE_NAME, "").strip()
    if not name:
        name = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else ""
        name = name or "python"
    attributes = {"service.name": name}
    if service_version:
        attributes["service.version"] = service_version
    if environment:
        attributes["deployment.environment"] = environment
    return attributes


class OtlpLogsSink:
    """Delivery of `LogMessage`s to PostHog Logs (or any OTLP/HTTP endpoint) in
    batches, on a thread of its own, with the specification's error handling."""

    def __init__(
        self,
        *,
        api_key: str | None,
        host: str,
        resource: Mapping[str, str],
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        batch_size: int = _BATCH,
        interval: float = _INTERVAL,
        export_timeout: float = _EXPORT_TIMEOUT,
    ) -> None:
        require_opentelemetry()
        self.endpoint = logs_endpoint(host, endpoint)
        posthog = endpoint is None or endpoint.startswith("/")
        self.description = (
            f"PostHog Logs at {self.endpoint}" if posthog else f"the OTLP endpoint {self.endpoint}"
        )
        self._headers = {name.lower(): value for name, value in (headers or {}).items()}
        if api_key and "authorization" not in self._headers:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._resource = dict(resource)
        self._batch_size = batch_size
        self._take_size = batch_size  # halved by a 413, grown back by one per success
        self._give_up_at: float | None = None
        self._interval = interval
        self._export_timeout = export_timeout
        self._report: LossReport = _ignore_losses
        self._session: Any = None
        self._envelope: tuple[bytes, bytes] | None = None
        self._reset()
        _LIVE_SINKS.add(self)

    def __repr__(self) -> str:
        return f"<OtlpLogsSink to {self.endpoint}>"  # never the key

    def _reset(self) -> None:
        # Also the child's fresh start after a fork: the parent's logs and its
        # connection pool (another thread may have held it) stay its own.
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[LogMessage] = []
        self._in_flight = 0
        self._flushing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._session = None

    def attach(self, report: LossReport) -> None:
        self._report = report

    def warm_up(self) -> None:
        if self._envelope is None:
            from opentelemetry.sdk.resources import Resource

            # Built once, early: OpenTelemetry's detectors (OTEL_RESOURCE_ATTRIBUTES
            # and the rest) run on a thread pool, which refuses work at exit.
            from .. import __version__

            # The SDK's identity is ours, as the specification says, not OpenTelemetry's.
            resource = {
                **Resource.create(self._resource).attributes,
                "telemetry.sdk.name": _SCOPE_NAME,
                "telemetry.sdk.version": __version__,
            }
            self._envelope = envelope(resource, (_SCOPE_NAME, __version__))
        if self._session is None:
            import requests

            self._session = requests.Session()

    def send(self, message: Message) -> int:
        if not isinstance(message, LogMessage):
            raise TypeError(f"the logs lane delivers logs, got {type(message).__name__}")
        with self._cond:
            if self._closed:
                return 0
            self._queue.append(message)
            if len(self._queue) >= self._take_size:
                self._cond.notify_all()
            start = self._thread is None
            if start:
                self._thread = threading.Thread(
                    target=self._run, name="analyticskit-logs-export", daemon=True
                )
        if start and self._thread is not None:
            try:
                self._thread.start()
            except RuntimeError:
                self._thread = None  # no new thread at exit; flush exports on its caller
        return 1

    def pending(self) -> int:
        return len(self._queue) + self._in_flight

    def _take(self, wait: bool) -> list[LogMessage]:
        with self._cond:
            if wait:
                self._cond.wait_for(
                    lambda: (
                        self._closed
                        or (self._flushing and bool(self._queue))
                        or len(self._queue) >= self._take_size
                    ),
                    timeout=self._interval,
                )
            if self._closed:
                return []
            size = self._take_size
            batch = self._queue[:size]
            del self._queue[:size]
            if not self._queue:
                self._flushing = False
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        from .. import _guard

        _guard.mark_library_thread()
        while not self._closed:
            batch = self._take(wait=True)
            if batch:
                self._export(batch)

    def _export(self, batch: list[LogMessage]) -> None:
        try:
            self.warm_up()
            self._send_fitting([_encoded(message) for message in batch])
        except Exception as error:
            _diagnostics.report_once(
                "logs-export-error", f"exporting logs failed: {type(error).__name__}"
            )
            with self._cond:
                left = self._in_flight
            if left and not self._closed:
                self._lost("failed", left, None)
        # Records not settled here are still pending (a flush on its own thread ran
        # out of time): the shutdown's freeze counts them as timeout, never as sent.

    def _settle(self, count: int) -> None:
        """``count`` records of the batch in flight are sent or counted."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - count)
            self._cond.notify_all()

    def _lost(self, kind: SinkLoss, count: int, status: int | None) -> None:
        self._report(kind, count)
        self._settle(count)
        if status in (401, 403):
            _diagnostics.report_once(
                f"logs-{status}",
                f"{self.description} answered {status} to a batch of {count} logs: the"
                " project API key is wrong, or belongs to another region or host."
                " Logs it rejects are dropped and counted.",
            )
        elif kind == "too_large":
            _diagnostics.report_once(
                "logs-too-large",
                f"a log still over {MAX_BODY_BYTES} bytes (or refused with 413 by"
                f" {self.description}) on its own was dropped; counted as too_large.",
            )
        else:
            _diagnostics.report_once(
                f"logs-{kind}-{status}",
                f"could not deliver a batch of {count} logs to {self.description}"
                f" (status {status}); they are counted as {kind}.",
            )

    def _send_fitting(self, records: list[bytes]) -> None:
        """Send encoded ``records`` in requests under the body cap before and after
        gzip, halving as needed; a record too large alone is dropped, counted."""
        assert self._envelope is not None  # warm_up ran
        raw = request(self._envelope, records)
        body = compress(raw) if len(raw) < MAX_BODY_BYTES else b""
        if body and fits(raw, body):
            self._deliver(records, body)
        elif len(records) == 1:
            self._lost("too_large", 1, None)
        else:
            half = len(records) // 2
            self._send_fitting(records[:half])
            self._send_fitting(records[half:])

    def _deliver(self, records: list[bytes], body: bytes) -> None:
        """One batch until it is sent, dropped by the rules, or the sink closes."""
        attempt = 0
        while not self._closed:
            timeout = self._attempt_timeout()
            if timeout is None:
                return  # still pending: counted at the shutdown's deadline
            answer = post(self._session, self.endpoint, self._headers, body, timeout)
            if self._settled(answer.verdict, records, answer.status):
                return
            attempt += 1
            if attempt >= _MAX_ATTEMPTS:
                self._lost("failed", len(records), answer.status)
                return
            # Held here, still pending: if the wait outlasts a shutdown's deadline,
            # the records are counted there (timeout) and the wait ends at close.
            if not self._wait(answer.retry_after or _backoff(attempt)):
                return

    def _attempt_timeout(self) -> float | None:
        """One request's timeout; None past the deadline of a flush exporting on its
        own thread."""
        timeout = self._export_timeout
        if self._give_up_at is not None:
            timeout = min(timeout, self._give_up_at - time.monotonic())
            if timeout <= 0:
                return None
        return timeout

    def _settled(self, verdict: Verdict, records: list[bytes], status: int | None) -> bool:
        """Act on an answer that ends this batch's attempts (sent, too large, rejected);
        False for one to retry."""
        if verdict is Verdict.SENT:
            self._take_size = min(self._batch_size, self._take_size + 1)
            self._settle(len(records))
        elif verdict is Verdict.TOO_LARGE:
            self._split(records)
        elif verdict is Verdict.REJECTED:
            self._lost("rejected", len(records), status)
        else:
            return False
        return True

    def _split(self, records: list[bytes]) -> None:
        """A batch refused with 413: each half on its own, a single record dropped."""
        if len(records) == 1:
            self._lost("too_large", 1, 413)
            return
        half = len(records) // 2
        self._take_size = max(1, min(self._take_size, half))
        self._send_fitting(records[:half])
        self._send_fitting(records[half:])

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` before a retry; False (without waiting) if that would pass
        the deadline of a flush exporting on its own thread."""
        if self._give_up_at is not None and time.monotonic() + seconds > self._give_up_at:
            return False
        with self._cond:
            self._cond.wait_for(lambda: self._closed, timeout=seconds)
        return True

    def flush(self, timeout: float) -> None:
        """Export what is queued now, waiting at most ``timeout`` seconds; with 0, only
        ask the export thread to start at once (it keeps going after this returns)."""
        if self._thread is None:
            # No export thread (none could start at exit): export on this thread,
            # within the timeout.
            batch = self._take(wait=False)
            if batch:
                self._give_up_at = time.monotonic() + max(0.0, timeout)
                try:
                    self._export(batch)
                finally:
                    self._give_up_at = None
            return
        with self._cond:
            self._flushing = True
            self._cond.notify_all()
            self._cond.wait_for(
                lambda: not self._queue and self._in_flight == 0, timeout=max(0.0, timeout)
            )

    def close(self, timeout: float) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()  # ends a backoff wait at once
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(min(max(0.0, timeout), _STOP_GRACE))
        session = self._session
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()


#: The sinks alive, reset in a forked child by one hook registered once: a hook per
#: sink would stay registered for the life of the process (``os`` cannot remove one).
_LIVE_SINKS: weakref.WeakSet[OtlpLogsSink] = weakref.WeakSet()


def _reset_in_child() -> None:
    for sink in list(_LIVE_SINKS):
        sink._reset()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reset_in_child)


def _encoded(message: LogMessage) -> bytes:
    return log_record(
        time_unix_nano=int(message.timestamp.timestamp() * 1e9),
        severity_number=message.severity_number,
        severity_text=message.severity_text,
        body=message.body,
        attributes=log_attributes(message),
        trace=message.trace,
    )


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter, capped, for a retry without ``Retry-After``."""
    delay: float = min(_MAX_BACKOFF, _FIRST_BACKOFF * 2.0 ** (attempt - 1))
    return delay * random.uniform(0.8, 1.2)


class LocalLogsSink(LocalSink):
    """The logs lane with no PostHog key: one JSON object a line on stderr, marked
    ``"lane": "logs"``."""

    description = "the local sink (stderr, logs)"

    def __init__(self, resource: Mapping[str, str]) -> None:
        super().__init__()
        self._resource = dict(resource)

    def _payload(self, message: Message) -> dict[str, Any]:
        if not isinstance(message, LogMessage):
            raise TypeError(f"the logs lane delivers logs, got {type(message).__name__}")
        return {
            "lane": "logs",
            "timestamp": message.timestamp,
            "severity": message.severity_text,
            "body": message.body,
            "attributes": log_attributes(message),
            "resource": self._resource,
            **(
                {"trace_id": f"{message.trace[0]:032x}", "span_id": f"{message.trace[1]:016x}"}
                if message.trace
                else {}
            ),
        }
