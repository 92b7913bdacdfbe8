"""Cost control: a log storm cannot run up the bill. The default caps hold back what a
loop logs, every record is accounted for, and capture_event is capped only when asked."""

from __future__ import annotations

import json
import logging
import logging.config
import random
import re
import sys
import threading
from collections import Counter

import pytest

from analyticskit import PostHogHandler, Stats
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import (
    SEED,
    MakeAnalytics,
    MakeHandler,
    RunPython,
    by_marker,
    deliver,
    release,
    unique_name,
)

DEFAULTS = {"rate_limit": True, "dedupe_window": 1.0}  # the handler's defaults
# The defaults with a window no pause of a loaded machine outlasts: a test that counts
# one window's repeats must log them all inside it (records are timed when logged).
LONG_WINDOW = {**DEFAULTS, "dedupe_window": 60.0}


def balanced(stats: Stats) -> bool:
    return stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total


def test_the_same_error_10000_times_sends_the_first_and_one_summary(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**LONG_WINDOW)
    for _ in range(10_000):
        log.error("database unreachable")

    events = deliver(handler, capture_server, 2)  # flush closes the open window
    first, summary = sorted(events, key=lambda e: e["properties"].get("repeatCount", 0))
    assert first["event"] == summary["event"] == "error_database_unreachable"
    assert "repeatCount" not in first["properties"]
    assert summary["properties"]["repeatCount"] == 9_999
    assert summary["properties"]["firstSeen"] <= summary["properties"]["lastSeen"]
    stats = handler.stats()
    # Every record accounted for: 1 sent as itself, 9,999 held back (and summed up by
    # one more event of its own).
    assert stats.dropped["deduplicated"] == 9_999
    assert stats.sent == 2
    assert stats.emitted == 10_001
    assert balanced(stats)


def test_a_storm_of_distinct_messages_is_capped_per_event_name(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**DEFAULTS)
    for i in range(1_000):
        log.error("payment %s failed", i)
    log.info("unrelated event")  # another event name: its own bucket

    handler.flush(timeout=5)
    events = capture_server.wait_for(101, timeout=5)
    names = Counter(e["event"] for e in events)
    # The first 100 at once, then 5 a second: a loop this fast gets few more.
    assert 100 <= names["error_payment_failed"] <= 110
    assert names["info_unrelated_event"] == 1
    stats = handler.stats()
    assert stats.dropped["rate_limited"] == 1_000 - names["error_payment_failed"]
    assert stats.sent == len(events)
    assert balanced(stats)


def test_identical_records_of_different_users_are_not_duplicates(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**DEFAULTS)
    for uid in ("u1", "u2", "u3"):
        log.info("opened settings", extra={"uid": uid})
    events = deliver(handler, capture_server, 3)
    assert sorted(e["distinct_id"] for e in events) == ["u1", "u2", "u3"]


