"""The Flask integration (examples/flask_app.py) under ``gunicorn --preload --workers 3``
and under ``flask run``.

The app logs a line at import (under gunicorn, in its master, so analyticskit's worker
thread is running when gunicorn forks its workers, where a lock held at fork() would
deadlock a child). Then real requests as several users, SIGTERM to the main process, and
the count: every event once with its user, the failing request's error once with its
user, nothing of werkzeug's access lines.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from capture_server import CaptureServer
from recipes import (
    EXAMPLES,
    EventKey,
    Process,
    counts,
    free_port,
    get_all,
    gunicorn,
    python,
    received,
    recipe_env,
    report,
    running,
    wait_until_serving,
)

pytest.importorskip("flask")

USERS = ("ann", "ben", "cho", "dev", "eve")
ORDERS = 30


def test_flask_under_gunicorn_preload(capture_server: CaptureServer, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = gunicorn(
        "flask_app:app", "--preload", "--workers", "3",
        "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10",
    )  # fmt: skip
    env = recipe_env(capture_server)
    with running(args, cwd=EXAMPLES, env=env, log=tmp_path / "gunicorn.log") as process:
        wait_until_serving(process, f"{base}/healthz")
        send_requests(base)
        assert process.sigterm() == 0, process.tail()
    events = check("flask+gunicorn --preload", capture_server, process)
    # The import-time line was captured once, in the master, and sent by the master.
    [loaded] = [e for e in events if e["event"] == "info_flask_app_loaded"]
    master = process.pid
    assert loaded["properties"]["pid"] == master
    # The orders were served, and their events delivered, by forked workers.
    orders = [e for e in events if e["event"] == "info_order_placed"]
    worker_pids = {e["properties"]["pid"] for e in orders}
    assert worker_pids and master not in worker_pids
    # Which workers accept the connections is the kernel's choice: often several, not always.
    print(f"[recipe flask] orders served by {len(worker_pids)} of 3 workers")


def test_flask_run_stopped_by_sigterm(capture_server: CaptureServer, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = python(
        "-m", "flask", "--app", "flask_app", "run", "--host", "127.0.0.1", "--port", str(port)
    )
    env = recipe_env(capture_server)
    with running(args, cwd=EXAMPLES, env=env, log=tmp_path / "flask.log") as process:
        wait_until_serving(process, f"{base}/healthz")
        send_requests(base)
        # Its server keeps SIGTERM's default action (no atexit): init_app() delivers first.
        assert process.sigterm() == -signal.SIGTERM, process.tail()
    events = check("flask run", capture_server, process)
    assert {e["properties"]["pid"] for e in events if "pid" in e["properties"]} == {process.pid}


def send_requests(base: str) -> None:
    requests = [(f"{base}/orders/{i}", USERS[i % len(USERS)], None) for i in range(ORDERS)]
    statuses = get_all([*requests, (f"{base}/boom", "zoe", None)], concurrency=6)
    assert statuses == [200] * ORDERS + [500]


def check(name: str, capture_server: CaptureServer, process: Process) -> list[dict[str, Any]]:
    """Every expected event once, with its user, and nothing else (no werkzeug line)."""
    expected: Counter[EventKey] = Counter(
        {("info_order_placed", user, "shop"): ORDERS // len(USERS) for user in USERS}
    )
    expected[("info_flask_app_loaded", "<personless>", "shop")] = 1
    expected[("error_exception_on_boom_get", "zoe", "shop")] = 1
    events = received(capture_server, sum(expected.values()))
    got = counts(events)
    report(name, sum(expected.values()), events, process)
    assert got == expected, process.tail()
    orders = [e for e in events if e["event"] == "info_order_placed"]
    assert sorted(e["properties"]["order"] for e in orders) == list(range(ORDERS))
    for event in orders:
        assert event["distinct_id"] == USERS[event["properties"]["order"] % len(USERS)]
    [error] = [e for e in events if e["event"].startswith("error_")]
    assert (
        "RuntimeError: boom: the warehouse did not answer" in error["properties"]["longDescription"]
    )
    return events
