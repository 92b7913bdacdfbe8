"""The counters: every event counted once, the sum always balanced, never a deadlock.

The first tests drive `Counters` directly through its transitions; the others
check the same promises on a real `Analytics` object delivering over HTTP.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Any

import posthog

from analyticskit import Stats
from analyticskit._engine.counters import Counters, SinkLoss
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import MakeAnalytics, RunPython


def balanced(stats: Stats) -> bool:
    return stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total


def test_random_transitions_keep_every_event_in_exactly_one_bucket() -> None:
    rng = random.Random(7)
    counters: Counters[int] = Counters()
    buffer: deque[int] = deque()
    in_sink = 0  # handed over, neither sent nor lost yet
    model = {"emitted": 0, "sent": 0, "failed": 0, "rejected": 0, "refused": 0, "lost": 0}
    for step in range(5_000):
        action = rng.choice(["emit", "emit", "refuse", "take", "sink_done", "sink_lost"])
        if action == "emit":
            buffer.append(step)
            model["emitted"] += 1
        elif action == "refuse":
            counters.refused("buffer_full")
            model["emitted"] += 1
            model["refused"] += 1
        elif action == "take" and counters.take(buffer) is not None:
            outcome = rng.choice(["one", "two", "lost"])
            if outcome == "lost":
                counters.lost("invalid")
                model["lost"] += 1
            else:
                events = 2 if outcome == "two" else 1  # an error record and its $exception
                counters.handed(events)
                model["emitted"] += events - 1
                in_sink += events
        elif action == "sink_done" and in_sink:
            in_sink -= 1
            model["sent"] += 1
        elif action == "sink_lost" and in_sink:
            kind: SinkLoss = rng.choice(["failed", "rejected"])
            in_sink -= 1
            counters.sink_lost(kind, 1)
            model[kind] += 1
        stats = counters.snapshot(buffer, in_sink)
        assert balanced(stats), (step, stats)
        assert stats.emitted == model["emitted"]
        assert stats.sent == model["sent"]
        assert stats.failed == model["failed"]
        assert stats.dropped["rejected"] == model["rejected"]
        assert stats.dropped["buffer_full"] == model["refused"]
        assert stats.dropped["invalid"] == model["lost"]
        assert stats.pending == len(buffer) + in_sink


def test_the_event_in_the_workers_hands_is_pending() -> None:
    counters: Counters[str] = Counters()
    buffer = deque(["a", "b"])
    assert counters.take(buffer) == "a"
    stats = counters.snapshot(buffer, 0)
    assert (stats.emitted, stats.pending, stats.sent, stats.dropped_total) == (2, 2, 0, 0)


def test_freeze_counts_what_is_left_as_timeout_once_and_then_stops_changing() -> None:
    counters: Counters[str] = Counters()
    buffer = deque(["a", "b", "c", "d"])
    counters.take(buffer)
    counters.handed(1)  # "a" is in the sink, still pending there
    counters.take(buffer)  # "b" is in the worker's hands at the deadline
    final, lost = counters.freeze(buffer, lambda: 1)
    assert lost == 4  # c and d (buffer), b (in hand), a (in the sink)
    assert final.dropped["timeout"] == 4
    assert (final.emitted, final.sent, final.pending, final.queued) == (4, 0, 0, 4)
    assert balanced(final)
    assert not buffer

    # What happens after the deadline changes nothing: each was counted as timeout.
    counters.handed(1)
    counters.lost("invalid")
    counters.sink_lost("failed", 1)
    assert counters.snapshot(buffer, 0) == final
    assert counters.freeze(buffer, lambda: 0) == (final, 0)

    # Refused after shutdown: added to emitted and to their reason, still balanced.
    for _ in range(3):
        counters.refused("after_shutdown")
    late = counters.snapshot(buffer, 0)
    assert late.emitted == 7
    assert late.dropped["after_shutdown"] == 3
    assert balanced(late)


def test_a_sink_pending_count_read_apart_never_unbalances_the_sum() -> None:
    # The sink's queue is read outside our lock: an event it has just taken may be
    # both in its pending count and still in our hands.
    counters: Counters[str] = Counters()
    buffer = deque(["a"])
    counters.take(buffer)
    stats = counters.snapshot(buffer, 1)
    assert stats.sent == 0
    assert balanced(stats)


def test_a_refusal_never_waits_for_a_thread_that_holds_the_counts() -> None:
    # Another thread is inside the counters' lock (here: a freeze waiting on the
    # sink's count), as a thread inside stats() is when a signal handler logs there.
    counters: Counters[str] = Counters()
    inside, release = threading.Event(), threading.Event()

    def sink_pending() -> int:
        inside.set()
        release.wait(10)
        return 0

    freezer = threading.Thread(target=counters.freeze, args=(deque(), sink_pending))
    freezer.start()
    assert inside.wait(10)

    def refuse() -> None:
        for _ in range(10_000):
            counters.refused("buffer_full")

    refusing = threading.Thread(target=refuse)
    refusing.start()
    refusing.join(10)
    done_while_held = not refusing.is_alive()
    release.set()
    freezer.join(10)
    refusing.join(10)
    assert done_while_held
    stats = counters.snapshot(deque(), 0)
    assert (stats.emitted, stats.dropped["buffer_full"]) == (10_000, 10_000)
    assert balanced(stats)


def test_refusals_counted_from_inside_a_read_on_its_own_thread_are_all_counted() -> None:
    # A signal handler or a __del__ that logs while its thread reads the counts: the
    # lock lets it in, and the read it interrupts is not changed under it.
    counters: Counters[str] = Counters()
    buffer = deque(["a", "b"])
    counters.take(buffer)

    def sink_pending() -> int:
        for _ in range(10_000):
            counters.refused("deduplicated")
        return 0

    final, lost = counters.freeze(buffer, sink_pending)
    assert (final.emitted, lost, final.dropped["deduplicated"]) == (2, 2, 0)
    assert balanced(final)
    after = counters.snapshot(buffer, 0)
    assert (after.emitted, after.dropped["deduplicated"]) == (10_002, 10_000)
    assert balanced(after)


# -- on a real Analytics object ------------------------------------------------------------


def test_live_stats_count_the_event_the_worker_holds_and_flush_reports_it(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(event: Any) -> Any:  # runs inside the SDK's capture(), on our worker
        entered.set()
        release.wait(10)
        return event

    client = posthog.Posthog(API_KEY, host=capture_server.url, before_send=hold)
    try:
        analytics = make_analytics(client=client, api_key=None, host=None)
        analytics.capture_event({"eventType": "info", "id": "held"})
        analytics.flush(0.01)  # wakes the worker
        assert entered.wait(10)

        stats = analytics.stats()
        assert (stats.emitted, stats.pending, stats.sent) == (1, 1, 0)
        assert balanced(stats)
        assert analytics.flush(0.3) is False  # stuck in the worker's hands: not delivered

        release.set()
        assert analytics.flush(5) is True
        assert [e["event"] for e in capture_server.wait_for(1)] == ["info_held"]
        stats = analytics.stats()
        assert (stats.emitted, stats.pending, stats.sent) == (1, 0, 1)
    finally:
        release.set()
        client.shutdown()


_REENTRY_SCRIPT = """
import gc, logging, signal, sys
import analyticskit

