"""The Flask recipe (examples/flask_app.py) under ``gunicorn --preload --workers 3``.

The app logs a line at import, in gunicorn's master, so analyticskit's worker thread is
running when gunicorn forks its workers (where a lock held at fork() would deadlock a
child). Then real requests as several users, SIGTERM to the master, and the count.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from capture_server import CaptureServer
from recipes import (
    EXAMPLES,
    EventKey,
    counts,
    free_port,
    get_all,
    gunicorn,
    received,
    recipe_env,
    report,
    running,
    wait_until_serving,
)

pytest.importorskip("flask")
pytest.importorskip("gunicorn")

USERS = ("ann", "ben", "cho", "dev", "eve")
ORDERS = 30


def test_flask_under_gunicorn_preload(capture_server: CaptureServer, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = gunicorn(
        "flask_app:app", "--preload", "--workers", "3",
        "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "10",
    )  # fmt: skip
    env = recipe_env(capture_server)
    with running(args, cwd=EXAMPLES, env=env, log=tmp_path / "gunicorn.log") as process:
        wait_until_serving(process, f"{base}/healthz")
        requests = [(f"{base}/orders/{i}", USERS[i % len(USERS)], None) for i in range(ORDERS)]
        statuses = get_all([*requests, (f"{base}/boom", "zoe", None)], concurrency=6)
        assert statuses == [200] * ORDERS + [500]
        assert process.sigterm() == 0, process.tail()

    expected: Counter[EventKey] = Counter(
        {("info_order_placed", user, "shop"): ORDERS // len(USERS) for user in USERS}
    )
    expected[("info_flask_app_loaded", "<personless>", "shop")] = 1
    expected[("error_exception_on_get", "zoe", "shop")] = 1
    events = received(capture_server, sum(expected.values()))
    got = counts(events)
    report("flask+gunicorn --preload", sum(expected.values()), events, process)
    assert got == expected, process.tail()

    # The import-time line was captured once, in the master, and sent by the master.
    [loaded] = [e for e in events if e["event"] == "info_flask_app_loaded"]
    master = process.pid
    assert loaded["properties"]["pid"] == master
    # The orders were served, and their events delivered, by forked workers.
    orders = [e for e in events if e["event"] == "info_order_placed"]
    assert sorted(e["properties"]["order"] for e in orders) == list(range(ORDERS))
    for event in orders:
        assert event["distinct_id"] == USERS[event["properties"]["order"] % len(USERS)]
    worker_pids = {e["properties"]["pid"] for e in orders}
    assert worker_pids and master not in worker_pids
    # Which workers accept the connections is the kernel's choice: often several, not always.
    print(f"[recipe flask] orders served by {len(worker_pids)} of 3 workers")

    [error] = [e for e in events if e["event"].startswith("error_")]
    assert (
        "RuntimeError: boom: the warehouse did not answer" in error["properties"]["longDescription"]
    )
