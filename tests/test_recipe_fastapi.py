"""The ASGI integration (examples/fastapi_app.py) on uvicorn, one process and ``--workers 2``.

Concurrent requests as different users, each logging across an ``await``: no event may
carry another request's user. An unhandled exception arrives as one error event with its
request's user. SIGTERM right after the last answer: uvicorn's graceful stop ends by
re-raising SIGTERM with its default action (no atexit), so what was queued arrives only
because `AnalyticsMiddleware` delivers it at the lifespan's shutdown (the app has no
lifespan code).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from capture_server import CaptureServer
from recipes import (
    EXAMPLES,
    PERSONLESS,
    EventKey,
    counts,
    free_port,
    get_all,
    python,
    received,
    recipe_env,
    report,
    running,
    wait_until_serving,
)

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ERROR = "error_exception_in_asgi_application"
USERS = ("ann", "ben", "cho", "dev", "eve")


@pytest.mark.parametrize(
    ("workers", "concurrent"), [(1, 50), (2, 50)], ids=["one-process", "workers-2"]
)
def test_fastapi_on_uvicorn(
    capture_server: CaptureServer, tmp_path: Path, workers: int, concurrent: int
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = python("-m", "uvicorn", "fastapi_app:app", "--host", "127.0.0.1", "--port", str(port))
    if workers > 1:
        args += ["--workers", str(workers)]
    env = recipe_env(capture_server)
    with running(args, cwd=EXAMPLES, env=env, log=tmp_path / "uvicorn.log") as process:
        wait_until_serving(process, f"{base}/healthz")
        requests: list[tuple[str, str | None, None]] = [
            (f"{base}/checkout/{i}", USERS[i % len(USERS)], None) for i in range(concurrent)
        ]
        requests += [(f"{base}/boom", "zoe", None), (f"{base}/boom", None, None)]
        statuses = get_all(requests, concurrency=len(requests))
        assert statuses == [200] * concurrent + [500, 500]
        status = process.sigterm()
        # One process: uvicorn re-raises SIGTERM after its graceful stop. With --workers,
        # the supervisor stops its workers that way and exits normally itself.
        assert status == (-signal.SIGTERM if workers == 1 else 0), process.tail()

    expected: Counter[EventKey] = Counter()
    for i in range(concurrent):
        expected[("info_checkout_started", USERS[i % len(USERS)], "shop")] += 1
        expected[("info_checkout_finished", USERS[i % len(USERS)], "shop")] += 1
    # The failing requests' errors, each once, with its request's user (or none).
    expected[(ERROR, "zoe", "general")] = 1
    expected[(ERROR, PERSONLESS, "general")] = 1
    events = received(capture_server, sum(expected.values()))
    got = counts(events)
    report(f"fastapi+uvicorn workers={workers}", sum(expected.values()), events, process)
    assert got == expected, process.tail()

    for event in events:
        props = event["properties"]
        if event["event"] == ERROR:
            assert props["logger"] == "asgi"
            assert props["$request_path"] == "/boom"  # posthog's request context
            assert "RuntimeError: boom: the tax service did not answer" in props["longDescription"]
        else:  # the user of the request that logged it, across the await
            assert event["distinct_id"] == USERS[props["order"] % len(USERS)]
    if workers > 1:
        pids = {e["properties"]["pid"] for e in events if "pid" in e["properties"]}
        print(f"[recipe fastapi] events from {len(pids)} worker processes")
