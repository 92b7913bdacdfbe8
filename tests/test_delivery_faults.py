"""Delivery under faults: PostHog down, slow, black-holed, 401, 500 then 200, a burst.

Each fault runs in a fresh interpreter against the capture server (or a closed
port), exits the way an application does, and prints the counters from an exit
hook registered before analyticskit is configured (so it runs after
analyticskit's own). The assertions are about what the application sees: its
log calls return at once, the process exits within the shutdown deadline (plus a
generous margin), the counters account for every event, stderr carries one line
from analyticskit naming the host, and the API key is never printed.

Run with ``-s`` to see each fault's exit time and counters.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import posthog
import pytest

import analyticskit
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import RunPython

N_EVENTS = 20
DEADLINE = 2.0
MARGIN = 5.0  # seconds allowed past the deadline for interpreter start and exit

# The exit hook is registered first, before logging or analyticskit is imported,
# so it runs last at exit: after analyticskit's shutdown and logging.shutdown.
_PRELUDE = """
import atexit, json, sys, time
T0 = time.monotonic()
STATE = {}

def _report():
    late = STATE.get("late")
    if late is not None:
        late()
    stats = STATE["stats"]()
    print("STATS " + json.dumps({
        "emitted": stats.emitted, "queued": stats.queued, "sent": stats.sent,
        "failed": stats.failed, "pending": stats.pending, "dropped": dict(stats.dropped),
        "exit_at": round(time.monotonic() - T0, 3),
    }), flush=True)

atexit.register(_report)
"""

_CAPTURE_DOOR = """
import analyticskit
analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout={deadline!r})
STATE["stats"] = analyticskit.stats
slowest = 0.0
start = time.monotonic()
for i in range({n}):
    t = time.monotonic()
    analyticskit.capture_event({{"eventType": "info", "id": "fault_event", "source": "db"}},
                               properties={{"i": i}})
    slowest = max(slowest, time.monotonic() - t)
print("CALLS " + json.dumps({{"total": time.monotonic() - start, "slowest": slowest}}), flush=True)
"""

_HANDLER_DOOR = """
import logging
import analyticskit
handler = analyticskit.PostHogHandler(api_key={key!r}, host={host!r}, shutdown_timeout={deadline!r})
log = logging.getLogger("app.auth")
log.addHandler(handler)
log.setLevel(logging.INFO)
log.propagate = False
STATE["stats"] = handler.stats
slowest = 0.0
start = time.monotonic()
for i in range({n}):
    t = time.monotonic()
    log.info("user %s did %s", "u_%d" % i, "login", extra={{"uid": "u_%d" % i, "source": "auth"}})
    slowest = max(slowest, time.monotonic() - t)
