"""PostHog's SDK logs specification in the logs lane, over real OTLP/HTTP to the
capture server: what each answer of the logs endpoint does to a batch (413, 429
with ``Retry-After``, 400, 503 then recovery), the 2 MiB body cap, a Collector in
PostHog's place, and the caller's OpenTelemetry span on events, ``$exception``
events and logs."""

from __future__ import annotations

import json
import logging
import random
import string
import threading
from collections.abc import Iterator
from typing import Any

import posthog
import pytest
from opentelemetry.sdk.trace import TracerProvider

import analyticskit
from analyticskit import PostHogHandler, Stats, _diagnostics
from analyticskit._logs import sink as logs_sink
from analyticskit._logs.sink import logs_endpoint
from capture_server import MAX_LOGS_BODY, OTLP_LOGS_PATH, CaptureServer
from conftest import API_KEY
from helpers import MakeHandler, RunPython, assert_raises_naming

_TRACER = TracerProvider().get_tracer("tests")


def _logs_lane(make_handler: MakeHandler, **options: Any) -> tuple[PostHogHandler, logging.Logger]:
    options.setdefault("event_level", "CRITICAL")
    options.setdefault("logs_level", "INFO")
    return make_handler(**options)


def _logs_stats(handler: PostHogHandler) -> Stats:
    stats = handler.stats().logs
    assert stats is not None
    # Nothing lost without a count.
    assert stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total
    return stats


def _letters(rng: random.Random, n: int) -> str:
    """Text that gzip cannot shrink much (and no scrub pattern matches)."""
    return "".join(rng.choices(string.ascii_letters, k=n))


@pytest.fixture
def collector() -> Iterator[CaptureServer]:
    """A second capture server standing in for an OpenTelemetry Collector's receiver."""
    with CaptureServer() as server:
        server.logs_need_key = False
        yield server


# -- the answers of the logs endpoint ------------------------------------------


