"""The PostHog Logs lane: routing by level and ``extra``, what a log carries, and the
lane's guarantees (counted failures, the shared exit deadline, forks), over real
OTLP/HTTP to the capture server's ``/i/v1/logs``."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import time
from collections import Counter
from typing import Any

import posthog
import pytest

import analyticskit
from analyticskit import PostHogHandler
from analyticskit._logs.sink import logs_endpoint, resource_attributes
from analyticskit._mapping.record_to_log import severity_number
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import OWN_LOGGERS, MakeHandler, RunPython, assert_raises_naming, unique_name


def _logs_by_body(server: CaptureServer, n: int) -> dict[str, dict[str, Any]]:
    logs = server.wait_for_logs(n)
    assert len(logs) == n, [log["body"] for log in logs]
    by_body = {log["body"]: log for log in logs}
    assert len(by_body) == n
    return by_body


def _both(make_handler: MakeHandler, **options: Any) -> tuple[PostHogHandler, logging.Logger]:
    options.setdefault("event_level", "WARNING")
    options.setdefault("logs_level", "INFO")
    return make_handler(**options)


# -- routing -----------------------------------------------------------------


def test_levels_route_records_to_events_logs_both_or_neither(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _both(make_handler)
    log.debug("below both")
    log.info("logs only")
    log.warning("both lanes")
    assert handler.analytics.flush(5)

    logs = _logs_by_body(capture_server, 2)
    assert set(logs) == {"logs only", "both lanes"}
    events = capture_server.wait_for(1)
    assert [e["event"] for e in events] == ["info_both_lanes"]
    stats = handler.stats()
    assert (stats.emitted, stats.sent) == (1, 1)
    assert stats.logs is not None
    assert (stats.logs.emitted, stats.logs.sent) == (2, 2)


def test_default_event_level_is_the_handlers_and_logs_are_off(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(level="INFO")
    log.info("an event as before")
    assert handler.analytics.flush(5)
    assert len(capture_server.wait_for(1)) == 1
    assert capture_server.logs == []
    assert handler.stats().logs is None


def test_extra_forces_either_lane(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, log = _both(make_handler)
    log.info("an explicit id", extra={"id": "checkout_started"})
    log.info("an explicit type", extra={"event_type": "success"})
    log.info("forced event", extra={"posthog_event": True, "posthog_logs": False})
    log.error("kept out of events", extra={"posthog_event": False})
    log.debug("forced log", extra={"posthog_logs": True})
    assert handler.analytics.flush(5)

    names = sorted(e["event"] for e in capture_server.wait_for(3))
    assert names == ["info_checkout_started", "info_forced_event", "success_an_explicit_type"]
    logs = _logs_by_body(capture_server, 4)
    assert set(logs) == {"an explicit id", "an explicit type", "kept out of events", "forced log"}
    # The routing keys are instructions, not properties or attributes.
    for log_ in logs.values():
        assert not {"posthog_event", "posthog_logs"} & set(log_["attributes"])
    for event in capture_server.events:
        assert not {"posthog_event", "posthog_logs"} & set(event["properties"])


def test_forcing_logs_without_a_logs_lane_sends_no_log(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("no lane", extra={"posthog_logs": True})
    assert handler.analytics.flush(5)
    assert len(capture_server.wait_for(1)) == 1
    assert handler.stats().logs is None


# -- what a log carries ------------------------------------------------------


def test_a_log_carries_every_attribute(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.expected_api_key = API_KEY
    handler, log = _both(
        make_handler, service_name="shop", service_version="1.2.3", environment="staging"
    )
    with posthog.new_context(fresh=True, capture_exceptions=False):
        posthog.set_context_session("session-1")
        with analyticskit.user("u_bound"):
            log.info(
                "paid %s",
                "EUR",
                extra={
                    "order": 42,
                    "ratio": 0.5,
                    "ok": True,
                    "tags": ["a"],
                    "source": "payments_x",
                },
            )
    try:
        raise KeyError("missing")
    except KeyError:
        log.error("failed", exc_info=True, extra={"uid": "u_extra", "relevancy": "low"})
    before = time.time()
    assert handler.analytics.flush(5)

    logs = _logs_by_body(capture_server, 2)
    paid, failed = logs["paid EUR"], logs["failed"]
    assert paid["gzip"] and failed["gzip"]
    assert paid["severity_text"] == "INFO" and paid["severity_number"] == 9
    assert failed["severity_text"] == "ERROR" and failed["severity_number"] == 17
    assert 0 < paid["time_unix_nano"] <= before * 1e9
    assert paid["scope"] == "analyticskit"  # the SDK, as the spec says
    attributes = paid["attributes"]
    assert attributes["logger.name"] == log.name
    assert attributes["code.file.path"] == __file__
    assert attributes["code.function.name"] == "test_a_log_carries_every_attribute"
    assert isinstance(attributes["code.line.number"], int)
    assert attributes["messageTemplate"] == "paid %s"
    assert attributes["eventType"] == "info"
    assert attributes["id"] == "paid"
    assert attributes["source"] == "general"  # an unregistered source falls back
    assert attributes["relevancy"] == "medium"
    # Typed as the specification encodes them: int64, double, bool; lists as JSON.
    assert attributes["order"] == 42 and attributes["ratio"] == 0.5 and attributes["ok"] is True
    assert attributes["tags"] == '["a"]'
    assert attributes["posthogDistinctId"] == "u_bound"
    assert attributes["sessionId"] == "session-1"
    assert paid["resource"]["service.name"] == "shop"
    assert paid["resource"]["service.version"] == "1.2.3"
    assert paid["resource"]["deployment.environment"] == "staging"
    assert paid["resource"]["telemetry.sdk.name"] == "analyticskit"

    error = failed["attributes"]
    assert error["posthogDistinctId"] == "u_extra"
    assert error["eventType"] == "error" and error["relevancy"] == "low"
    assert error["exception.type"] == "KeyError"
    assert error["exception.message"] == "'missing'"
    assert "raise KeyError" in error["exception.stacktrace"]
    assert "sessionId" not in error
    assert "messageTemplate" not in error  # no arguments: the body is the template


def test_a_record_sent_to_both_lanes_is_the_same_record(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _both(make_handler)
    with analyticskit.user("u_7"):
        log.warning("disk %d%% full", 91, extra={"disk": "sda"})
    assert handler.analytics.flush(5)
    [event] = capture_server.wait_for(1)
    [log_] = capture_server.wait_for_logs(1)
    assert log_["body"] == "disk 91% full"
    assert event["distinct_id"] == log_["attributes"]["posthogDistinctId"] == "u_7"
    for key in ("eventType", "id", "source", "relevancy"):
        assert log_["attributes"][key] == event["properties"][key]
    assert log_["attributes"]["disk"] == event["properties"]["disk"] == "sda"


def test_service_name_defaults_to_the_environment_then_the_program(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    assert resource_attributes(None, None, None) == {"service.name": "from-env"}
    assert resource_attributes("given", None, None)["service.name"] == "given"
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    assert resource_attributes(None, None, None)["service.name"]


@pytest.mark.parametrize(
    ("host", "endpoint"),
    [
        ("https://us.i.posthog.com", "https://us.i.posthog.com/i/v1/logs"),
        ("https://us.posthog.com", "https://us.i.posthog.com/i/v1/logs"),
        ("https://app.posthog.com/", "https://us.i.posthog.com/i/v1/logs"),
        ("https://eu.posthog.com", "https://eu.i.posthog.com/i/v1/logs"),
        ("https://eu.i.posthog.com", "https://eu.i.posthog.com/i/v1/logs"),
        ("https://posthog.example.com/", "https://posthog.example.com/i/v1/logs"),
    ],
)
def test_hosts_map_to_their_logs_endpoint(host: str, endpoint: str) -> None:
    assert logs_endpoint(host) == endpoint


def test_severity_numbers_follow_opentelemetry() -> None:
    assert [severity_number(n) for n in (5, 10, 20, 25, 30, 40, 50, 60)] == [
        1,
        5,
        9,
        10,
        13,
        17,
        21,
        22,
    ]


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "exc", "fragments"),
    [
        ({"logs_level": "LOUD"}, ValueError, ["logs_level", "LOUD"]),
        ({"logs_level": 1.5}, TypeError, ["logs_level", "float"]),
        ({"event_level": [1]}, TypeError, ["event_level"]),
        ({"logs_level": "INFO", "service_name": 3}, TypeError, ["service_name", "int"]),
        ({"logs_level": "INFO", "environment": b"x"}, TypeError, ["environment", "bytes"]),
    ],
)
def test_bad_options_are_refused_naming_them(
    options: dict[str, Any], exc: type[Exception], fragments: list[str]
) -> None:
    assert_raises_naming(exc, fragments, PostHogHandler, api_key=API_KEY, **options)


def test_the_missing_extra_is_named_at_configuration(run_python: RunPython) -> None:
    proc = run_python(
        """
        import sys
        sys.modules["opentelemetry"] = None  # as if the [logs] extra were not installed
        from analyticskit import PostHogHandler
        PostHogHandler(event_level="INFO")  # the events lane alone needs nothing more
        try:
            PostHogHandler(logs_level="INFO")
        except ImportError as error:
            print("ERROR", error)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" in proc.stdout and "analyticskit-posthog[logs]" in proc.stdout, proc.stdout