print("CALLS " + json.dumps({{"total": time.monotonic() - start, "slowest": slowest}}), flush=True)
"""


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def script(
    host: str, *, door: str = "capture", n: int = N_EVENTS, deadline: float = DEADLINE
) -> str:
    body = _CAPTURE_DOOR if door == "capture" else _HANDLER_DOOR
    return _PRELUDE + body.format(key=API_KEY, host=host, deadline=deadline, n=n)


class Run:
    """One finished subprocess: wall time, counters, log-call timings, stderr lines."""

    def __init__(self, name: str, proc: subprocess.CompletedProcess[str], wall: float) -> None:
        self.name = name
        self.proc = proc
        self.wall = wall
        self.stats: dict[str, Any] = {}
        self.calls: dict[str, float] = {}
        for line in proc.stdout.splitlines():
            if line.startswith("STATS "):
                self.stats = json.loads(line[len("STATS ") :])
            elif line.startswith("CALLS "):
                self.calls = json.loads(line[len("CALLS ") :])
        self.stderr_lines = [line for line in proc.stderr.splitlines() if line.strip()]
        self.own_lines = [line for line in self.stderr_lines if line.startswith("analyticskit:")]
        self.sdk_lines = [line for line in self.stderr_lines if line.startswith("[PostHog]")]

    def print_figures(self) -> None:
        s = self.stats
        dropped = {k: v for k, v in s.get("dropped", {}).items() if v}
        print(
            f"\n[fault] {self.name}: exit {self.wall:.2f}s (hook at {s.get('exit_at')}s),"
            f" log calls {self.calls.get('total', float('nan')) * 1000:.1f} ms total /"
            f" {self.calls.get('slowest', float('nan')) * 1000:.2f} ms slowest;"
            f" emitted={s.get('emitted')} queued={s.get('queued')} sent={s.get('sent')}"
            f" failed={s.get('failed')} pending={s.get('pending')} dropped={dropped};"
            f" stderr: {len(self.own_lines)} analyticskit line(s),"
            f" {len(self.sdk_lines)} posthog SDK line(s)"
        )
        for line in self.stderr_lines:
            print(f"    stderr| {line}")

    def check_common(self, n: int, deadline: float) -> None:
        """What holds whatever the fault."""
        assert self.proc.returncode == 0, self.proc.stderr
        assert "Traceback" not in self.proc.stderr, self.proc.stderr
        assert API_KEY not in self.proc.stdout and API_KEY not in self.proc.stderr
        assert self.stats, f"no counters printed; stdout={self.proc.stdout!r}"
        assert self.calls, "the log calls did not complete"
        # The log calls only enqueue: generous bound, 20 calls in well under a second.
        assert self.calls["total"] < 1.0, self.calls
        assert self.wall < deadline + MARGIN, f"exit took {self.wall:.2f}s"
        s = self.stats
        assert s["emitted"] == n
        assert s["pending"] == 0  # frozen at shutdown: nothing is left uncounted
        total = s["sent"] + s["failed"] + s["pending"] + sum(s["dropped"].values())
        assert s["emitted"] == total, s

    def one_own_line_naming(self, host: str, *, alone: bool = False) -> str:
        assert len(self.own_lines) == 1, self.stderr_lines
        if alone:  # nothing else on stderr either, the SDK's own logger included
            assert self.stderr_lines == self.own_lines, self.stderr_lines
        line = self.own_lines[0]
        assert host.split("//", 1)[1] in line, line
        return line


def run_fault(run_python: RunPython, name: str, code: str, *, deadline: float = DEADLINE) -> Run:
    start = time.monotonic()
    proc = run_python(code, timeout=deadline + 60)
    result = Run(name, proc, time.monotonic() - start)
    result.print_figures()
    return result


@pytest.mark.parametrize("door", ["capture", "handler"])
def test_posthog_down_exits_at_the_deadline_and_counts_everything(
    run_python: RunPython, door: str
) -> None:
    host = closed_port_url()
    run = run_fault(run_python, f"down ({door})", script(host, door=door))
    run.check_common(N_EVENTS, DEADLINE)
    s = run.stats
    assert s["sent"] == 0
    assert s["dropped"]["timeout"] + s["failed"] == N_EVENTS
    line = run.one_own_line_naming(host, alone=True)
    assert "timeout" in line or "failed" in line or "could not deliver" in line


@pytest.mark.parametrize("door", ["capture", "handler"])
def test_black_hole_exits_at_the_deadline(
    run_python: RunPython, capture_server: CaptureServer, door: str
) -> None:
    capture_server.blackhole = True
    run = run_fault(run_python, f"black hole ({door})", script(capture_server.url, door=door))
    run.check_common(N_EVENTS, DEADLINE)
    s = run.stats
    assert s["sent"] == 0
    assert s["dropped"]["timeout"] + s["failed"] == N_EVENTS
    assert capture_server.received >= 1  # the SDK did try
    assert capture_server.events == []
    run.one_own_line_naming(capture_server.url, alone=True)


def test_slow_server_past_the_deadline_counts_timeouts(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    # Each request takes 3 s: longer than the 2 s deadline, so nothing is confirmed.
    capture_server.delay = 3.0
    run = run_fault(run_python, "slow 3s/request, deadline 2s", script(capture_server.url))
    run.check_common(N_EVENTS, DEADLINE)
    s = run.stats
    assert s["sent"] == 0
    assert s["dropped"]["timeout"] == N_EVENTS
    run.one_own_line_naming(capture_server.url, alone=True)
    # The request had left the process: the server still records it after its
    # delay. "timeout" means "not confirmed at the deadline", not "never arrived".
    arrived = capture_server.wait_for(N_EVENTS, timeout=5)
    print(f"    (slow server recorded {len(arrived)} of the events counted as timeout)")


def test_slow_server_within_the_deadline_delivers_everything(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    capture_server.delay = 1.0
    run = run_fault(
        run_python,
        "slow 1s/request, deadline 5s",
        script(capture_server.url, deadline=5.0),
        deadline=5.0,
    )
    run.check_common(N_EVENTS, 5.0)
    assert run.stats["sent"] == N_EVENTS
    assert run.own_lines == []
    assert len(capture_server.wait_for(N_EVENTS, timeout=5)) == N_EVENTS


@pytest.mark.parametrize("door", ["capture", "handler"])
def test_401_is_counted_as_rejected_and_reported_once(
    run_python: RunPython, capture_server: CaptureServer, door: str
) -> None:
    capture_server.respond_with(401)
    run = run_fault(run_python, f"401 ({door})", script(capture_server.url, door=door))
    run.check_common(N_EVENTS, DEADLINE)
    s = run.stats
    assert s["dropped"]["rejected"] == N_EVENTS
    assert s["sent"] == 0 and s["failed"] == 0 and s["dropped"]["timeout"] == 0
    line = run.one_own_line_naming(capture_server.url)
    assert "401" in line
    assert capture_server.status_counts == {401: 1}  # 4xx is not retried
    assert capture_server.events == []


def test_500_then_200_delivers_everything_after_retries(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    # Two 500s: the SDK backs off 1 s, then 2 s, and the third attempt succeeds.
    capture_server.respond_with(500, times=2)
    deadline = 8.0
    run = run_fault(
        run_python,
        "500, 500, then 200",
        script(capture_server.url, deadline=deadline),
        deadline=deadline,
    )
    run.check_common(N_EVENTS, deadline)
    s = run.stats
    assert s["sent"] == N_EVENTS
    assert s["failed"] == 0 and sum(s["dropped"].values()) == 0
    assert run.own_lines == []
    assert capture_server.status_counts == {500: 2, 200: 1}
    events = capture_server.wait_for(N_EVENTS, timeout=2)
    assert len(events) == N_EVENTS
    assert len({e["uuid"] for e in events}) == N_EVENTS  # retried once, recorded once


# -- a burst past max_queued ----------------------------------------------------------------


def _identity_holds(stats: analyticskit.Stats) -> bool:
    return stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total


@pytest.mark.parametrize(
    ("status", "counted_as"),
    [(400, "rejected"), (413, "rejected"), (429, "failed")],
)
def test_a_refusal_is_rejected_and_rate_limiting_failed(
    capture_server: CaptureServer,
    make_analytics: Callable[..., analyticskit.Analytics],
    status: int,
    counted_as: str,
) -> None:
    # 4xx means "never": no retry, dropped as rejected. 429 means "not now": the SDK
    # retries (3 times, with backoff: about 7 s), then the batch has failed.
    capture_server.respond_with(status)
    analytics = make_analytics()
    for i in range(3):
        analytics.capture_event({"eventType": "info", "id": "refused", "source": "db"}, f"u{i}")
    analytics.flush(timeout=20)

    stats = analytics.stats()
    rejected, failed = stats.dropped["rejected"], stats.failed
    assert (rejected, failed) == ((3, 0) if counted_as == "rejected" else (0, 3)), stats
    assert stats.sent == 0 and stats.pending == 0
    assert capture_server.status_counts == {status: 1 if counted_as == "rejected" else 4}


def test_burst_past_the_limit_with_posthog_black_holed(
    capture_server: CaptureServer, make_analytics: Callable[..., analyticskit.Analytics]
) -> None:
    capture_server.blackhole = True
    analytics = make_analytics(max_queued=100, shutdown_timeout=1)
    data = analyticskit.EventData(event_type="info", id="burst", source="db")
    start = time.monotonic()
    uuids = [analytics.capture_event(data) for _ in range(1000)]
    took = time.monotonic() - start
    accepted = sum(u is not None for u in uuids)
    analytics.flush(0.5)  # let the worker hand over what it can; the server never answers
    before = analytics.stats()
    final = analytics.shutdown(1)
    print(
        f"\n[fault] burst 1000 into max_queued=100, black hole: captures {took * 1000:.1f} ms;"
        f" accepted={accepted} before shutdown={before} final={final}"
    )
    assert took < 5.0
    assert before.emitted == 1000 and final.emitted == 1000
    assert _identity_holds(before), before
    assert _identity_holds(final), final
    # What was refused is exactly what capture_event returned None for.
    assert final.dropped["buffer_full"] == 1000 - accepted
    assert 50 <= accepted <= 100  # the limit holds for a single capturing thread
    # Nothing reached the server: everything accepted timed out at shutdown.
    assert capture_server.events == []
    assert final.sent == 0
    assert final.dropped["timeout"] + final.failed == accepted
    assert final.dropped["buffer_full"] + final.dropped["timeout"] + final.failed == 1000


def test_burst_past_the_limit_with_a_slow_server_is_counted_exactly(
    capture_server: CaptureServer, make_analytics: Callable[..., analyticskit.Analytics]
) -> None:
    # A slow (not dead) server: what is accepted eventually arrives, so the
    # buffer_full count can be checked against what the server never saw.
    capture_server.delay = 0.3
    analytics = make_analytics(max_queued=100, shutdown_timeout=10)
    data = analyticskit.EventData(event_type="info", id="burst", source="db")
    uuids = [analytics.capture_event(data) for _ in range(1000)]
    accepted = {u for u in uuids if u is not None}
    assert analytics.flush(15)
    stats = analytics.stats()
    events = capture_server.wait_for(len(accepted), timeout=10)
    print(f"\n[fault] burst 1000 into max_queued=100, slow 0.3 s server: {stats}")
    received = Counter(e["uuid"] for e in events)
    assert set(received) == accepted
    assert max(received.values()) == 1
    assert stats.emitted == 1000
    assert stats.sent == len(events)
    assert stats.dropped["buffer_full"] == 1000 - len(events)
    assert stats.dropped_total == stats.dropped["buffer_full"]
    assert _identity_holds(stats), stats


# -- records logged during exit, after analyticskit's own exit hook ----------------------------


@pytest.mark.parametrize("door", ["capture", "handler"])
def test_records_logged_after_shutdown_at_exit_are_counted(
    run_python: RunPython, capture_server: CaptureServer, door: str
) -> None:
    late = """
