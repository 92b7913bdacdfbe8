"""The handlers part 1 compares PostHogHandler with, and OpenTelemetry's pieces."""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .common import properties


class NaiveHandler(logging.Handler):
    """What one writes without analyticskit: ``client.capture()`` inside ``emit()``."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.client.capture(
                "info_user_did",
                distinct_id=str(getattr(record, "uid", "")) or None,
                properties=properties(record.getMessage(), record),
                timestamp=datetime.fromtimestamp(record.created, tz=timezone.utc),
            )
        except Exception:
            self.handleError(record)


class MinimalDeferral(logging.Handler):
    """The least a handler that defers its work can do on the caller's thread: copy
    the record's attributes, format its message, and append both to a deque (no
    lock, no checks, no worker; emptied between rounds, untimed)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued: deque[tuple[dict[str, Any], str]] = deque()

    def handle(self, record: logging.LogRecord) -> bool:
        self.queued.append((record.__dict__.copy(), record.getMessage()))
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.handle(record)


def otel_recipe(url: str, key: str) -> tuple[logging.Handler, Callable[[], None], Any]:
    """PostHog's OpenTelemetry recipe: ``LoggingHandler`` -> batch processor -> OTLP/HTTP.
    Returns the handler, its flush and its provider (to shut down)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": "bench"}))
    exporter = OTLPLogExporter(
        endpoint=f"{url}/i/v1/logs", headers={"Authorization": f"Bearer {key}"}
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)

    def flush() -> None:
        provider.force_flush()

    return handler, flush, provider


def span_current() -> tuple[Callable[[], None], Callable[[], None]]:
    """Enter and leave an OpenTelemetry span on this thread (a recording SDK span, as
    a traced request has), around a round."""
    from opentelemetry import context, trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("bench")
    held: list[Any] = []

    def enter() -> None:
        span = tracer.start_span("request")
        held.append((span, context.attach(trace.set_span_in_context(span))))

    def leave() -> None:
        """End the span (the round's)."""
        while held:
            span, token = held.pop()
            context.detach(token)
            span.end()

    return enter, leave


def drain(q: queue.SimpleQueue[Any]) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