# -- faults: each lane counts its own ----------------------------------------


@pytest.mark.parametrize("status", [401, 503])
def test_logs_endpoint_failing_while_events_succeed(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    capsys: pytest.CaptureFixture[str],
    status: int,
) -> None:
    capture_server.fault_lane = "logs"
    capture_server.respond_with(status)
    handler, log = _both(make_handler, shutdown_timeout=3)
    for i in range(3):
        log.warning("both %d", i)
    stats = handler.analytics.shutdown()
    assert (stats.emitted, stats.sent) == (3, 3)
    assert stats.logs is not None
    assert stats.logs.emitted == 3 and stats.logs.sent == 0
    if status == 401:
        assert stats.logs.dropped["rejected"] == 3
    else:
        assert stats.logs.failed + stats.logs.dropped["timeout"] == 3
    assert len(capture_server.events) == 3 and capture_server.logs == []
    err = capsys.readouterr().err
    assert API_KEY not in err
    if status == 401:
        assert "answered 401" in err


def test_events_failing_while_logs_succeed(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.fault_lane = "events"
    capture_server.respond_with(401)
    handler, log = _both(make_handler, shutdown_timeout=3)
    for i in range(3):
        log.warning("both %d", i)
    stats = handler.analytics.shutdown()
    assert stats.dropped["rejected"] == 3
    assert stats.logs is not None and (stats.logs.sent, stats.logs.emitted) == (3, 3)
    assert len(capture_server.logs) == 3


_EXIT_SCRIPT = """
import atexit, logging, json, time
from analyticskit import PostHogHandler
def report():
    stats = handler.stats()
    print("STATS " + json.dumps({{"elapsed": time.monotonic() - started,
        "events": [stats.sent, stats.dropped["timeout"]],
        "logs": [stats.logs.sent, stats.logs.dropped["timeout"], stats.logs.failed]}}),
        flush=True)
atexit.register(report)  # registered first: runs after analyticskit's exit hook
handler = PostHogHandler(api_key={key!r}, host={host!r}, event_level="WARNING",
                         logs_level="INFO", shutdown_timeout={deadline})
log = logging.getLogger("app")
log.setLevel(logging.INFO)
log.addHandler(handler)
for i in range(5):
    log.warning("both %d", i)
time.sleep(0.2)
started = time.monotonic()
"""


@pytest.mark.parametrize("slow", ["logs", "events", "all"])
def test_exit_shares_one_deadline_between_the_lanes(
    run_python: RunPython, capture_server: CaptureServer, slow: str
) -> None:
    deadline = 2.0
    capture_server.fault_lane = slow
    capture_server.blackhole = True
    code = _EXIT_SCRIPT.format(key=API_KEY, host=capture_server.url, deadline=deadline)
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("STATS "))
    stats = json.loads(line[len("STATS ") :])
    # One deadline for both lanes: well under two (loose: the machine is shared).
    assert stats["elapsed"] < 2 * deadline
    events_sent, events_timeout = stats["events"]
    logs_sent, logs_timeout, logs_failed = stats["logs"]
    assert events_sent + events_timeout == 5
    assert logs_sent + logs_timeout + logs_failed == 5
    if slow in ("logs", "all"):
        assert logs_sent == 0 and logs_timeout == 5
    else:
        assert logs_sent == 5
    if slow in ("events", "all"):
        assert events_sent == 0 and events_timeout == 5
    else:
        assert events_sent == 5