def test_a_413_halves_the_batch_down_to_the_one_record_that_does_not_fit(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.logs_max_body = 16_000
    handler, log = _logs_lane(make_handler)
    for i in range(120):
        log.info("order %d shipped", i)
    log.info("a blob", extra={"blob": _letters(random.Random(1), 40_000)})
    handler.analytics.flush(20)

    logs = capture_server.wait_for_logs(120)
    assert sorted(entry["body"] for entry in logs) == sorted(
        f"order {i} shipped" for i in range(120)
    )
    stats = _logs_stats(handler)
    assert (stats.emitted, stats.sent, stats.dropped["too_large"]) == (121, 120, 1)
    requests = capture_server.logs_requests
    assert 413 in {r["status"] for r in requests}
    for request in requests:  # only the refused requests were over the server's cap
        over = max(request["raw_bytes"], request["decompressed_bytes"]) > 16_000
        assert over == (request["status"] == 413), request


def test_every_request_stays_under_2_mib_before_and_after_gzip(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _logs_lane(make_handler)
    rng = random.Random(2)
    for i in range(40):
        log.info("chunk %d", i, extra={"data": _letters(rng, 60_000)})
    assert handler.analytics.flush(30)

    assert len(capture_server.wait_for_logs(40)) == 40
    requests = capture_server.logs_requests
    assert sum(r["decompressed_bytes"] for r in requests) > MAX_LOGS_BODY  # it had to split
    for request in requests:
        assert request["status"] == 200
        assert (
            request["raw_bytes"] < MAX_LOGS_BODY and request["decompressed_bytes"] < MAX_LOGS_BODY
        )
    assert _logs_stats(handler).sent == 40


def test_a_429_is_retried_after_its_retry_after(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.fault_lane = "logs"
    capture_server.respond_with(429, times=1, retry_after=1)
    handler, log = _logs_lane(make_handler)
    for i in range(5):
        log.info("over quota %d", i)
    assert handler.analytics.flush(20)

    assert len(capture_server.wait_for_logs(5)) == 5
    first, second = capture_server.wait_for_logs_requests(2)
    assert (first["status"], second["status"]) == (429, 200)
    assert second["at"] - first["at"] >= 0.9  # it waited as told
    assert _logs_stats(handler).sent == 5


def test_a_retry_after_past_the_deadline_holds_the_records_until_it_and_counts_them(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.fault_lane = "logs"
    capture_server.respond_with(429, retry_after=900)  # capture-logs' answer over quota
    handler, log = _logs_lane(make_handler, shutdown_timeout=1)
    for i in range(5):
        log.info("held %d", i)
    capture_server.wait_for_logs_requests(1)
    result: dict[str, Stats] = {}
    stopping = threading.Thread(target=lambda: result.update(stats=handler.analytics.shutdown()))
    stopping.start()
    stopping.join(60)  # generous: the shutdown's own deadline is 1 s, never the 900 s
    assert not stopping.is_alive()

    logs = result["stats"].logs
    assert logs is not None
    assert (logs.sent, logs.failed, logs.dropped["timeout"]) == (0, 0, 5)
    assert [r["status"] for r in capture_server.logs_requests] == [429]
    assert capture_server.logs == []


def test_a_400_drops_the_batch_counts_it_rejected_and_names_the_status(
    make_handler: MakeHandler, capture_server: CaptureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("logs-rejected-400")  # reported once per process
    capture_server.fault_lane = "logs"
    capture_server.respond_with(400, times=1)
    handler, log = _logs_lane(make_handler)
    for i in range(3):
        log.info("poison %d", i)
    handler.analytics.flush(10)
    log.info("after the poison")  # the dropped batch does not block the queue
    assert handler.analytics.flush(10)

    assert [x["body"] for x in capture_server.wait_for_logs(1)] == ["after the poison"]
    stats = _logs_stats(handler)
    assert (stats.sent, stats.dropped["rejected"]) == (1, 3)
    [line] = [x for x in capsys.readouterr().err.splitlines() if "status 400" in x]
    assert "3 logs" in line and "rejected" in line and API_KEY not in line


def test_503s_are_retried_with_backoff_until_the_endpoint_recovers(
    make_handler: MakeHandler, capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_sink, "_FIRST_BACKOFF", 0.05)
    capture_server.fault_lane = "logs"
    capture_server.respond_with(503, times=2)
    handler, log = _logs_lane(make_handler)
    for i in range(4):
        log.info("while down %d", i)
    assert handler.analytics.flush(20)

    assert len(capture_server.wait_for_logs(4)) == 4
    assert [r["status"] for r in capture_server.logs_requests] == [503, 503, 200]
    stats = _logs_stats(handler)
    assert (stats.sent, stats.failed) == (4, 0)


def test_a_batch_still_refused_after_every_retry_is_counted_failed(
    make_handler: MakeHandler, capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_sink, "_FIRST_BACKOFF", 0.01)
    capture_server.fault_lane = "logs"
    capture_server.respond_with(503)
    handler, log = _logs_lane(make_handler)
    for i in range(3):
        log.info("never %d", i)
    assert not handler.analytics.flush(20)

    assert len(capture_server.logs_requests) == logs_sink._MAX_ATTEMPTS
    stats = _logs_stats(handler)
    assert (stats.sent, stats.failed) == (0, 3)


# -- a Collector -----------------------------------------------------------------


def test_a_collector_gets_the_logs_while_events_reach_posthog(
    make_handler: MakeHandler, capture_server: CaptureServer, collector: CaptureServer
) -> None:
    handler, log = make_handler(
        event_level="WARNING", logs_level="INFO", logs_endpoint=collector.url + OTLP_LOGS_PATH
    )
    log.info("a log")
    log.warning("both")
    assert handler.analytics.flush(10)

    logs = collector.wait_for_logs(2)
    assert sorted(x["body"] for x in logs) == ["a log", "both"]
    assert {x["path"] for x in logs} == {OTLP_LOGS_PATH}
    assert [e["event"] for e in capture_server.wait_for(1)] == ["info_both"]
    assert capture_server.logs == [] and capture_server.logs_requests == []


def test_the_opentelemetry_variables_choose_the_endpoint_and_its_headers(
    make_handler: MakeHandler, capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with CaptureServer(expected_api_key="phc_collector_token") as collector:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", collector.url + OTLP_LOGS_PATH)
        # Percent-encoded, as OpenTelemetry defines the variable: it replaces the key.
        monkeypatch.setenv(
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS", "Authorization=Bearer%20phc_collector_token"
        )
        handler, log = _logs_lane(make_handler)
        log.info("through the variables")
        assert handler.analytics.flush(10)
        assert [x["body"] for x in collector.wait_for_logs(1)] == ["through the variables"]
    assert capture_server.logs_requests == []


def test_without_a_key_a_collector_still_gets_the_logs(collector: CaptureServer) -> None:
    analytics = analyticskit.Analytics(api_key=None)  # events: the local sink
    try:
        handler = PostHogHandler(
            analytics=analytics,
            event_level="CRITICAL",
            logs_level="INFO",
            logs_endpoint=collector.url + OTLP_LOGS_PATH,
        )
        log = logging.getLogger("collector-without-key")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        log.info("no key needed")
        assert analytics.flush(10)
        assert [x["body"] for x in collector.wait_for_logs(1)] == ["no key needed"]
        log.removeHandler(handler)
    finally:
        analytics.shutdown(2)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (None, "https://us.i.posthog.com/i/v1/logs"),
        ("/otlp/v1/logs", "https://us.i.posthog.com/otlp/v1/logs"),
        ("http://localhost:4318/v1/logs", "http://localhost:4318/v1/logs"),
    ],
)
def test_the_posthog_path_is_configurable(endpoint: str | None, expected: str) -> None:
    assert logs_endpoint("https://us.posthog.com", endpoint) == expected


@pytest.mark.parametrize(
    ("value", "exc", "fragments"),
    [
        (3, TypeError, ["logs_endpoint", "int"]),
        ("ftp://example.com/v1/logs", ValueError, ["logs_endpoint", "ftp://"]),
        ("localhost:4318", ValueError, ["logs_endpoint", "localhost:4318"]),
    ],
)
def test_a_bad_logs_endpoint_is_refused_naming_it(
    value: object, exc: type[Exception], fragments: list[str]
) -> None:
    assert_raises_naming(
        exc, fragments, PostHogHandler, api_key=API_KEY, logs_level="INFO", logs_endpoint=value
    )


def test_a_bad_endpoint_variable_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "collector:4318")
    assert_raises_naming(
        ValueError,
        ["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "collector:4318"],
        PostHogHandler,
        api_key=API_KEY,
        logs_level="INFO",
    )


# -- the specification's attributes ------------------------------------------------


def test_keys_the_user_sets_win_over_the_context_attributes(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _logs_lane(make_handler)
    with posthog.new_context(fresh=True, capture_exceptions=False):
        posthog.set_context_session("session-ctx")
        with analyticskit.user("u_bound"):
            log.info("from context")
            log.info("mine", extra={"sessionId": "custom", "posthogDistinctId": "u_mine"})
    assert handler.analytics.flush(10)

    logs = {x["body"]: x["attributes"] for x in capture_server.wait_for_logs(2)}
    assert logs["from context"]["sessionId"] == "session-ctx"
    assert logs["from context"]["posthogDistinctId"] == "u_bound"
    assert logs["mine"]["sessionId"] == "custom"
    assert logs["mine"]["posthogDistinctId"] == "u_mine"


def test_big_ints_and_non_finite_floats_are_encoded_as_the_spec_says(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = _logs_lane(make_handler)
    log.info("numbers", extra={"big": 2**70, "neg": -(2**40), "nan": float("nan")})
    assert handler.analytics.flush(10)
    [entry] = capture_server.wait_for_logs(1)
    attributes = entry["attributes"]
    assert attributes["big"] == str(2**70) and attributes["neg"] == -(2**40)
    assert attributes["nan"] in ("NaN", None)  # the events lane's JSON rules may null it


# -- the caller's span -------------------------------------------------------------


def test_an_active_span_reaches_the_event_the_exception_and_the_log(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(event_level="ERROR", logs_level="INFO", capture_exceptions=True)
    with _TRACER.start_as_current_span("checkout") as span:
        try:
            raise ValueError("card declined")
        except ValueError:
            log.exception("payment failed")
    log.error("outside any span")
    assert handler.analytics.flush(10)

    ids = span.get_span_context()
    trace_id, span_id = f"{ids.trace_id:032x}", f"{ids.span_id:016x}"
    events = {e["event"]: e for e in capture_server.wait_for(3)}
    for name in ("error_payment_failed", "$exception"):
        assert events[name]["properties"]["$trace_id"] == trace_id, name
        assert events[name]["properties"]["$span_id"] == span_id, name
    assert "$trace_id" not in events["error_outside_any_span"]["properties"]
    logs = {x["body"]: x for x in capture_server.wait_for_logs(2)}
    assert (logs["payment failed"]["trace_id"], logs["payment failed"]["span_id"]) == (
        trace_id,
        span_id,
    )
    assert logs["outside any span"]["trace_id"] == ""


def test_a_client_with_capture_trace_context_off_sends_events_without_the_span(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    client = posthog.Posthog(API_KEY, host=capture_server.url, capture_trace_context=False)
    try:
        handler, log = make_handler(client=client, event_level="INFO", logs_level="INFO")
        with _TRACER.start_as_current_span("quiet"):
            log.info("no trace on the event")
        assert handler.analytics.flush(10)
        [event] = capture_server.wait_for(1)
        assert "$trace_id" not in event["properties"]
        [entry] = capture_server.wait_for_logs(1)
        assert len(entry["trace_id"]) == 32  # the logs lane keeps it
    finally:
        client.shutdown()


def test_capture_event_carries_the_callers_span(
    make_analytics: Any, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    with _TRACER.start_as_current_span("signup") as span:
        analytics.capture_event({"eventType": "success", "id": "signed_up", "source": "auth"})
    assert analytics.flush(10)
    [event] = capture_server.wait_for(1)
    assert event["properties"]["$trace_id"] == f"{span.get_span_context().trace_id:032x}"


def test_without_opentelemetry_imported_nothing_imports_it(run_python: RunPython) -> None:
    proc = run_python(
        """
        import logging, sys
        import analyticskit
        from analyticskit.testing import MemorySink
        analytics = analyticskit.Analytics(sink=MemorySink())
        log = logging.getLogger("app")
        log.addHandler(analyticskit.PostHogHandler(analytics=analytics, event_level="INFO"))
        log.setLevel(logging.INFO)
        log.info("hello")
        analytics.flush(5)
        print("IMPORTED" if "opentelemetry.trace" in sys.modules else "NOT IMPORTED")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "NOT IMPORTED"


# -- the wire format -----------------------------------------------------------------


def test_the_encoded_request_is_what_opentelemetry_proto_decodes() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from analyticskit._logs.otlp_encode import envelope, log_record, request

    trace = (0x0123456789ABCDEF0123456789ABCDEF, 0x0011223344556677)
    records = [
        log_record(
            time_unix_nano=1_700_000_000_123_456_789,
            severity_number=17,
            severity_text="ERROR",
            body="payment failed ✓",
            attributes={"s": "é", "b": True, "i": -5, "big": 2**62, "f": 0.25, "none": None},
            trace=trace,
        ),
        log_record(
            time_unix_nano=1,
            severity_number=9,
            severity_text="INFO",
            body="",
            attributes={},
            trace=None,
        ),
    ]
    raw = request(envelope({"service.name": "shop"}, ("analyticskit", "1.0")), records)

    decoded = ExportLogsServiceRequest.FromString(raw)
    [resource_logs] = decoded.resource_logs
    assert [(a.key, a.value.string_value) for a in resource_logs.resource.attributes] == [
        ("service.name", "shop")
    ]
    [scope_logs] = resource_logs.scope_logs
    assert (scope_logs.scope.name, scope_logs.scope.version) == ("analyticskit", "1.0")
    first, second = scope_logs.log_records
    assert first.time_unix_nano == first.observed_time_unix_nano == 1_700_000_000_123_456_789
    assert (first.severity_number, first.severity_text) == (17, "ERROR")
    assert first.body.string_value == "payment failed ✓"
    values = {a.key: a.value for a in first.attributes}
    assert set(values) == {"s", "b", "i", "big", "f"}  # a None value drops its key
    assert values["s"].string_value == "é" and values["b"].bool_value is True
    assert values["i"].int_value == -5 and values["big"].int_value == 2**62
    assert values["f"].double_value == 0.25
    assert first.trace_id == trace[0].to_bytes(16, "big")
    assert first.span_id == trace[1].to_bytes(8, "big")
    assert second.trace_id == b"" and second.severity_number == 9


def test_a_flush_exporting_on_its_own_thread_never_waits_past_its_timeout(
    capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import datetime, timezone

    from analyticskit._logs.sink import OtlpLogsSink
    from analyticskit._mapping.record_to_log import LogMessage

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't create new thread at interpreter shutdown")

    capture_server.fault_lane = "logs"
    capture_server.respond_with(429, retry_after=900)
    sink = OtlpLogsSink(api_key=API_KEY, host=capture_server.url, resource={})
    losses: list[tuple[str, int]] = []
    sink.attach(lambda kind, count: losses.append((kind, count)))
    log = LogMessage("$log", None, {}, datetime.now(timezone.utc), None, body="at exit")
    monkeypatch.setattr(threading.Thread, "start", no_thread)  # as at exit, Python 3.12+
    assert sink.send(log) == 1
    monkeypatch.undo()
    flushing = threading.Thread(target=sink.flush, args=(1.0,))
    flushing.start()
    flushing.join(60)  # generous: the flush's own timeout is 1 s, never the 900 s
    assert not flushing.is_alive()
    # Still pending, so a shutdown counts it as timeout, never as sent.
    assert sink.pending() == 1 and losses == []
    assert [r["status"] for r in capture_server.logs_requests] == [429]
    sink.close(0)


def test_the_local_sink_shows_the_span_on_events_and_logs(run_python: RunPython) -> None:
    proc = run_python(
        """
        import logging
        from opentelemetry.sdk.trace import TracerProvider
        from analyticskit import PostHogHandler
        handler = PostHogHandler(event_level="WARNING", logs_level="INFO")
        log = logging.getLogger("app")
        log.setLevel(logging.INFO)
        log.addHandler(handler)
        with TracerProvider().get_tracer("t").start_as_current_span("s") as span:
            log.warning("both")
        print(f"{span.get_span_context().trace_id:032x}")
        handler.analytics.shutdown(5)
        """
    )
    assert proc.returncode == 0, proc.stderr
    trace_id = proc.stdout.strip()
    lines = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
    [event] = [x for x in lines if "event" in x]
    [entry] = [x for x in lines if x.get("lane") == "logs"]
    assert event["properties"]["$trace_id"] == entry["trace_id"] == trace_id
    assert len(entry["span_id"]) == 16
