"""PostHogHandler guards: no recursion, no events from the SDK's own loggers, never a raise.

The root-logger tests restore the root logger (level and handlers) and the
levels of the SDK's loggers afterwards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import posthog
import pytest

import analyticskit
from analyticskit import PostHogHandler, _diagnostics
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import OWN_LOGGERS, MakeHandler, by_marker, deliver, unique_name

# -- recursion ------------------------------------------------------------------------------


def test_root_at_debug_with_sdk_debug_logs_does_not_loop(
    root_logger: logging.Logger,
    capture_server: CaptureServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    handler = analyticskit.install(level=logging.DEBUG, api_key=API_KEY, host=capture_server.url)
    assert root_logger.level == logging.DEBUG

    app = logging.getLogger(f"{unique_name()}.app")
    for i in range(5):
        app.debug("step %d", i)
    app.info("done")
    handler.flush(timeout=5)
    handler.flush(timeout=5)  # anything a loop would have produced is delivered too

    events = list(capture_server.events)
    with capsys.disabled():
        print(f"\n[count] DEBUG-root test: {len(events)} events at the capture server")
    loggers = [e["properties"]["logger"] for e in events]
    assert not [name for name in loggers if name.split(".")[0] in OWN_LOGGERS]
    assert sorted(e["event"] for e in events) == ["info_done"] + ["info_step"] * 5
    assert set(loggers) == {app.name}
    stats = handler.stats()
    assert stats.dropped["recursion"] > 0  # the SDK and urllib3 did log, and were dropped
    assert stats.queued == 6


def test_records_from_the_sdk_and_own_loggers_are_counted_not_sent(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    before = handler.stats().dropped["recursion"]
    names = [
        "posthog",
        "posthog.client",
        "urllib3.connectionpool",
        "requests",
        "analyticskit",
        "analyticskit.handler",
        "charset_normalizer",
    ]
    for name in names:
        handler.handle(logging.makeLogRecord({"name": name, "msg": "internal", "levelno": 40}))
    # Only dotted children are the SDK's: look-alike names are applications' loggers.
    for name in ("posthogx", "requests_app", "analyticskit_app"):
        handler.handle(
            logging.makeLogRecord(
                {"name": name, "msg": "application", "levelno": 40, "levelname": "ERROR"}
            )
        )

    events = deliver(handler, capture_server, 3)
    assert sorted(e["properties"]["logger"] for e in events) == [
        "analyticskit_app",
        "posthogx",
        "requests_app",
    ]
    assert handler.stats().dropped["recursion"] - before == len(names)
    assert log.name not in [e["properties"]["logger"] for e in events]


def test_a_record_logged_during_an_emit_is_dropped(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    name = unique_name()
    handler, log = make_handler(name)

    class LoggingFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            if record.name == name:
                logging.getLogger(f"{name}.inner").warning("logged while formatting")
            return super().format(record)

    handler.setFormatter(LoggingFormatter())
    log.info("outer")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_outer"
    assert handler.stats().dropped["recursion"] == 1


def test_a_record_logged_on_the_delivery_worker_is_dropped(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    name = unique_name()
    handler, log = make_handler(name)

    class Chatty:
        """Logs when it is turned into a property (on the library's worker thread)."""

        def __str__(self) -> str:
            logging.getLogger(f"{name}.chatty").error("logged while encoding")
            return "chatty"

    log.info("carries a chatty value", extra={"value": Chatty()})

    [event] = deliver(handler, capture_server, 1)
    assert event["properties"]["value"] == "chatty"
    assert handler.stats().dropped["recursion"] == 1


def test_a_record_logged_from_sdk_callbacks_is_dropped(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    # An application's before_send and on_error hooks log through its own logger,
    # which the handler listens to: they run on the library's and the SDK's threads.
    name = unique_name()
    hooks = logging.getLogger(f"{name}.hooks")

    def before_send(event: dict[str, Any]) -> dict[str, Any]:
        hooks.info("before_send saw %s", event["event"])
        return event

    def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
        hooks.error("upload failed: %s", error)

    client = posthog.Posthog(
        API_KEY,
        host=capture_server.url,
        before_send=before_send,
        on_error=on_error,
        max_retries=0,
    )
    try:
        handler, log = make_handler(name, client=client)
        capture_server.respond_with(503, times=1)
        log.info("first")
        handler.flush(timeout=5)  # rejected: on_error runs on the SDK's consumer thread
        log.info("second")

        [event] = deliver(handler, capture_server, 1)
        assert event["event"] == "info_second"
        assert capture_server.status_counts.get(503) == 1
        # before_send twice (first, second) and on_error once: none became an event.
        assert handler.stats().dropped["recursion"] == 3
    finally:
        client.shutdown()


# -- never raise into the caller --------------------------------------------------------------


def test_bad_extras_fall_back_to_defaults(
    make_handler: MakeHandler, capture_server: CaptureServer, capfd: pytest.CaptureFixture[str]
) -> None:
    for kind in ("source", "event_type", "relevancy", "id", "long_description", "uid"):
        _diagnostics._reported.discard(f"extra-{kind}")
    handler, log = make_handler(default_source="db")
    log.error(
        "could not fetch user %s",
        "u_1",
        extra={
            "source": "nope",
            "event_type": "fatal",
            "relevancy": "urgent",
            "id": 5,
            "long_description": ["not", "text"],
            "uid": 3.5,
        },
    )
    log.warning("empty values", extra={"id": "  ", "event_id": "", "uid": "", "source": ""})

    events = {e["event"]: e for e in deliver(handler, capture_server, 2)}
    fetch = events["error_could_not_fetch_user"]["properties"]
    assert fetch["eventType"] == "error"
    assert fetch["relevancy"] == "high"
    assert fetch["source"] == "db"
    assert fetch["id"] == "could_not_fetch_user"
    assert fetch["longDescription"] == "could not fetch user u_1"
    assert fetch["$process_person_profile"] is False
    empty = events["info_empty_values"]["properties"]
    assert empty["source"] == "db"
    assert empty["$process_person_profile"] is False
    err = capfd.readouterr().err
    for field in ("source", "event_type", "relevancy", "id", "long_description", "uid"):
        assert f"extra {field}=" in err, field


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


@pytest.mark.parametrize("raise_exceptions", [False, True])
def test_an_unformattable_record_is_sent_with_its_raw_template(
    raise_exceptions: bool,
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Neither raised into the caller nor lost uncounted: delivered with the raw template.
    monkeypatch.setattr(logging, "raiseExceptions", raise_exceptions)
    _diagnostics._reported.discard("unformattable")
    handler, log = make_handler()

    log.info("value %s", Unprintable(), extra={"marker": "str-raises"})
    log.info(Unprintable(), extra={"marker": "message-raises"})
    log.info("%s and %s", "only one argument", extra={"marker": "too-few-args"})
    log.info("%d items", "x", extra={"marker": "wrong-type"})
    log.info("still working", extra={"marker": "fine"})

    events = by_marker(deliver(handler, capture_server, 5))
    assert events["fine"]["event"] == "info_still_working"
    too_few = events["too-few-args"]["properties"]
    assert too_few["longDescription"] == "%s and %s (args: ('only one argument',))"
    assert events["wrong-type"]["properties"]["longDescription"] == "%d items (args: ('x',))"
    assert events["wrong-type"]["event"] == "info_items"
    assert "failing __repr__" in events["str-raises"]["properties"]["longDescription"]
    assert events["message-raises"]["properties"]["longDescription"] == (
        "<unprintable Unprintable message>"
    )
    assert events["message-raises"]["event"] == "info_unprintable"
    stats = handler.stats()
    assert stats.emitted == stats.sent == 5
    err = capsys.readouterr().err
    assert err.count("could not be formatted") == 1
    assert "--- Logging error ---" not in err


@pytest.mark.parametrize("raise_exceptions", [False, True])
def test_a_failing_formatter_never_raises_into_the_caller(
    raise_exceptions: bool,
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging, "raiseExceptions", raise_exceptions)
    handler, log = make_handler()

    class Broken(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            raise KeyError("broken formatter")

    handler.setFormatter(Broken())
    log.error("formatted by a broken formatter")
    handler.setFormatter(None)
    log.error("formatted by default")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "error_formatted_by_default"


def test_a_record_whose_logger_name_is_not_a_str_is_counted_not_raised(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A record built by hand (a bridge from another logging system) with no name:
    # its route cannot be found. It is counted, the caller gets no exception, and the
    # next record goes out.
    monkeypatch.setattr(logging, "raiseExceptions", False)
    handler, log = make_handler()
    nameless = logging.LogRecord(None, logging.ERROR, __file__, 1, "nameless", None, None)  # type: ignore[arg-type]
    handler.handle(nameless)
    log.error("named")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "error_named"
    assert handler.stats().dropped["invalid"] == 1


def test_an_unprintable_extra_value_still_arrives_not_null(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("odd extra", extra={"thing": Unprintable(), "nested": {"inner": Unprintable()}})

    [event] = deliver(handler, capture_server, 1)
    assert isinstance(event["properties"]["thing"], str)
    assert isinstance(event["properties"]["nested"]["inner"], str)


def test_after_close_records_are_counted_not_raised(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    handler.analytics.shutdown(timeout=2)
    handler.close()
    log.error("after shutdown")
    assert handler.stats().dropped["after_shutdown"] == 1
    assert capture_server.wait_for(1, timeout=0.3) == []


# -- interpreter exit -------------------------------------------------------------------------


def refuse_threads(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make starting the named threads fail as at interpreter exit on Python 3.12."""
    start = threading.Thread.start

    def refusing_start(thread: threading.Thread) -> None:
        if thread.name in names:
            raise RuntimeError("can't create new thread at interpreter shutdown")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refusing_start)


def test_close_without_new_threads_shuts_down_inline(
    make_handler: MakeHandler, capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # logging.shutdown() closes handlers at exit; on Python 3.12 no thread can be
    # started then, and an exception out of close() would skip the other handlers.
    handler, log = make_handler()
    log.warning("last words")
    refuse_threads(monkeypatch, "analyticskit-close")
    handler.close()
    assert [e["event"] for e in capture_server.wait_for(1)] == ["info_last_words"]
    log.warning("after close")
    assert handler.stats().dropped["after_shutdown"] == 1


def test_shutdown_without_new_threads_does_not_raise(
    capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = PostHogHandler(api_key=API_KEY, host=capture_server.url)
    try:
        handler.handle(logging.makeLogRecord({"name": "app", "msg": "bye", "levelno": 30}))
        refuse_threads(monkeypatch, "analyticskit-close", "analyticskit-posthog-shutdown")
        handler.analytics.shutdown(timeout=2)  # what the atexit hook runs
        assert len(capture_server.wait_for(1)) == 1
    finally:
        monkeypatch.undo()
        handler.analytics.shutdown(timeout=2)
        handler.close()


def test_a_process_that_logs_and_exits_delivers_without_a_traceback(
    capture_server: CaptureServer, run_python: Callable[..., Any]
) -> None:
    # The capture server lives in this process: the child's exit cannot stop it.
    result = run_python(
        f"""
        import logging
        import analyticskit

        analyticskit.install(api_key={API_KEY!r}, host={capture_server.url!r})
        logging.getLogger("app.jobs").warning("job %s finished", "nightly")
        """,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr
    assert [e["event"] for e in capture_server.wait_for(1)] == ["info_job_finished"]


class UnnamableKey:
    def __str__(self) -> str:
        raise RuntimeError("no name")

    def __repr__(self) -> str:
        return "UnnamableKey()"


def test_a_value_that_raises_while_read_costs_that_value_not_the_event(
    make_handler: MakeHandler, capture_server: CaptureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("unreadable")
    handler, log = make_handler()
    log.info("bad payload", extra={"payload": {UnnamableKey(): 1}, "kept": "yes"})
    log.info("bad payload again", extra={"payload": {UnnamableKey(): 2}})
    log.info("good payload", extra={"payload": {"k": 1}})

    events = {e["event"]: e["properties"] for e in deliver(handler, capture_server, 3)}
    assert events["info_bad_payload"]["payload"] == "[unreadable dict: RuntimeError]"
    assert events["info_bad_payload"]["kept"] == "yes"
    assert events["info_good_payload"]["payload"] == {"k": 1}
    stats = handler.stats()
    assert stats.unreadable_values == 2
    assert stats.dropped_total == 0
    assert capsys.readouterr().err.count("raised while it was read") == 1