def _late():
    import logging
    log = logging.getLogger("app.auth")
    for i in range(5):
        log.info("late record %s", i, extra={"uid": "u_late"})
    if CAPTURES:
        for i in range(3):
            analyticskit.capture_event({"eventType": "error", "id": "late_event"})
STATE["late"] = _late
"""
    code = script(capture_server.url, door=door) + late
    if door == "capture":
        # install() attaches a handler delivering through the configured default
        # instance: the late records and captures all reach that instance.
        code += "\nCAPTURES = True\nimport logging\nanalyticskit.install()\n"
    else:
        code += "\nCAPTURES = False\n"
    run = run_fault(run_python, f"logged during exit ({door})", code)
    late_count = 8
    s = run.stats
    assert run.proc.returncode == 0, run.proc.stderr
    assert "Traceback" not in run.proc.stderr, run.proc.stderr
    assert API_KEY not in run.proc.stdout + run.proc.stderr
    assert s["sent"] == N_EVENTS
    if door == "capture":
        # The 3 captures and the 5 records all reach the (shut down) default instance.
        assert s["dropped"]["after_shutdown"] == late_count
        assert s["emitted"] == N_EVENTS + late_count
    else:
        # The handler owns its instance (closed by its own exit hook): 5 late records.
        assert s["dropped"]["after_shutdown"] == 5
        assert s["emitted"] == N_EVENTS + 5
    total = s["sent"] + s["failed"] + s["pending"] + sum(s["dropped"].values())
    assert s["emitted"] == total
    assert len(capture_server.wait_for(N_EVENTS, timeout=2)) == N_EVENTS
    assert {e["event"] for e in capture_server.events} <= {"info_fault_event", "info_user_did"}


def test_shutdown_is_idempotent_and_never_deadlocks(
    capture_server: CaptureServer, make_analytics: Callable[..., analyticskit.Analytics]
) -> None:
    # A second shutdown (handler.close() after the exit hook, configure() over a
    # shut-down default) must return the frozen counters, not block.
    analytics = make_analytics(shutdown_timeout=2)
    analytics.capture_event({"eventType": "info", "id": "once"})
    first = analytics.shutdown()
    results: list[analyticskit.Stats] = []
    second = threading.Thread(target=lambda: results.append(analytics.shutdown()), daemon=True)
    second.start()
    second.join(5)
    assert not second.is_alive(), "a second shutdown() deadlocked"
    assert results == [first]
    assert first.sent == 1
    assert analytics.stats() == first
    assert analytics.capture_event({"eventType": "info", "id": "late"}) is None
    assert analytics.stats().dropped["after_shutdown"] == 1


@pytest.mark.parametrize("door", ["capture", "handler"])
def test_one_event_then_exit_is_delivered(
    run_python: RunPython, capture_server: CaptureServer, door: str
) -> None:
    # The quickstart: capture one event and let the script end. The exit hook
    # must wait for the worker's first pass (it used to see it as idle).
    run = run_fault(
        run_python, f"one event then exit ({door})", script(capture_server.url, door=door, n=1)
    )
    run.check_common(1, DEADLINE)
    assert run.stats["sent"] == 1
    assert len(capture_server.wait_for(1, timeout=2)) == 1


def test_deadline_with_events_still_in_the_buffer_counts_each_once(
    capture_server: CaptureServer, make_analytics: Callable[..., analyticskit.Analytics]
) -> None:
    # A slow hand-over (a before_send that takes 20 ms) leaves most events in
    # analyticskit's own buffer at the deadline: they are counted as timeout,
    # once, and the counters still add up.
    def slow_before_send(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.02)
        return event

    client = posthog.Posthog(API_KEY, host=capture_server.url, before_send=slow_before_send)
    try:
        analytics = make_analytics(client=client, shutdown_timeout=0.5)
        for _ in range(100):
            analytics.capture_event({"eventType": "info", "id": "slow_handover"})
        start = time.monotonic()
        final = analytics.shutdown()
        took = time.monotonic() - start
        print(f"\n[fault] slow hand-over, deadline 0.5 s: shutdown {took:.2f}s, {final}")
        assert took < 0.5 + 2.0
        assert final.emitted == 100 and final.queued == 100
        assert final.dropped["timeout"] > 0
        # The event in the SDK's slow before_send at the deadline is counted as such.
        stuck = final.dropped["in_user_code"]
        assert final.sent + final.dropped["timeout"] + stuck == 100
        assert _identity_holds(final), final
        assert analytics.stats() == final
    finally:
        client.shutdown()
    # What the server saw was counted as sent (or, handed over after the
    # deadline, as timeout): never more arrivals than sent + timeout.
    assert final.sent <= len(capture_server.events) <= 100