def test_sampling_keeps_about_the_rate_set(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    random.seed(12345)
    handler, log = make_handler(sample_levels={"DEBUG": 0.1}, sample_loggers={"noisy": 0.0})
    noisy = log.getChild("noisy")
    for i in range(2_000):
        log.debug("cache miss %s", i)
    noisy.info("never sent")
    log.info("always sent")

    handler.flush(timeout=5)
    stats = handler.stats()
    kept = stats.emitted - stats.dropped["sampled"]
    assert 120 <= kept - 1 <= 280  # about 200 of 2,000 DEBUG records, and the INFO one
    assert len(capture_server.wait_for(kept)) == kept
    assert stats.dropped["sampled"] == 2_002 - kept


def test_held_back_records_are_reported_in_one_line(
    make_handler: MakeHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    handler, log = make_handler(**LONG_WINDOW)
    for _ in range(500):
        log.warning("disk almost full")
    for i in range(200):
        log.warning("quota %s exceeded", i)
    handler.flush(timeout=5)
    for _ in range(100):
        log.warning("disk almost full")
    handler.flush(timeout=5)
    lines = [line for line in capsys.readouterr().err.splitlines() if "held back" in line]
    # The first line as soon as the worker sees a record held back (within the first
    # flush at the latest), then none for a minute.
    assert len(lines) == 1, lines
    assert lines[0].startswith("analyticskit: held back ")
    assert "deduplicated=" in lines[0] and "the totals at shutdown" in lines[0]
    stats = handler.stats()
    assert stats.dropped["deduplicated"] == 499 + 99
    assert 90 <= stats.dropped["rate_limited"] <= 100
    assert balanced(stats)


def test_capture_event_is_not_capped_unless_asked(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    free = make_analytics()
    for _ in range(150):
        free.capture_event(SEED)
    assert free.flush(5)
    assert len(capture_server.wait_for(150)) == 150

    capped = make_analytics(rate_limit={"burst": 20, "per_second": 1})
    uuids = [capped.capture_event(SEED) for _ in range(150)]
    assert uuids[0] is not None  # the first is always sent
    assert 20 <= sum(u is not None for u in uuids) <= 22
    assert capped.stats().dropped["rate_limited"] == sum(u is None for u in uuids)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"rate_limit": "fast"}, TypeError),
        ({"rate_limit": {"burst": 0}}, ValueError),
        ({"rate_limit": {"per": 1}}, TypeError),
        ({"dedupe_window": -1}, ValueError),
        ({"sample_levels": {"DEBUG": 1.5}}, ValueError),
        ({"sample_levels": {"LOUD": 0.5}}, ValueError),
        ({"sample_loggers": ["app"]}, TypeError),
    ],
)
def test_bad_volume_options_raise_at_construction(
    make_handler: MakeHandler, options: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make_handler(**options)


def test_a_summary_is_sent_when_its_window_ends_without_a_flush(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(rate_limit=False, dedupe_window=0.2)
    log.info("started")  # the worker's first pass (imports, the SDK's set-up) done first
    handler.flush(timeout=5)
    for _ in range(5):
        log.info("heartbeat")
    # The worker polls every 0.5 s: the summary leaves on its own, no flush needed.
    events = capture_server.wait_for(3, timeout=10)
    assert sorted(
        e["properties"].get("repeatCount", 0) for e in events if e["event"] == "info_heartbeat"
    ) == [0, 4]


def test_capture_event_cap_holds_across_threads(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    # Eight threads switching as often as the interpreter allows: each token is
    # taken once, so exactly the burst goes out (the refill adds under 0.01 event).
    capped = make_analytics(rate_limit={"burst": 100, "per_second": 0.001})
    sent: list[int] = []

    def calls() -> None:
        sent.append(sum(capped.capture_event(SEED) is not None for _ in range(500)))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=calls) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert sum(sent) == 100
    assert capped.flush(10)
    assert len(capture_server.wait_for(100)) == 100
    assert capped.stats().dropped["rate_limited"] == 4_000 - 100


# -- the defaults hold storms back, never business traffic (issue 18) ----------------


def handler_defaults() -> dict[str, object]:
    """PostHogHandler's own volume defaults (the make_handler fixture turns them off)."""
    return {"rate_limit": True, "dedupe_window": 1.0}


def test_3000_orders_of_3000_users_all_arrive(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**handler_defaults())
    for i in range(3_000):
        log.info("order %s paid", i, extra={"uid": f"u{i}"})
    handler.flush(timeout=30)
    events = capture_server.wait_for(3_000, timeout=30)
    assert len(events) == 3_000
    assert {e["distinct_id"] for e in events} == {f"u{i}" for i in range(3_000)}
    stats = handler.stats()
    assert stats.dropped_total == 0 and stats.sent == 3_000
    assert balanced(stats)


def test_3000_page_views_of_50_users_all_arrive(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**handler_defaults())
    for i in range(3_000):
        log.info("viewed page %s", f"/p/{i}", extra={"uid": f"u{i % 50}"})
    handler.flush(timeout=30)
    assert len(capture_server.wait_for(3_000, timeout=30)) == 3_000
    assert handler.stats().dropped_total == 0


def test_300_orders_during_an_outage_all_arrive(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    capture_server.respond_with(503, times=2)  # PostHog fails its first requests
    handler, log = make_handler(**handler_defaults())
    for i in range(300):
        log.info("order %d shipped", i, extra={"uid": f"u{i}"})
    handler.flush(timeout=30)
    events = capture_server.wait_for(300, timeout=30)
    assert sorted(e["distinct_id"] for e in events) == sorted(f"u{i}" for i in range(300))
    stats = handler.stats()
    assert stats.sent == 300 and stats.dropped_total == 0 and balanced(stats)


def test_20000_identical_errors_cost_no_other_record(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(max_queued=10_000, **LONG_WINDOW)
    for i in range(10):
        log.info("before %s", i, extra={"marker": f"b{i}"})
    for _ in range(20_000):
        log.error("database unreachable")
    for i in range(20):
        log.info("after %s", i, extra={"marker": f"a{i}"})
    handler.flush(timeout=30)
    stats = handler.stats()
    events = capture_server.wait_for(stats.sent, timeout=30)
    marked = by_marker(e for e in events if "marker" in e["properties"])
    assert set(marked) == {f"b{i}" for i in range(10)} | {f"a{i}" for i in range(20)}
    storm = [e for e in events if e["event"] == "error_database_unreachable"]
    assert 1 <= len(storm) <= 4, len(storm)
    # Every record of the storm accounted for: sent as itself or summed up.
    assert sum(e["properties"].get("repeatCount", 1) for e in storm) == 20_000
    assert stats.dropped["buffer_full"] == 0
    firsts = [e for e in storm if "repeatCount" not in e["properties"]]
    assert stats.dropped["deduplicated"] == 20_000 - len(firsts)
    assert balanced(stats)


def test_interleaved_storms_cost_no_business_event(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(max_queued=10_000, **LONG_WINDOW)
    for i in range(12_000):
        log.error("database unreachable")
        log.warning("cache %s is cold", "users")
        log.error("provider timed out", extra={"uid": "u7"})
        if i % 600 == 0:
            log.info("order %s paid", i, extra={"uid": f"u{i}", "marker": i})
    handler.flush(timeout=30)
    stats = handler.stats()
    events = capture_server.wait_for(stats.sent, timeout=30)
    assert len(by_marker(e for e in events if "marker" in e["properties"])) == 20
    storms = Counter(e["event"] for e in events if "marker" not in e["properties"])
    assert set(storms) == {
        "error_database_unreachable",
        "info_cache_is_cold",
        "error_provider_timed_out",
    }
    assert all(1 <= n <= 4 for n in storms.values()), storms
    assert stats.dropped["buffer_full"] == 0
    assert stats.dropped["deduplicated"] + stats.sent == stats.emitted
    assert balanced(stats)


def test_a_flood_of_one_error_template_is_capped(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**handler_defaults())
    for i in range(10_000):
        log.error("timeout calling provider for order %s", i)  # personless
    for i in range(1_000):
        log.error("timeout calling provider for order %s", i, extra={"uid": "u1"})
    handler.flush(timeout=30)
    stats = handler.stats()
    events = capture_server.wait_for(stats.sent, timeout=30)
    per_user = Counter(e["distinct_id"] if e["distinct_id"] == "u1" else "-" for e in events)
    # The error cap: 100 at once, then 5 a second, for the personless key and for u1.
    assert 100 <= per_user["-"] <= 150 and 100 <= per_user["u1"] <= 150, per_user
    assert stats.dropped["rate_limited"] == 11_000 - len(events)
    assert stats.dropped["buffer_full"] == 0  # the caller caps a flood that outruns the worker
    assert balanced(stats)


EXIT_STORM = """
import atexit, json, logging
handlers = []
# Registered before the library's own hooks: runs after them, once the counts are final.
atexit.register(lambda: print("STATS " + json.dumps(handlers[0].stats().dropped)))
import analyticskit
handler = analyticskit.PostHogHandler(api_key="phc_k", host="{url}", shutdown_timeout=10)
handlers.append(handler)
log = logging.getLogger("storm")
log.addHandler(handler); log.propagate = False; log.setLevel(logging.INFO)
for _ in range(20_000):
    log.error("database unreachable")
for i in range(300):
    log.error("provider %s timed out", i)
"""


def test_the_exit_summary_matches_stats(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    result = run_python(EXIT_STORM.replace("{url}", capture_server.url))
    assert result.returncode == 0, result.stderr
    dropped = json.loads(result.stdout.split("STATS ", 1)[1])
    lines = [line for line in result.stderr.splitlines() if "held back" in line]
    # The totals at shutdown, unless the one line the worker wrote had them all.
    final = re.fullmatch(
        r"analyticskit: held back (\d+) events( in all)? .*? \((.*)\)[,;] .*", lines[-1]
    )
    assert final and (final.group(2) or len(lines) == 1), lines
    by_reason = dict(part.split("=") for part in final.group(3).split(", "))
    held = {
        r: n for r, n in dropped.items() if n and r in ("deduplicated", "rate_limited", "sampled")
    }
    assert {reason: int(n) for reason, n in by_reason.items()} == held
    assert int(final.group(1)) == sum(held.values()) >= 20_000 - 4 + 300 - 150


def test_per_logger_and_per_level_caps_from_dict_config(
    capture_server: CaptureServer, root_logger: logging.Logger
) -> None:
    app = unique_name()  # a logger tree of this test's own, released below
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "handlers": {
                "posthog": {
                    "class": "analyticskit.PostHogHandler",
                    "level": "INFO",
                    "api_key": API_KEY,
                    "host": capture_server.url,
                    "rate_limit": {
                        f"{app}.orders": False,  # every order matters
                        f"{app}.jobs": {"ERROR": {"burst": 3, "per_second": 0.001}},
                        "": {"burst": 10, "per_second": 0.001},
                    },
                }
            },
            "loggers": {app: {"handlers": ["posthog"], "level": "INFO", "propagate": False}},
        }
    )
    shop = logging.getLogger(app)
    handler = shop.handlers[0]
    assert isinstance(handler, PostHogHandler)
    for i in range(50):
        logging.getLogger(f"{app}.orders").error("order %s failed", i)
        logging.getLogger(f"{app}.jobs").error("job %s failed", i)
        logging.getLogger(f"{app}.jobs").info("job %s started", i)  # INFO: the defaults
        shop.warning("stock %s low", i)
    handler.flush(timeout=10)
    stats = handler.stats()
    names = Counter(e["event"] for e in capture_server.wait_for(stats.sent, timeout=10))
    assert names["error_order_failed"] == 50
    assert names["error_job_failed"] == 3
    assert names["info_job_started"] == 50
    assert names["info_stock_low"] == 10
    assert stats.dropped["rate_limited"] == 47 + 40
    assert balanced(stats)
    shop.removeHandler(handler)
    release(handler)


@pytest.mark.parametrize(
    "value",
    [
        {"myapp": "fast"},
        {"myapp": {"ERROR": {"burst": 0}}},
        {"": {"per": 1}},
        {"ERROR": 5},
        {("a",): True},
    ],
)
def test_bad_per_logger_caps_raise(make_handler: MakeHandler, value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        make_handler(rate_limit=value)


def test_a_record_that_differs_from_a_storm_in_one_part_is_not_its_repeat(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    # One template object, as a literal shared by two call sites: each record that
    # differs from the storm's in its value, level or logger is told apart.
    handler, log = make_handler(**LONG_WINDOW)
    child = logging.getLogger(f"{log.name}.child")
    template = "payment provider timed out"
    logged: Counter[tuple[str, str, str]] = Counter()
    for i in range(2_000):
        log.error(template, extra={"provider": "acme"})
        logged[("ERROR", log.name, "acme")] += 1
        # Each right after one of the storm's, the record compared with last.
        if i % 500 == 0:
            log.error(template, extra={"provider": f"p{i}"})
            logged[("ERROR", log.name, f"p{i}")] += 1
        elif i % 500 == 1:
            log.warning(template, extra={"provider": "acme"})
            logged[("WARNING", log.name, "acme")] += 1
        elif i % 500 == 2:
            child.error(template, extra={"provider": "acme"})
            logged[("ERROR", child.name, "acme")] += 1
    handler.flush(timeout=30)
    stats = handler.stats()
    events = capture_server.wait_for(stats.sent, timeout=30)
    received: Counter[tuple[str, str, str]] = Counter()
    for event in events:
        properties = event["properties"]
        identity = (properties["level"], properties["logger"], properties["provider"])
        received[identity] += properties.get("repeatCount", 1)
    assert received == logged
    assert stats.dropped["deduplicated"] == stats.emitted - stats.sent
    assert balanced(stats)


def test_a_storm_that_goes_on_after_a_flush_is_summed_up_again(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(**LONG_WINDOW)
    for _ in range(3):
        for _ in range(500):
            log.error("database unreachable")
        handler.flush(timeout=30)  # ends the storm's window, and sums it up
    stats = handler.stats()
    events = capture_server.wait_for(stats.sent, timeout=30)
    assert sum(e["properties"].get("repeatCount", 1) for e in events) == 1_500
    assert stats.dropped["deduplicated"] == 1_500 - len(
        [e for e in events if "repeatCount" not in e["properties"]]
    )
    assert balanced(stats)
