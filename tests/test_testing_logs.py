"""`analyticskit.testing` captures logs as well as events: with the logs lane on,
``captured.logs`` holds each log as the lane sends it to PostHog Logs (the same
body, severity and attributes the capture server receives over OTLP)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import analyticskit
from analyticskit import PostHogHandler
from analyticskit.testing import CapturedLog, MemorySink, capture_events
from capture_server import CaptureServer
from helpers import MakeHandler, release, unique_name


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger(unique_name())
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()


def _log_both(log: logging.Logger) -> None:
    with analyticskit.user("u_42"):
        log.info("paid %s", "EUR", extra={"order": 7})
    try:
        raise ValueError("card declined")
    except ValueError:
        log.error("payment failed", exc_info=True)


def test_capture_events_keeps_logs_beside_events(logger: logging.Logger) -> None:
    with capture_events() as captured:
        assert captured.logs == []  # the lane is off until a handler turns it on
        logger.addHandler(
            PostHogHandler(logs_level="INFO", event_level="ERROR", service_name="shop")
        )
        _log_both(logger)
        assert captured.names == ["error_payment_failed"]  # the error is an event too
        paid, failed = captured.logs
    assert (paid.body, paid.severity_text, paid.severity_number) == ("paid EUR", "INFO", 9)
    assert paid.distinct_id == "u_42" and paid.logger == logger.name
    paid.assert_attributes({"logger.name": logger.name}, order=7)  # an int, as sent
    assert paid.resource["service.name"] == "shop"
    assert paid.timestamp.endswith("+00:00")
    assert failed.distinct_id is None and failed.severity_text == "ERROR"
    assert failed.attributes["exception.type"] == "ValueError"
    with pytest.raises(AssertionError) as failure:
        paid.assert_attributes(order=8, colour="red")
    message = str(failure.value)
    assert "log 'paid EUR' (INFO)" in message
    assert "order: expected 8, got 7" in message and "colour: missing" in message


def test_memory_logs_match_what_posthog_logs_receives(
    logger: logging.Logger, make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    sink = MemorySink()
    kept_handler = PostHogHandler(sink=sink, logs_level="INFO", event_level="ERROR")
    logger.addHandler(kept_handler)
    wire_handler, wire_logger = make_handler(logs_level="INFO", event_level="ERROR")
    for log in (logger, wire_logger):
        with analyticskit.user("u_7"):
            log.warning("stock low: %d left", 2)
    kept_handler.flush(timeout=5)
    assert wire_handler.analytics.flush(5)
    [kept] = sink.logs
    [sent] = capture_server.wait_for_logs(1)
    assert isinstance(kept, CapturedLog)
    assert (kept.body, kept.severity_text, kept.severity_number) == (
        sent["body"],
        sent["severity_text"],
        sent["severity_number"],
    )
    assert kept.attributes.pop("logger.name") == logger.name  # the one difference
    assert sent["attributes"].pop("logger.name") == wire_logger.name
    assert kept.attributes == sent["attributes"]
    sink.clear()
    assert sink.logs == [] and sink.events == []
    release(kept_handler, logger)
