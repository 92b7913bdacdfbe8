"""`analyticskit dev` knows logs: the logs lane's own OTLP protobuf (gzip) and OTLP
JSON land in SQLite beside events; ``/api/logs`` pages, filters (severity, service,
user, text), counts and clears them; bad requests get PostHog Logs' answers; a
protobuf request without ``opentelemetry-proto`` gets 415 and the hint."""

from __future__ import annotations

import gzip
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import analyticskit
from analyticskit import PostHogHandler
from analyticskit._devtools.server import DevServer
from helpers import release, unique_name

BEARER = {"Authorization": "Bearer phc_dev"}
TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


@pytest.fixture
def dev() -> Iterator[DevServer]:
    with DevServer(port=0) as server:
        yield server


def _page(server: DevServer, kind: str = "logs", **query: Any) -> dict[str, Any]:
    answer = requests.get(f"{server.url}/api/{kind}", params=query, timeout=5)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def _bodies(server: DevServer, **query: Any) -> list[Any]:
    return [log["body"] for log in _page(server, **query)["logs"]]


def _record(body: str, severity: int, text: str, user: str | None = None) -> dict[str, Any]:
    attributes: list[dict[str, Any]] = [
        {"key": "http.status", "value": {"intValue": "503"}},
        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
    ]
    if user is not None:
        attributes.append({"key": "posthogDistinctId", "value": {"stringValue": user}})
    return {
        "timeUnixNano": "1764806400000000000",  # 2025-12-04T00:00:00Z
        "severityNumber": severity,
        "severityText": text,
        "body": {"stringValue": body},
        "traceId": TRACE,
        "spanId": SPAN,
        "attributes": attributes,
    }


def _otlp_json(service: str, *records: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}
    scope_logs = [{"scope": {"name": "shop"}, "logRecords": records}]
    request = {"resourceLogs": [{"resource": resource, "scopeLogs": scope_logs}]}
    return json.dumps(request).encode()


def _post_json(server: DevServer, body: bytes, **headers: str) -> requests.Response:
    return requests.post(
        server.url + "/i/v1/logs",
        data=body,
        headers={"Content-Type": "application/json", **BEARER, **headers},
        timeout=5,
    )


def test_the_logs_lane_delivers_to_the_dev_server(dev: DevServer) -> None:
    handler = PostHogHandler(
        api_key="phc_dev",
        host=dev.url,
        event_level="ERROR",
        logs_level="INFO",
        service_name="checkout",
        rate_limit=False,
        dedupe_window=0,
    )
    logger = logging.getLogger(unique_name())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        with analyticskit.user("u_42"):
            logger.info("paid %s", "EUR", extra={"order": 7})
        try:
            raise ValueError("card declined")
        except ValueError:
            logger.error("payment failed", exc_info=True)
        assert handler.analytics.flush(10)
    finally:
        release(handler, logger)
    page = _page(dev)
    assert page["total"] == 2
    failed, paid = page["logs"]
    assert (paid["body"], paid["severity_text"], paid["severity_number"]) == ("paid EUR", "INFO", 9)
    assert (paid["service"], paid["distinct_id"]) == ("checkout", "u_42")
    assert paid["scope"] == "analyticskit"  # the SDK, as PostHog's logs spec says
    assert paid["attributes"]["logger.name"] == logger.name
    assert paid["attributes"]["order"] == "7" and paid["timestamp"].startswith("20")
    assert paid["resource"]["service.name"] == "checkout"
    assert failed["severity_text"] == "ERROR" and failed["distinct_id"] is None
    assert "Traceback" in failed["attributes"]["exception.stacktrace"]
    assert "\n" in failed["attributes"]["exception.stacktrace"]
    [event] = _page(dev, "events")["events"]  # the error is an event too
    assert event["event"] == "error_payment_failed"


