"""`analyticskit dev`: events sent by the real posthog SDK land in SQLite and come
back through the viewer's JSON endpoint; bad input gets PostHog's answers; a
database given by path survives a restart; the command prints what to set."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import posthog
import pytest
import requests

import analyticskit
from analyticskit._devtools.server import DevServer
from analyticskit.cli import main
from helpers import SEED, SEED_WIRE


@pytest.fixture
def dev() -> Iterator[DevServer]:
    with DevServer(port=0) as server:
        yield server


def _events(server: DevServer, **query: Any) -> list[dict[str, Any]]:
    answer = requests.get(server.url + "/api/events", params=query, timeout=5)
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["events"]
    return events


def _send_with_sdk(server: DevServer, n: int) -> None:
    analytics = analyticskit.Analytics(api_key="phc_dev", host=server.url)
    for i in range(n):
        analytics.capture_event(SEED, from_user_id=f"u{i}", properties={"i": i})
    assert analytics.flush(10)
    analytics.shutdown(2)


def test_sdk_events_land_in_sqlite_and_come_back_newest_first(dev: DevServer) -> None:
    _send_with_sdk(dev, 3)
    events = _events(dev)
    assert [e["distinct_id"] for e in events] == ["u2", "u1", "u0"]
    assert all(e["event"] == "info_fetch_all_users" for e in events)
    assert {k: events[0]["properties"][k] for k in SEED_WIRE} == SEED_WIRE
    assert events[0]["properties"]["i"] == 2 and events[0]["uuid"] and events[0]["timestamp"]
    with contextlib.closing(sqlite3.connect(dev.store.path)) as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (3,)
    newest = events[0]["id"]
    assert _events(dev, after=newest) == []
    assert [e["distinct_id"] for e in _events(dev, after=newest - 1)] == ["u2"]
    assert [e["distinct_id"] for e in _events(dev, limit=1)] == ["u2"]


def test_viewer_page_is_served(dev: DevServer) -> None:
    answer = requests.get(dev.url + "/", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "/api/" in answer.text and "textContent" in answer.text and "tab-logs" in answer.text
    assert answer.headers["X-Frame-Options"] == "DENY"


JSON = {"Content-Type": "application/json"}  # what the posthog SDK sends


def _post(server: DevServer, body: bytes, **headers: str) -> requests.Response:
    return requests.post(server.url + "/batch/", data=body, headers={**JSON, **headers}, timeout=5)


def _batch(*events: Any, api_key: Any = "phc_dev") -> bytes:
    return json.dumps({"api_key": api_key, "batch": list(events)}).encode()


GOOD = {"event": "x", "distinct_id": "u1", "properties": {"a": 1}}


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"{not json", {}, 400, "invalid_payload"),
        (b"[1, 2]", {}, 400, "invalid_payload"),
        (b'{"api_key":"k","batch":[{"event":"x","distinct_id":NaN}]}', {}, 400, "invalid_payload"),
        (b"not gzip", {"Content-Encoding": "gzip"}, 400, "invalid_payload"),
        (_batch(GOOD), {"Content-Encoding": "br"}, 400, "invalid_payload"),
        (_batch(), {}, 400, "empty_batch"),
        (_batch({"distinct_id": "u1"}), {}, 400, "missing_event_name"),
        (_batch({"event": "x"}), {}, 400, "missing_distinct_id"),
        (_batch({**GOOD, "properties": [1]}), {}, 400, "invalid_event"),
        (_batch({**GOOD, "uuid": "nope"}), {}, 400, "invalid_event"),
        (_batch({**GOOD, "timestamp": "yesterday"}), {}, 400, "invalid_event"),
        (_batch(GOOD, api_key=None), {}, 401, "missing_api_key"),
        (_batch({**GOOD, "properties": {"big": "x" * 1_000_001}}), {}, 413, "event_too_big"),
        (b"x", {"Content-Length": "-5"}, 400, "invalid_payload"),
    ],
    ids=[
        "bad-json",
        "not-object",
        "nan",
        "bad-gzip",
        "brotli",
        "empty",
        "no-name",
        "no-distinct-id",
        "properties-list",
        "bad-uuid",
        "bad-timestamp",
        "no-key",
        "too-big",
        "negative-length",
    ],
)
def test_bad_batches_get_posthogs_answers_and_store_nothing(
    dev: DevServer, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    answer = _post(dev, body, **headers)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert _events(dev) == []
    assert _post(dev, gzip.compress(_batch(GOOD)), **{"Content-Encoding": "gzip"}).json() == {
        "status": 1
    }  # still serving
    assert [e["event"] for e in _events(dev)] == ["x"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/events?after=-1", 400),
        ("/api/events?limit=5000", 400),
        ("/api/events?after=abc", 400),
        ("/nothing", 404),
    ],
)
def test_bad_queries(dev: DevServer, path: str, status: int) -> None:
    assert requests.get(dev.url + path, timeout=5).status_code == status
    assert requests.post(dev.url + "/nothing", data=b"{}", timeout=5).status_code == 404


def test_temporary_database_is_deleted_and_a_path_survives_a_restart(tmp_path: Path) -> None:
    with DevServer(port=0) as server:
        temporary = server.store.path
        assert server.temporary and os.path.exists(temporary)
    assert not os.path.exists(temporary)
    path = str(tmp_path / "events.sqlite3")
    with DevServer(port=0, db=path) as server:
        assert not server.temporary
        _send_with_sdk(server, 2)
    with DevServer(port=0, db=path) as server:
        assert [e["distinct_id"] for e in _events(server)] == ["u1", "u0"]
        _send_with_sdk(server, 1)
        assert [e["distinct_id"] for e in _events(server)] == ["u0", "u1", "u0"]
    assert os.path.exists(path)


def test_the_sdk_with_its_defaults_delivers_too(dev: DevServer) -> None:
    client = posthog.Posthog("phc_dev", host=dev.url)  # no gzip
    client.capture("plain", distinct_id="u9")
    client.flush()
    client.shutdown()
    assert [(e["event"], e["distinct_id"]) for e in _events(dev)] == [("plain", "u9")]


def _run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    return subprocess.run(
        [sys.executable, "-m", "analyticskit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_dev_command_prints_what_to_set_and_serves(tmp_path: Path) -> None:
    path = tmp_path / "kept.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "analyticskit", "dev", "--port", "0", "--db", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        url = lines[0].split(" at ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        assert f"({'events in'} {path}, kept)" in lines[0]
        assert lines[2].strip() == "export POSTHOG_API_KEY=phc_dev"
        assert lines[3].strip() == f"export POSTHOG_HOST={url}"
        answer = requests.post(url + "/batch/", data=_batch(GOOD), headers=JSON, timeout=5)
        assert answer.status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT event FROM events").fetchall() == [("x",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dev", "--port", "70000"], "port must be 0-65535"),
        (["dev", "--port", "http"], "not a port number"),
        (["check", "--timeout", "0"], "timeout must be over 0"),
        (["check", "--timeout", "soon"], "not a number of seconds"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_dev_on_a_busy_port_or_a_bad_database(
    dev: DevServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = dev.url.rsplit(":", 1)[1]
    assert main(["dev", "--port", port]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello, this is not SQLite at all" * 10)
    assert main(["dev", "--port", "0", "--db", str(not_a_db)]) == 1
    assert "cannot open the database" in capsys.readouterr().err


@pytest.mark.parametrize("command", [[], ["dev"], ["check"]])
def test_help_on_each_command(command: list[str]) -> None:
    result = _run_cli(*command, "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: analyticskit")


def test_chunked_body_is_accepted(dev: DevServer) -> None:
    body = _batch(GOOD)
    chunks = iter([body[:10], body[10:]])
    answer = requests.post(dev.url + "/batch/", data=chunks, headers=JSON, timeout=5)  # chunked
    assert answer.status_code == 200
    assert [e["event"] for e in _events(dev)] == ["x"]


@pytest.mark.parametrize(
    "headers",
    [
        "Content-Length: 30000000\r\n",
        "Transfer-Encoding: chunked\r\n\r\n1400001\r\n",
        "Content-Length: lots\r\n",
    ],
    ids=["length", "chunk", "not-a-number"],
)
def test_oversized_or_malformed_bodies_are_refused_unread(dev: DevServer, headers: str) -> None:
    host, port = dev.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            f"POST /batch/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{headers}\r\n".encode()
        )
        status_line = sock.makefile("rb").readline()
    status = 400 if "lots" in headers else 413
    assert status_line.startswith(f"HTTP/1.0 {status}".encode()), status_line
    assert _events(dev) == []
