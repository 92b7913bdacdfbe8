"""`analyticskit dev` is safe to leave running: a gzip bomb is refused without being
inflated, every line read is bounded, web pages cannot read or write it (Host,
Origin, content types), its database stays under its limit, idle connections time
out and the number served at once is bounded, and a burst of more than a page of
events is all there, page after page."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
import requests

from analyticskit._devtools import server as _devserver
from analyticskit._devtools.capture_contract import MAX_LINE, Rejected, read_body
from analyticskit._devtools.server import MAX_BODY_BYTES, MAX_CONNECTIONS, DevServer

JSON = {"Content-Type": "application/json"}
GOOD = {"event": "x", "distinct_id": "u1", "properties": {"a": 1}}


@pytest.fixture
def dev() -> Iterator[DevServer]:
    with DevServer(port=0) as server:
        yield server


def _batch(*events: Any) -> bytes:
    return json.dumps({"api_key": "phc_dev", "batch": list(events)}).encode()


def _page(server: DevServer, kind: str = "events", **query: Any) -> dict[str, Any]:
    answer = requests.get(f"{server.url}/api/{kind}", params=query, timeout=5)
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return page


def _address(server: DevServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def test_a_gzip_bomb_is_refused_without_inflating_it(dev: DevServer) -> None:
    member = gzip.compress(b"\0" * (1 << 20), 9)  # 1 MiB of zeros in about 1 KB
    bomb = member * 1024  # about 1 MB that inflates to 1 GiB
    assert len(bomb) < 2 * (1 << 20)
    headers = {**JSON, "Content-Encoding": "gzip"}
    tracemalloc.start()
    try:
        answer = requests.post(dev.url + "/batch/", data=bomb, headers=headers, timeout=30)
        logs = requests.post(
            dev.url + "/i/v1/logs",
            data=bomb,
            headers={**headers, "Authorization": "Bearer phc_dev"},
            timeout=30,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 413 and "inflates past" in answer.json()["detail"]
    assert logs.status_code == 413
    assert peak < 3 * MAX_BODY_BYTES  # bounded by the cap, not by the 1 GiB inside
    assert _page(dev)["total"] == 0


class _EndlessLine:
    """A client that sends one endless line: a reader that must be asked for a
    bounded amount, or it would buffer forever."""

    def readline(self, size: int = -1, /) -> bytes:
        assert 0 < size <= 64 * 1024, f"unbounded readline({size})"
        return b"1" * size

    def read(self, size: int, /) -> bytes:
        raise AssertionError("no body to read before the chunk size")


def test_every_readline_is_bounded() -> None:
    headers = Message()
    headers["Transfer-Encoding"] = "chunked"
    with pytest.raises(Rejected) as refused:
        read_body(_EndlessLine(), headers, MAX_BODY_BYTES)
    assert refused.value.status == 400
    assert f"over {MAX_LINE} bytes" in refused.value.body["detail"]
    trailers = io.BytesIO(b"0\r\n" + b"X-Trailer: 1\r\n" * 100 + b"\r\n")
    with pytest.raises(Rejected, match="too many trailer lines"):
        read_body(trailers, headers, MAX_BODY_BYTES)


def test_a_long_chunk_size_line_is_refused_over_http(dev: DevServer) -> None:
    host, port = _address(dev)
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            f"POST /batch/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"1" * (64 * 1024)
            + b"\r\n"
        )
        status_line = sock.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.0 400"), status_line
    assert _page(dev)["total"] == 0


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("evil.example", False),
        ("evil.example:8000", False),
        ("127.0.0.1.nip.io", False),
        ("localhost", True),
        ("localhost:8000", True),
        ("app.localhost:8000", True),
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("10.0.0.5", True),
        ("devserver:8000", True),  # allowed_hosts
    ],
)
def test_only_requests_for_this_server_are_answered(host: str, allowed: bool) -> None:
    with DevServer(port=0, allowed_hosts=["DevServer"]) as server:
        requests.post(server.url + "/batch/", data=_batch(GOOD), headers=JSON, timeout=5)
        for method in ("GET", "POST", "DELETE"):
            answer = requests.request(
                method,
                server.url + ("/batch/" if method == "POST" else "/api/events"),
                data=_batch(GOOD) if method == "POST" else None,
                headers={**JSON, "Host": host},
                timeout=5,
            )
            assert (answer.status_code != 403) == allowed, (method, answer.text)
            if not allowed:
                assert "--allow-host" in answer.json()["detail"]
        assert _page(server)["total"] == (0 if allowed else 1)  # DELETE cleared it, or not


def test_other_pages_cannot_read_or_write(dev: DevServer) -> None:
    evil = {"Origin": "http://evil.example"}
    assert requests.get(dev.url + "/api/events", headers=evil, timeout=5).status_code == 403
    assert requests.get(dev.url + "/api/logs", headers=evil, timeout=5).status_code == 403
    post = requests.post(
        dev.url + "/batch/", data=_batch(GOOD), headers={**JSON, **evil}, timeout=5
    )
    assert post.status_code == 403
    preflight = requests.options(
        dev.url + "/batch/",
        headers={**evil, "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert not preflight.ok and "Access-Control-Allow-Origin" not in preflight.headers
    own = {"Origin": dev.url}  # the viewer's own requests
    assert requests.get(dev.url + "/api/events", headers=own, timeout=5).status_code == 200
    assert requests.delete(dev.url + "/api/events", headers=own, timeout=5).status_code == 200
    assert _page(dev)["total"] == 0


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/batch/", "text/plain"),  # what a page's form or no-cors fetch can send
        ("/batch/", "application/x-www-form-urlencoded"),
        ("/batch/", "multipart/form-data; boundary=x"),
        ("/batch/", None),
        ("/batch/", "application/x-protobuf"),
        ("/i/v1/logs", "text/plain"),
        ("/i/v1/logs", None),
    ],
)
def test_only_the_sdks_content_types_are_accepted(
    dev: DevServer, path: str, content_type: str | None
) -> None:
    headers = {"Authorization": "Bearer phc_dev"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = requests.post(dev.url + path, data=_batch(GOOD), headers=headers, timeout=5)
    assert answer.status_code == 415 and answer.json()["code"] == "unsupported_media_type"
    assert _page(dev)["total"] == 0 and _page(dev, "logs")["total"] == 0


def test_the_database_stays_under_its_limit(tmp_path: Any) -> None:
    path = str(tmp_path / "small.sqlite3")
    limit = 256 * 1024
    big: dict[str, Any] = {"event": "big", "distinct_id": "u", "properties": {"pad": "x" * 1000}}
    sent = 0
    with DevServer(port=0, db=path, max_db_bytes=limit) as server:
        for i in range(40):
            batch = [{**big, "properties": {**big["properties"], "i": i}}] * 20
            answer = requests.post(
                server.url + "/batch/", data=_batch(*batch), headers=JSON, timeout=10
            )
            assert answer.status_code == 200, answer.text
            sent += len(batch)
        page = _page(server, limit=1)
        counts = requests.get(server.url + "/api/counts", timeout=5).json()
        assert os.path.getsize(path) <= limit
        assert page["dropped"] > 0 and page["total"] + page["dropped"] == sent
        assert counts["events"] == page["total"] and counts["dropped"]["events"] == page["dropped"]
        assert page["events"][0]["properties"]["i"] == 39  # the newest are kept
        too_big = [{**big, "properties": {"pad": "y" * 200_000}}] * 2
        answer = requests.post(
            server.url + "/batch/", data=_batch(*too_big), headers=JSON, timeout=10
        )
        assert answer.status_code == 507 and "size limit" in answer.json()["detail"]


def test_connections_are_bounded_and_idle_ones_time_out(
    dev: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = _address(dev)
    with contextlib.ExitStack() as stack:
        idle = [
            stack.enter_context(socket.create_connection(address, timeout=10))
            for _ in range(MAX_CONNECTIONS)
        ]
        with socket.create_connection(address, timeout=10) as extra:
            extra.sendall(b"GET /api/counts HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            assert extra.makefile("rb").readline().startswith(b"HTTP/1.0 503")
        assert len(idle) == MAX_CONNECTIONS
    # The slots are free again once those connections have gone.
    for _ in range(100):
        if requests.get(dev.url + "/api/counts", timeout=5).status_code == 200:
            break
    assert requests.get(dev.url + "/api/counts", timeout=5).status_code == 200
    monkeypatch.setattr(_devserver._Handler, "timeout", 0.2)
    with socket.create_connection(address, timeout=10) as silent:
        assert silent.recv(1) == b""  # the server hung up on a client that said nothing
    monkeypatch.setattr(_devserver._Handler, "timeout", 5)
    monkeypatch.setattr(_devserver._Handler, "deadline", 0.5)
    with socket.create_connection(address, timeout=10) as trickle:
        trickle.sendall(b"POST /batch/ HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Slow: ")
        cut_off = False
        for _ in range(200):  # a byte every 0.05 s, never silent for the timeout
            try:
                trickle.sendall(b"a")
            except OSError:
                cut_off = True
                break
            trickle.settimeout(0.05)
            try:
                if trickle.recv(1) == b"":
                    cut_off = True
                    break
            except TimeoutError:
                pass
        assert cut_off  # cut off at the deadline however it trickles


def test_a_burst_larger_than_a_page_is_all_there(dev: DevServer) -> None:
    burst = [{**GOOD, "properties": {"i": i}} for i in range(2500)]
    for start in range(0, 2500, 500):
        answer = requests.post(
            dev.url + "/batch/", data=_batch(*burst[start : start + 500]), headers=JSON, timeout=10
        )
        assert answer.status_code == 200
    newest = _page(dev)
    assert (len(newest["events"]), newest["total"], newest["more"]) == (1000, 2500, True)
    assert newest["events"][0]["properties"]["i"] == 2499
    seen: list[int] = []
    after = 0
    for _ in range(10):  # forward, as the viewer polls: oldest rows first, none skipped
        page = _page(dev, after=after)
        if not page["events"]:
            break
        seen.extend(e["properties"]["i"] for e in reversed(page["events"]))
        after = page["events"][0]["id"]
    assert seen == list(range(2500))
    back: list[int] = []
    before = newest["events"][-1]["id"]
    for _ in range(10):  # and back, from the oldest on screen
        page = _page(dev, before=before)
        back.extend(e["properties"]["i"] for e in page["events"])
        if not page["more"]:
            break
        before = page["events"][-1]["id"]
    assert back == list(range(1499, -1, -1))


def test_sigterm_removes_the_temporary_database() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "analyticskit", "dev", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        path = first.split("(events in ", 1)[1].split(", deleted at exit)", 1)[0]
        assert os.path.exists(path), first
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert not os.path.exists(path)
