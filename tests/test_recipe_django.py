"""The Django integration (examples/django_app), served for real by gunicorn and by runserver.

The example has only the settings entries (the app in INSTALLED_APPS, the middleware, the
handler in LOGGING): no filter, no signal code. Each test starts it in its own process on
127.0.0.1, sends real requests as different users (one with an int primary key), stops
it with SIGTERM, and counts what the capture server received: every expected event
exactly once, with its distinct id, source and name, and nothing for the 4xx answers.
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
    PERSONLESS,
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

pytest.importorskip("django")

APP_DIR = EXAMPLES / "django_app"
HELLO = "info_hello_page_viewed"


def exchange(
    process: Process, server: CaptureServer, base: str, *, hellos: int, not_found: int
) -> Counter[EventKey]:
    """Send the recipe's requests; return the events they must make, but for the server
    error's two (see `check`)."""
    wait_until_serving(process, f"{base}/healthz/")
    spoofed = {"X-POSTHOG-DISTINCT-ID": "mallory"}
    requests: list[tuple[str, str | None, dict[str, str] | None]] = [
        *[(f"{base}/hello/", "alice", None)] * hellos,
        # A client-sent distinct id header must not win over the authenticated user.
        *[(f"{base}/hello/", "bob", spoofed)] * 2,
        *[(f"{base}/hello/", None, None)] * 2,
        *[(f"{base}/hello/", "7", None)] * 2,  # an int pk
        (f"{base}/boom/", "carol", None),
        # The 4xx storm: none of these may become an event.
        *[(f"{base}/no-such-page/", "alice", None)] * not_found,
        *[(f"{base}/forbidden/", "alice", None)] * 3,
    ]
    statuses = get_all(requests, concurrency=4)
    assert Counter(statuses) == {200: hellos + 6, 500: 1, 404: not_found, 403: 3}
    expected: Counter[EventKey] = Counter(
        {
            (HELLO, "alice", "shop"): hellos,
            (HELLO, "bob", "shop"): 2,
            (HELLO, PERSONLESS, "shop"): 2,
            (HELLO, "7", "shop"): 2,
        }
    )
    return expected


def check(name: str, process: Process, server: CaptureServer, expected: Counter[EventKey]) -> None:
    """Compare what arrived with ``expected`` plus one server error and its $exception."""
    total = sum(expected.values()) + 2
    events = received(server, total)
    errors = [e for e in events if e["event"].startswith("error_")]
    exceptions = [e for e in events if e["event"] == "$exception"]
    others = [e for e in events if e not in errors and e not in exceptions]
    got = counts(others)
    report(name, total, events, process)
    assert got == expected, process.tail()

    # The 500: one error event from django.request, of the authenticated user, with a
    # meaningful id (the message template is only placeholders) and the traceback.
    assert len(errors) == 1, [e["event"] for e in events]
    [error] = errors
    props: dict[str, Any] = error["properties"]
    assert error["distinct_id"] == "carol"
    assert props["logger"] == "django.request"
    assert props["source"] == "general"
    assert props["relevancy"] == "high"
    assert error["event"] != "error_log", error["event"]
    assert "Traceback (most recent call last)" in props["longDescription"]
    assert "RuntimeError: boom: the payment provider did not answer" in props["longDescription"]
    assert props["$request_path"] == "/boom/"  # posthog's middleware context travelled

    # posthog's middleware sent the exception to Error Tracking through the shared client.
    assert len(exceptions) == 1, [e["event"] for e in events]
    assert exceptions[0]["distinct_id"] == "carol"

    # Nothing from the 4xx answers, whatever its name or level.
    assert not [e for e in events if e["properties"].get("status_code", 500) < 500]
    for event in others:
        assert event["properties"]["$request_path"] == "/hello/"
        assert event["properties"]["logger"] == "mysite.views"


def test_django_under_gunicorn(capture_server: CaptureServer, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    port = free_port()
    args = gunicorn(
        "mysite.wsgi", "--bind", f"127.0.0.1:{port}",
        "--workers", "2", "--graceful-timeout", "10",
    )  # fmt: skip
    env = recipe_env(capture_server)
    with running(args, cwd=APP_DIR, env=env, log=tmp_path / "gunicorn.log") as process:
        expected = exchange(
            process, capture_server, f"http://127.0.0.1:{port}", hellos=6, not_found=20
        )
        status = process.sigterm()
        assert status == 0, process.tail()
        check("django+gunicorn", process, capture_server, expected)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_django_runserver_stopped(
    capture_server: CaptureServer, tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    args = python("manage.py", "runserver", "--noreload", f"127.0.0.1:{port}")
    env = recipe_env(capture_server)
    with running(args, cwd=APP_DIR, env=env, log=tmp_path / "runserver.log") as process:
        expected = exchange(
            process, capture_server, f"http://127.0.0.1:{port}", hellos=2, not_found=5
        )
        # The events are still queued (the SDK sends every 5 s). SIGTERM with its default
        # action would lose them: analyticskit's app in INSTALLED_APPS delivers them first,
        # then the process dies by SIGTERM. Ctrl-C (SIGINT) ends it normally.
        if stop == signal.SIGTERM:
            assert process.sigterm() == -signal.SIGTERM, process.tail()
        else:
            process.proc.send_signal(stop)
            assert process.wait(30) in (0, 1), process.tail()
        check(f"django+runserver {stop.name}", process, capture_server, expected)
