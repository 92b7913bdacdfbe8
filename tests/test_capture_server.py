"""Tests of the PostHog-compatible capture server itself (plain HTTP and the real SDK)."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import posthog
import pytest
import requests

from capture_server import CaptureServer


@pytest.fixture
def server() -> Iterator[CaptureServer]:
    with CaptureServer() as srv:
        yield srv


def _event(name: str = "x", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": name,
        "distinct_id": "u1",
        "properties": {"a": 1},
        "timestamp": datetime.now(tz=timezone.utc).isoformat(),
        "uuid": str(uuid.uuid4()),
        "type": "capture",
    }
    event.update(overrides)
    return event


def _body(*events: dict[str, Any], api_key: str | None = "phc_test") -> dict[str, Any]:
    body: dict[str, Any] = {"batch": list(events), "sent_at": "2024-01-01T00:00:00+00:00"}
    if api_key is not None:
        body["api_key"] = api_key
    return body


def _post(
    server: CaptureServer,
    body: Any,
    *,
    path: str = "/batch/",
    use_gzip: bool = False,
    timeout: float = 5.0,
) -> requests.Response:
    data = json.dumps(body).encode("utf-8") if not isinstance(body, bytes) else body
    headers = {"Content-Type": "application/json"}
    if use_gzip:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    return requests.post(server.url + path, data=data, headers=headers, timeout=timeout)


def _client(server: CaptureServer, **kwargs: Any) -> posthog.Posthog:
    kwargs.setdefault("gzip", True)
    return posthog.Posthog("phc_test", host=server.url, capture_mode="v0", **kwargs)


# -- lifecycle -------------------------------------------------------------------------------


def test_url_and_context_manager() -> None:
    with CaptureServer() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        assert int(srv.url.rsplit(":", 1)[1]) > 0
        assert _post(srv, _body(_event())).status_code == 200
    srv.stop()  # idempotent


def test_start_stop_explicit() -> None:
    srv = CaptureServer()
    with pytest.raises(RuntimeError):
        _ = srv.url
    srv.start()
    try:
        assert _post(srv, _body(_event())).json() == {"status": 1}
    finally:
        srv.stop()


# -- the real SDK ----------------------------------------------------------------------------


@pytest.mark.parametrize("use_gzip", [True, False])
def test_posthog_sdk_delivers(server: CaptureServer, use_gzip: bool) -> None:
    client = _client(server, gzip=use_gzip)
    try:
        client.capture("x", distinct_id="u1", properties={"a": 1})
        client.flush()
        events = server.wait_for(1, timeout=5)
    finally:
        client.shutdown()
    assert len(events) == 1
    event = events[0]
    assert event["event"] == "x"
    assert event["distinct_id"] == "u1"
    assert event["properties"]["a"] == 1
    uuid.UUID(event["uuid"])
    assert server.requests[0]["gzip"] is use_gzip
    assert server.requests[0]["api_key"] == "phc_test"
    assert server.requests[0]["path"] == "/batch/"
    assert server.requests[0]["n_events"] == 1
    assert server.requests[0]["status"] == 200
    assert server.status_counts == {200: 1}


def test_posthog_sdk_retries_after_forced_500(server: CaptureServer) -> None:
    server.respond_with(500, times=1)
    client = _client(server, max_retries=2)
    try:
        client.capture("retried", distinct_id="u1")
        client.flush()
        events = server.wait_for(1, timeout=5)
    finally:
        client.shutdown()
    assert [e["event"] for e in events] == ["retried"]
    assert server.status_counts == {500: 1, 200: 1}
    assert server.received == 2


def test_posthog_sdk_drops_on_forced_401(server: CaptureServer) -> None:
    server.respond_with(401)
    client = _client(server, max_retries=2)
    try:
        client.capture("dropped", distinct_id="u1")
        client.flush()
        assert server.wait_for_requests(1, timeout=5) == 1
    finally:
        client.shutdown()
    assert server.events == []
    assert server.status_counts == {401: 1}  # 401 is not retried by the SDK


def test_posthog_sdk_uses_expected_api_key() -> None:
    with CaptureServer(expected_api_key="phc_test") as srv:
        client = _client(srv)
        try:
            client.capture("ok", distinct_id="u1")
            client.flush()
            assert len(srv.wait_for(1, timeout=5)) == 1
        finally:
            client.shutdown()


# -- plain HTTP: accepted requests -----------------------------------------------------------


def test_gzip_and_plain_posts(server: CaptureServer) -> None:
    assert _post(server, _body(_event("plain"))).json() == {"status": 1}
    assert _post(server, _body(_event("zipped"), _event("zipped")), use_gzip=True).json() == {
        "status": 1
    }
    events = server.wait_for(3, timeout=1)
    assert [e["event"] for e in events] == ["plain", "zipped", "zipped"]
    assert [(r["gzip"], r["n_events"]) for r in server.requests] == [(False, 1), (True, 2)]
    assert len(server.events_named("zipped")) == 2
    assert server.events_named("nope") == []


@pytest.mark.parametrize("path", ["/batch/", "/batch", "/e/", "/i/v0/e/", "/batch/?ver=1"])
def test_alias_paths(server: CaptureServer, path: str) -> None:
    assert _post(server, _body(_event()), path=path).status_code == 200
    assert server.requests[0]["path"] == path.split("?")[0]


def test_event_stored_as_sent_and_optional_fields(server: CaptureServer) -> None:
    sent = _event(timestamp="2024-05-01T12:00:00Z", distinct_id=42)
    minimal = {"event": "m", "distinct_id": "u2"}
    assert _post(server, {**_body(sent, minimal), "historical_migration": True}).status_code == 200
    assert server.events == [sent, minimal]
    assert server.requests[0]["historical_migration"] is True


def test_unknown_path_is_404(server: CaptureServer) -> None:
    assert _post(server, _body(_event()), path="/capture/nope").status_code == 404
    assert requests.get(server.url + "/batch/", timeout=5).status_code == 404
    assert server.events == []
    assert server.status_counts == {404: 2}


def test_clear(server: CaptureServer) -> None:
    _post(server, _body(_event()))
    server.clear()
    assert (server.events, server.requests, server.status_counts) == ([], [], {})
    assert server.received == 0


def test_wait_for_times_out_without_raising(server: CaptureServer) -> None:
    _post(server, _body(_event()))
    assert len(server.wait_for(5, timeout=0.1)) == 1


# -- plain HTTP: rejections ------------------------------------------------------------------

_BIG = "x" * 1_000_001

REJECTIONS: list[tuple[str, Any, int, str]] = [
    ("missing api key", _body(_event(), api_key=None), 401, "missing_api_key"),
    ("empty api key", _body(_event(), api_key=""), 401, "missing_api_key"),
    ("missing batch", {"api_key": "phc_test"}, 400, "invalid_payload"),
    ("batch not a list", {"api_key": "phc_test", "batch": {}}, 400, "invalid_payload"),
    ("empty batch", _body(), 400, "empty_batch"),
    ("event not an object", _body(_event(), "x"), 400, "invalid_event"),  # type: ignore[arg-type]
    ("missing event", _body({"distinct_id": "u1"}), 400, "missing_event_name"),
    ("empty event", _body(_event("")), 400, "missing_event_name"),
    ("missing distinct_id", _body({"event": "x"}), 400, "missing_distinct_id"),
    ("blank distinct_id", _body(_event(distinct_id="  ")), 400, "missing_distinct_id"),
    ("null distinct_id", _body(_event(distinct_id=None)), 400, "missing_distinct_id"),
    ("bad uuid", _body(_event(uuid="not-a-uuid")), 400, "invalid_event"),
    ("bad timestamp", _body(_event(timestamp="yesterday")), 400, "invalid_event"),
    ("properties not an object", _body(_event(properties=[1])), 400, "invalid_event"),
    ("event over 1 MB", _body(_event(), _event(properties={"big": _BIG})), 413, "event_too_big"),
    ("not JSON", b"{nope", 400, "invalid_payload"),
    ("NaN", b'{"api_key":"k","batch":[{"event":"x","distinct_id":NaN}]}', 400, "invalid_payload"),
    ("JSON not an object", [1, 2], 400, "invalid_payload"),
]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejections_record_nothing(
    server: CaptureServer, body: Any, status: int, code: str
) -> None:
    for use_gzip in (False, True):
        res = _post(server, body, use_gzip=use_gzip)
        assert res.status_code == status
        payload = res.json()
        assert payload["code"] == code
        assert payload["type"] in ("validation_error", "authentication_error")
    assert server.events == []
    assert server.requests == []
    assert server.status_counts == {status: 2}


def test_undecodable_gzip(server: CaptureServer) -> None:
    res = requests.post(
        server.url + "/batch/",
        data=b"definitely not gzip",
        headers={"Content-Encoding": "gzip"},
        timeout=5,
    )
    assert res.status_code == 400
    assert res.json()["code"] == "invalid_payload"
    assert server.events == []


def test_rejected_batch_is_all_or_nothing(server: CaptureServer) -> None:
    assert _post(server, _body(_event("good"), _event(uuid="bad"))).status_code == 400
    assert server.events == []


def test_expected_api_key_mismatch() -> None:
    with CaptureServer(expected_api_key="phc_right") as srv:
        res = _post(srv, _body(_event(), api_key="phc_wrong"))
        assert res.status_code == 401
        assert res.json()["type"] == "authentication_error"
        assert res.json()["code"] == "invalid_api_key"
        assert _post(srv, _body(_event(), api_key="phc_right")).status_code == 200
        assert len(srv.events) == 1


# -- fault modes -----------------------------------------------------------------------------


def test_respond_with_times_then_success(server: CaptureServer) -> None:
    server.respond_with(500, times=1)
    assert _post(server, _body(_event())).status_code == 500
    assert server.events == []
    assert _post(server, _body(_event())).status_code == 200
    assert len(server.events) == 1
    assert server.status_counts == {500: 1, 200: 1}


def test_respond_with_until_reset(server: CaptureServer) -> None:
    server.respond_with(429)
    assert [_post(server, _body(_event())).status_code for _ in range(3)] == [429, 429, 429]
    server.reset_faults()
    assert _post(server, _body(_event())).status_code == 200
    assert server.status_counts == {429: 3, 200: 1}
    assert len(server.events) == 1


def test_respond_with_validates_arguments(server: CaptureServer) -> None:
    with pytest.raises(ValueError):
        server.respond_with(42)
    with pytest.raises(ValueError):
        server.respond_with(500, times=0)


def test_delay(server: CaptureServer) -> None:
    server.delay = 0.3
    start = time.monotonic()
    assert _post(server, _body(_event())).status_code == 200
    assert time.monotonic() - start >= 0.2
    with pytest.raises(requests.exceptions.ReadTimeout):
        _post(server, _body(_event()), timeout=0.05)
    server.reset_faults()
    assert server.delay == 0.0


def test_blackhole_holds_then_stop_is_prompt() -> None:
    srv = CaptureServer().start()
    srv.blackhole = True
    outcome: list[BaseException | int] = []

    def post() -> None:
        try:
            outcome.append(_post(srv, _body(_event()), timeout=30).status_code)
        except requests.RequestException as exc:
            outcome.append(exc)

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    try:
        assert srv.wait_for_requests(1, timeout=5) == 1
        time.sleep(0.1)
        assert outcome == []  # still held, unanswered
    finally:
        start = time.monotonic()
        srv.stop()
        elapsed = time.monotonic() - start
    assert elapsed < 5
    poster.join(timeout=5)
    assert not poster.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], requests.ConnectionError)
    assert srv.events == []
    assert srv.status_counts == {}


def test_blackhole_read_timeout(server: CaptureServer) -> None:
    server.blackhole = True
    with pytest.raises(requests.exceptions.ReadTimeout):
        _post(server, _body(_event()), timeout=0.2)
    server.reset_faults()
    assert _post(server, _body(_event())).status_code == 200
    assert server.received == 2