# -- fork and local sink -------------------------------------------------------


_FORK_SCRIPT = """
import logging, os
import analyticskit
from analyticskit import PostHogHandler
handler = PostHogHandler(api_key={key!r}, host={host!r}, event_level="ERROR", logs_level="INFO")
log = logging.getLogger("app")
log.setLevel(logging.INFO)
log.addHandler(handler)
log.info("parent before")
handler.analytics.flush(5)
log.info("parent pending")
pid = os.fork()
if pid == 0:
    for i in range(3):
        log.info("child %d", i)
    ok = handler.analytics.flush(5)
    os._exit(0 if ok else 3)
assert os.waitpid(pid, 0)[1] == 0
log.info("parent after")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_childs_logs_arrive_once(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    proc = run_python(_FORK_SCRIPT.format(key=API_KEY, host=capture_server.url), timeout=60)
    assert proc.returncode == 0, proc.stderr
    logs = capture_server.wait_for_logs(6, timeout=10)
    assert Counter(log["body"] for log in logs) == {
        "parent before": 1,
        "parent pending": 1,
        "child 0": 1,
        "child 1": 1,
        "child 2": 1,
        "parent after": 1,
    }


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
def test_logs_sinks_register_no_fork_hook_each(
    capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # os cannot remove a fork hook: one per sink would stay for the process's life.
    from analyticskit._logs.sink import OtlpLogsSink

    registered: list[object] = []
    monkeypatch.setattr(os, "register_at_fork", lambda **hooks: registered.append(hooks))
    for _ in range(3):
        OtlpLogsSink(api_key=API_KEY, host=capture_server.url, resource={}).close(1)
    assert registered == []


def test_without_a_key_logs_go_to_the_local_sink_marked_as_logs(run_python: RunPython) -> None:
    proc = run_python(
        """
        import logging
        from analyticskit import PostHogHandler
        handler = PostHogHandler(event_level="WARNING", logs_level="INFO", service_name="demo")
        log = logging.getLogger("app")
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        log.info("a log")
        log.warning("both")
        handler.analytics.shutdown(5)
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    logs = [x for x in lines if x.get("lane") == "logs"]
    events = [x for x in lines if "event" in x]
    assert [x["body"] for x in logs] == ["a log", "both"]
    assert logs[0]["resource"]["service.name"] == "demo"
    assert [x["event"] for x in events] == ["info_both"]