# A closed port and room for one event: nearly every record is dropped, and
# counted under the counters' lock, while the main thread reads stats() in a loop.
analytics = analyticskit.Analytics(api_key="phc_x", host="http://127.0.0.1:9", max_queued=1,
                                   shutdown_timeout=0.2)
log = logging.getLogger("reentry")
log.propagate = False
log.addHandler(analyticskit.PostHogHandler(analytics=analytics))
log.setLevel(logging.INFO)

class LogsWhenCollected:
    def __init__(self):
        self.cycle = self
    def __del__(self):
        log.info("collected")

def on_alarm(signum, frame):
    log.info("alarm")

gc.set_threshold(1)  # collect (and run __del__) at nearly every allocation
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
for _ in range({loops}):
    LogsWhenCollected()
    analytics.stats()
signal.setitimer(signal.ITIMER_REAL, 0)
gc.set_threshold(700)
stats = analytics.stats()
assert stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total, stats
print("DONE", stats.emitted, flush=True)
"""


def test_a_record_logged_from_a_signal_handler_or_del_inside_stats_never_deadlocks(
    run_python: RunPython,
) -> None:
    proc = run_python(_REENTRY_SCRIPT.format(loops=50_000), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("DONE "), proc.stdout
    assert int(proc.stdout.split()[1]) > 1_000  # the handlers did log, many times


_CAPTURE_REENTRY_SCRIPT = """
import signal
import analyticskit
from analyticskit import EventData

# capture_event's rate cap holds a lock; a signal handler that captures runs inside it.
analytics = analyticskit.Analytics(api_key="phc_x", host="http://127.0.0.1:9", max_queued=1,
                                   shutdown_timeout=0.2, rate_limit=True)
data = EventData(event_type="info", id="tick", source="auth")

def on_alarm(signum, frame):
    analytics.capture_event(data, from_user_id="u1")

signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
for _ in range(20_000):
    analytics.capture_event(data, from_user_id="u1")
signal.setitimer(signal.ITIMER_REAL, 0)
stats = analytics.stats()
assert stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total, stats
print("DONE", stats.emitted, stats.dropped["recursion"], flush=True)
"""


def test_capture_event_from_a_signal_handler_inside_its_rate_cap_never_deadlocks(
    run_python: RunPython,
) -> None:
    proc = run_python(_CAPTURE_REENTRY_SCRIPT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    done, emitted, recursion = proc.stdout.split()
    assert done == "DONE"
    assert int(emitted) > 20_000  # the handler's calls are counted too
    assert int(recursion) > 0  # those made inside the cap, as recursion