def test_otlp_json_gzip_or_not_is_stored_with_its_ids(dev: DevServer) -> None:
    body = _otlp_json("api", _record("hello", 9, "INFO", "u1"))
    assert _post_json(dev, body).status_code == 200
    answer = _post_json(dev, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert (answer.status_code, answer.json()) == (200, {})
    for path in ("/otlp/v1/logs", "/v1/logs"):  # the onboarding's path, OTLP's own
        answer = requests.post(
            dev.url + path,
            data=body,
            headers={"Content-Type": "application/json", **BEARER},
            timeout=5,
        )
        assert answer.status_code == 200
    log = _page(dev)["logs"][0]
    assert (log["trace_id"], log["span_id"]) == (TRACE, SPAN)
    assert log["attributes"] == {"http.status": "503", "tags": ["a"], "posthogDistinctId": "u1"}
    assert log["timestamp"] == "2025-12-04T00:00:00+00:00"
    assert (log["service"], log["scope"], log["distinct_id"]) == ("api", "shop", "u1")
    assert _page(dev)["total"] == 4
    structured = _record("", 9, "INFO")
    structured["body"] = {"kvlistValue": {"values": [{"key": "n", "value": {"intValue": "2"}}]}}
    bare = _record("", 5, "DEBUG")
    del bare["body"], bare["traceId"], bare["spanId"]
    assert _post_json(dev, _otlp_json("api", structured, bare)).status_code == 200
    newest, older = _page(dev, limit=2)["logs"]
    assert (older["body"], newest["body"]) == ('{"n": "2"}', "")
    assert (newest["trace_id"], newest["span_id"]) == ("", "")


def test_protobuf_without_opentelemetry_proto_gets_415_and_the_hint(
    dev: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if the logs extra were not installed: the import fails.
    monkeypatch.setitem(sys.modules, "opentelemetry.proto.collector.logs.v1.logs_service_pb2", None)
    answer = requests.post(
        dev.url + "/i/v1/logs",
        data=b"\x0a\x00",
        headers={"Content-Type": "application/x-protobuf", **BEARER},
        timeout=5,
    )
    assert answer.status_code == 415
    assert "analyticskit-posthog[logs]" in answer.json()["detail"]
    assert "application/json" in answer.json()["detail"]  # what works without it


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "invalid_payload"),
        (b"[]", {}, 400, "invalid_payload"),
        (b'{"resourceLogs": {}}', {}, 400, "invalid_payload"),
        (b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"severityNumber": "x"}]}]}]}', {},
         400, "invalid_payload"),
        (b"not gzip", {"Content-Encoding": "gzip"}, 400, "invalid_payload"),
        (b"{}", {"Content-Encoding": "br"}, 400, "invalid_payload"),
        (b"{}", {"Authorization": ""}, 401, "missing_api_key"),
        (b"{}", {"Authorization": "Basic abc"}, 401, "missing_api_key"),
        (b"x" * (2 * 1024 * 1024 + 1), {}, 413, "payload_too_large"),
        (gzip.compress(b" " * (2 * 1024 * 1024 + 1)), {"Content-Encoding": "gzip"}, 413,
         "payload_too_large"),
        (b"\xff\xff", {"Content-Type": "application/x-protobuf"}, 400, "invalid_payload"),
    ],
    ids=[
        "bad-json", "not-object", "not-a-list", "bad-int", "bad-gzip", "brotli", "no-key",
        "not-bearer", "too-big", "inflates-too-big", "bad-protobuf",
    ],
)  # fmt: skip
def test_bad_logs_requests_get_answers_and_store_nothing(
    dev: DevServer, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    answer = _post_json(dev, body, **headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
    assert _page(dev)["total"] == 0
    assert _post_json(dev, _otlp_json("api", _record("ok", 9, "INFO"))).status_code == 200


def test_logs_filter_count_and_clear(dev: DevServer) -> None:
    records = [
        ("api", _record("debug detail", 5, "DEBUG", "u1")),
        ("api", _record("user signed in", 9, "INFO", "u1")),
        ("worker", _record("queue slow", 13, "WARN", "u2")),
        ("worker", _record("job failed", 17, "ERROR")),
    ]
    for service, record in records:
        assert _post_json(dev, _otlp_json(service, record)).status_code == 200
    assert _bodies(dev) == ["job failed", "queue slow", "user signed in", "debug detail"]
    assert _bodies(dev, severity="warn") == ["job failed", "queue slow"]
    assert _bodies(dev, severity="17") == ["job failed"]
    assert _bodies(dev, service="api") == ["user signed in", "debug detail"]
    assert _bodies(dev, distinct_id="u1", severity="info") == ["user signed in"]
    assert _bodies(dev, q="QUEUE") == ["queue slow"]
    assert _bodies(dev, trace_id=TRACE, limit=1) == ["job failed"]
    page = _page(dev, service="worker", limit=1)
    assert (page["total"], page["more"], len(page["logs"])) == (2, True, 1)
    counts = requests.get(dev.url + "/api/counts", timeout=5).json()
    assert counts == {"events": 0, "logs": 4, "dropped": {"events": 0, "logs": 0}}
    for bad in ({"severity": "loud"}, {"severity": "25"}, {"colour": "red"}, {"before": "-1"}):
        answer = requests.get(dev.url + "/api/logs", params=bad, timeout=5)
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_query", bad
    assert requests.get(dev.url + "/api/events", params={"severity": "warn"}, timeout=5).ok is False
    cleared = requests.delete(dev.url + "/api/logs", timeout=5)
    assert cleared.json() == {"deleted": 4}
    assert _page(dev)["total"] == 0
    assert requests.delete(dev.url + "/api/nothing", timeout=5).status_code == 404