# -- configuration -------------------------------------------------------------


def test_dictconfig_sends_warnings_as_events_and_info_as_logs(
    capture_server: CaptureServer,
) -> None:
    name = unique_name()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "posthog": {
                    "class": "analyticskit.PostHogHandler",
                    "level": "INFO",
                    "api_key": API_KEY,
                    "host": capture_server.url,
                    "event_level": "WARNING",
                    "logs_level": "INFO",
                    "service_name": "shop",
                }
            },
            "loggers": {name: {"handlers": ["posthog"], "level": "INFO", "propagate": False}},
        }
    )
    log = logging.getLogger(name)
    [handler] = log.handlers
    assert isinstance(handler, PostHogHandler)
    try:
        log.info("started")
        log.warning("low stock")
        assert handler.analytics.flush(5)
        assert [e["event"] for e in capture_server.wait_for(1)] == ["info_low_stock"]
        assert {x["body"] for x in capture_server.wait_for_logs(2)} == {"started", "low stock"}
    finally:
        log.removeHandler(handler)
        handler.analytics.shutdown(2)
        handler.close()


def test_install_takes_the_lane_options(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    handler = analyticskit.install(
        "WARNING", api_key=API_KEY, host=capture_server.url, logs_level="INFO"
    )
    assert handler.level == logging.INFO and root_logger.level <= logging.INFO
    child = logging.getLogger(unique_name())
    child.info("a log")
    child.warning("both")
    assert handler.analytics.flush(5)
    assert [e["event"] for e in capture_server.wait_for(1)] == ["info_both"]
    assert {x["body"] for x in capture_server.wait_for_logs(2)} == {"a log", "both"}


def test_opentelemetrys_own_logs_never_become_records(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    capture_server.fault_lane = "logs"
    capture_server.respond_with(400, times=1)  # the exporter logs an error about it
    handler = analyticskit.install(
        "DEBUG", api_key=API_KEY, host=capture_server.url, event_level="ERROR", logs_level="DEBUG"
    )
    app = logging.getLogger(f"{unique_name()}.app")
    app.info("first")
    handler.flush(timeout=5)
    app.info("second")
    handler.flush(timeout=5)

    logs = capture_server.wait_for_logs(1)
    assert [log["body"] for log in logs] == ["second"]
    assert {log["attributes"]["logger.name"] for log in logs} == {app.name}
    assert capture_server.events == []
    stats = handler.stats().logs
    assert stats is not None
    assert stats.dropped["rejected"] == 1 and stats.sent == 1


def test_records_after_shutdown_are_counted_in_each_lane(
    make_analytics: Any, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.shutdown(2)
    handler = PostHogHandler(analytics=analytics, event_level="INFO", logs_level="INFO")
    assert analytics.enable_logs() is analytics.logs_delivery  # idempotent
    log = logging.getLogger(unique_name())
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.info("too late")
    stats = analytics.stats()
    assert stats.dropped["after_shutdown"] == 1
    assert stats.logs is not None and stats.logs.dropped["after_shutdown"] == 1
    assert capture_server.logs == [] and capture_server.events == []
    log.removeHandler(handler)


def test_the_logs_sinks_refuse_events_and_never_show_the_key(
    capture_server: CaptureServer,
) -> None:
    from datetime import datetime, timezone

    from analyticskit._logs.sink import LocalLogsSink, OtlpLogsSink
    from analyticskit._mapping.message import Message

    event = Message("info_x", None, {}, datetime.now(timezone.utc), None)
    otlp = OtlpLogsSink(api_key=API_KEY, host=capture_server.url, resource={})
    assert API_KEY not in repr(otlp) and API_KEY not in otlp.description
    for sink in (otlp, LocalLogsSink({})):
        with pytest.raises(TypeError, match="logs lane delivers logs"):
            sink.send(event)
    otlp.close(1)


def test_the_logs_lane_is_held_released_and_rebuilt_with_the_events_lane(
    make_analytics: Any, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    logs = analytics.enable_logs()
    events = analytics.delivery
    # What a fork does, without forking: hold both lanes, release both; then what
    # the child does (both start empty).
    assert events.hold_for_fork(1.0)
    events.release_after_fork()
    handler = PostHogHandler(analytics=analytics, event_level="ERROR", logs_level="INFO")
    log = logging.getLogger(unique_name())
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.info("before")
    assert analytics.flush(5)
    events.rebuild_in_child()
    assert logs.stats().emitted == 0
    log.info("after")
    assert analytics.flush(5)
    assert [x["body"] for x in capture_server.wait_for_logs(2)] == ["before", "after"]
    log.removeHandler(handler)


# -- privacy and cost: the events lane's rules apply to logs ------------------


def test_logs_are_scrubbed_and_seen_by_before_send(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    seen: list[str] = []

    def before_send(event: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(event["event"])
        return None if event["properties"].get("drop") == "yes" else event

    handler, log = _both(make_handler, before_send=before_send)
    log.info("login", extra={"password": "hunter2", "note": "key phc_abcdefghijklmnop0123"})
    log.info("dropped", extra={"drop": "yes"})
    try:
        raise PermissionError("upstream refused Bearer abcdefghijklmnop")
    except PermissionError:
        log.exception("call with token=tok_live_998877 failed")
    assert handler.analytics.flush(5)
    sent, failed = capture_server.wait_for_logs(2)
    assert sent["body"] == "login"
    # The body and the exception's attributes are scrubbed like every string.
    assert failed["body"] == "call with token=[Filtered] failed"
    assert "abcdefghijklmnop" not in str(failed["attributes"])
    assert "Bearer [Filtered]" in failed["attributes"]["exception.message"]
    assert sent["attributes"]["password"] == "[Filtered]"
    assert "phc_abcdefghijklmnop0123" not in sent["attributes"]["note"]
    assert seen.count("$log") == 3
    stats = handler.stats().logs
    assert stats is not None and stats.dropped["before_send"] == 1


def test_the_events_rate_cap_does_not_thin_the_logs_lane(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _both(make_handler, rate_limit={"burst": 3, "per_second": 0.001})
    for _ in range(10):
        log.warning("disk full")
    assert handler.analytics.flush(5)
    assert len(capture_server.wait_for_logs(10)) == 10
    stats = handler.stats()
    assert stats.logs is not None
    assert (stats.sent, stats.dropped["rate_limited"]) == (3, 7)
    assert (stats.logs.sent, stats.logs.dropped["rate_limited"]) == (10, 0)


def test_the_logs_cap_is_a_window_counted_after_before_send_with_one_warning(
    make_handler: MakeHandler, capture_server: CaptureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    def before_send(event: dict[str, Any]) -> dict[str, Any] | None:
        return None if event["properties"].get("drop") else event

    handler, log = _both(
        make_handler, before_send=before_send, logs_rate_cap={"max_logs": 5, "window": 600}
    )
    for i in range(3):
        log.info("dropped by the hook %d", i, extra={"drop": True})
    for i in range(12):
        log.info("request %d", i)
    assert handler.analytics.flush(5)

    # The hook's drops used no budget: the first five requests go out.
    bodies = [x["body"] for x in capture_server.wait_for_logs(5)]
    assert sorted(bodies) == sorted(f"request {i}" for i in range(5))
    stats = handler.stats().logs
    assert stats is not None
    assert (stats.sent, stats.dropped["before_send"], stats.dropped["rate_limited"]) == (5, 3, 7)
    warnings = [x for x in capsys.readouterr().err.splitlines() if "more than 5 logs" in x]
    assert len(warnings) == 1


def test_the_default_logs_cap_lets_thousands_of_records_through(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _both(make_handler)
    for i in range(3000):
        log.info("request %d served", i, extra={"uid": f"u{i % 50}"})
    assert handler.analytics.flush(30)
    assert len(capture_server.wait_for_logs(3000, timeout=30)) == 3000
    stats = handler.stats().logs
    assert stats is not None and stats.dropped_total == 0


@pytest.mark.parametrize(
    ("cap", "exc"),
    [({"max_logs": -1}, ValueError), ({"per_second": 5}, TypeError), ("many", TypeError)],
)
def test_a_bad_logs_cap_is_refused_naming_it(cap: object, exc: type[Exception]) -> None:
    assert_raises_naming(
        exc,
        ["logs_rate_cap"],
        PostHogHandler,
        api_key=API_KEY,
        logs_level="INFO",
        logs_rate_cap=cap,
    )


def test_duplicates_in_the_logs_lane_alone_are_summed_up_there(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    # INFO goes to logs only: its duplicates' summary is a log, never an event.
    handler, log = _both(make_handler, dedupe_window=60.0)  # all repeats in one window
    for _ in range(50):
        log.info("cache warming")
    log.warning("disk full")
    log.warning("disk full")
    assert handler.analytics.flush(5)

    logs = capture_server.wait_for_logs(4)
    assert len(logs) == 4, [(entry["body"], entry["attributes"]) for entry in logs]
    repeats = sorted((entry["body"], entry["attributes"].get("repeatCount", 0)) for entry in logs)
    assert repeats == [
        ("cache warming", 0),
        ("cache warming", 49),
        ("disk full", 0),
        ("disk full", 1),
    ]
    events = capture_server.wait_for(2)
    assert sorted((e["event"], e["properties"].get("repeatCount", 0)) for e in events) == [
        ("info_disk_full", 0),
        ("info_disk_full", 1),
    ]
    stats = handler.stats()
    assert stats.logs is not None
    assert stats.dropped["deduplicated"] == 1
    assert stats.logs.dropped["deduplicated"] == 50
