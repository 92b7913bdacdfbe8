"""Where logs leave the process: OTLP/HTTP to PostHog Logs, or the local sink.

`OtlpLogsSink` exports through OpenTelemetry's own OTLP/HTTP exporter (protobuf,
gzip, ``Authorization: Bearer <key>``) on a thread of its own, in batches, the
way the posthog SDK's consumer does for events: the delivery worker only
converts and appends, ``pending`` bounds memory with the lane's ``max_queued``,
``flush`` waits at most its timeout (OpenTelemetry's batch processor ignores
its flush timeout), and every batch that finally fails is reported to the
lane's counters. After a fork the child starts empty, with a new exporter.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from posthog.request import determine_server_host

from . import _diagnostics
from ._message import Message
from ._record_to_log import LogMessage, log_attributes
from .sinks import LocalSink, LossReport, _ignore_losses

LOGS_EXTRA_HINT = "pip install 'analyticskit-posthog[logs]'"
LOGS_PATH = "/i/v1/logs"
ENV_SERVICE_NAME = "OTEL_SERVICE_NAME"

_BATCH = 512  # logs per export request
_INTERVAL = 1.0  # seconds between exports of a partial batch
_EXPORT_TIMEOUT = 10.0  # seconds per export request, the exporter's retries included
_STOP_GRACE = 0.5  # seconds granted to the export thread after the deadline


def require_opentelemetry() -> None:
    """Raise ImportError naming the extra when OpenTelemetry's SDK or exporter is missing."""
    try:
        import opentelemetry.exporter.otlp.proto.http._log_exporter
        import opentelemetry.sdk._logs  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"the PostHog Logs lane (logs_level) needs OpenTelemetry's SDK and OTLP/HTTP"
            f" exporter: {LOGS_EXTRA_HINT} ({error})"
        ) from error


def logs_endpoint(host: str) -> str:
    """PostHog's OTLP logs endpoint for a host: app hosts map to their ingestion
    host as the posthog SDK maps them; other (self-hosted) hosts keep theirs."""
    return determine_server_host(host).rstrip("/") + LOGS_PATH


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
    """Delivery of `LogMessage`s to PostHog Logs through OpenTelemetry's exporter."""

    def __init__(
        self,
        *,
        api_key: str,
        host: str,
        resource: Mapping[str, str],
        batch_size: int = _BATCH,
        interval: float = _INTERVAL,
        export_timeout: float = _EXPORT_TIMEOUT,
    ) -> None:
        require_opentelemetry()
        self.endpoint = logs_endpoint(host)
        self.description = f"PostHog Logs at {self.endpoint}"
        self._api_key = api_key
        self._resource = dict(resource)
        self._batch_size = batch_size
        self._interval = interval
        self._export_timeout = export_timeout
        self._report: LossReport = _ignore_losses
        self._exporter: Any = None
        self._otel_resource: Any = None
        self._reset()
        if hasattr(os, "register_at_fork"):
            method = weakref.WeakMethod(self._reset)

            def in_child() -> None:
                reset = method()
                if reset is not None:
                    reset()

            os.register_at_fork(after_in_child=in_child)

    def __repr__(self) -> str:
        return f"<OtlpLogsSink to {self.endpoint}>"  # never the key

    def _reset(self) -> None:
        # Also the child's fresh start after a fork: the parent's logs and its
        # exporter (a connection pool another thread may have held) stay its own.
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[LogMessage] = []
        self._in_flight = 0
        self._flushing = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._exporter = None
        self._status: int | None = None

    def attach(self, report: LossReport) -> None:
        self._report = report

    def warm_up(self) -> None:
        if self._exporter is None:
            self._exporter = self._build_exporter()

    def _build_exporter(self) -> Any:
        import requests
        from opentelemetry.sdk.resources import Resource

        if self._otel_resource is None:
            # Built once, early: its detectors run on a thread pool, which refuses
            # work during interpreter exit.
            self._otel_resource = Resource.create(self._resource)
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        session = requests.Session()
        session.hooks["response"].append(self._on_response)
        return OTLPLogExporter(
            endpoint=self.endpoint,
            headers={"Authorization": f"Bearer {self._api_key}"},
            timeout=self._export_timeout,
            compression=Compression.Gzip,
            session=session,
        )

    def _on_response(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self._status = int(response.status_code)

    def send(self, message: Message) -> int:
        if not isinstance(message, LogMessage):
            raise TypeError(f"the logs lane delivers logs, got {type(message).__name__}")
        with self._cond:
            if self._closed:
                return 0
            self._queue.append(message)
            if len(self._queue) >= self._batch_size:
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
                        or len(self._queue) >= self._batch_size
                    ),
                    timeout=self._interval,
                )
            if self._closed:
                return []
            batch = self._queue[: self._batch_size]
            del self._queue[: self._batch_size]
            if not self._queue:
                self._flushing = False
            self._in_flight = len(batch)
            return batch

    def _run(self) -> None:
        from . import _guard

        _guard.mark_library_thread()
        while not self._closed:
            batch = self._take(wait=True)
            if batch:
                self._export(batch)

    def _export(self, batch: list[LogMessage]) -> None:
        try:
            if self._exporter is None:
                self._exporter = self._build_exporter()
            self._status = None
            ok = self._exporter.export([self._record(m) for m in batch]).name == "SUCCESS"
        except Exception as error:
            ok = False
            _diagnostics.report_once(
                "logs-export-error", f"exporting logs failed: {type(error).__name__}"
            )
        finally:
            with self._cond:
                self._in_flight = 0
                self._cond.notify_all()
        if not ok:
            self._failed(len(batch), self._status)

    def _failed(self, count: int, status: int | None) -> None:
        rejected = status is not None and 400 <= status < 500 and status not in (408, 429)
        self._report("rejected" if rejected else "failed", count)
        if status in (401, 403):
            _diagnostics.report_once(
                f"logs-{status}",
                f"{self.description} answered {status} to a batch of {count} logs: the"
                " project API key is wrong, or belongs to another region or host."
                " Logs it rejects are dropped and counted.",
            )
        else:
            _diagnostics.report_once(
                "logs-failed",
                f"could not deliver a batch of {count} logs to {self.description}"
                f" (status {status}); they are counted as"
                f" {'rejected' if rejected else 'failed'}.",
            )

    def _record(self, message: LogMessage) -> Any:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        nanos = int(message.timestamp.timestamp() * 1e9)
        record = LogRecord(
            timestamp=nanos,
            observed_timestamp=nanos,
            severity_text=message.severity_text,
            severity_number=SeverityNumber(message.severity_number),
            body=message.body,
            attributes=log_attributes(message),
        )
        return ReadableLogRecord(
            record,
            resource=self._otel_resource,
            instrumentation_scope=InstrumentationScope(message.scope),
        )

    def flush(self, timeout: float) -> None:
        """Export what is queued now, waiting at most ``timeout`` seconds; with 0, only
        ask the export thread to start at once (it keeps going after this returns)."""
        if self._thread is None:
            # No export thread (none could start at exit): export on this thread.
            batch = self._take(wait=False)
            if batch:
                self._export(batch)
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
            self._cond.notify_all()
        thread, exporter = self._thread, self._exporter
        if exporter is not None:
            with contextlib.suppress(Exception):
                exporter.shutdown()  # aborts the exporter's retries
        if thread is not None and thread is not threading.current_thread():
            thread.join(min(max(0.0, timeout), _STOP_GRACE))


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
        }
