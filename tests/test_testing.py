"""`analyticskit.testing`: the in-memory sink keeps events exactly as PostHog would
receive them; `capture_events` routes both doors there and restores the previous
default; the `analytics_events` pytest fixture, run by pytest in a subprocess."""

from __future__ import annotations

import logging
import re

import pytest

import analyticskit
from analyticskit import Analytics, EventData, PostHogHandler
from analyticskit.analytics import swap_default
from analyticskit.testing import CapturedEvent, MemorySink, capture_events
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import SEED, SEED_WIRE, MakeAnalytics, deliver, is_personless, unique_name

pytest_plugins = ["pytester"]

ODD = {"ratio": float("nan"), "low": float("-inf"), "text": "a\u2028b\u0085c", "n": [1, 2.5]}
# Added by the posthog SDK to every event, identical in both paths.
SDK_KEYS = {"$lib", "$lib_version", "$geoip_disable", "$is_server"}


def test_memory_sink_keeps_what_posthog_receives(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    sink = MemorySink()
    memory, wire = Analytics(sink=sink), make_analytics()
    for analytics in (memory, wire):
        analytics.capture_event(SEED, from_user_id="u1", properties=ODD)
    assert memory.flush(5)
    [kept] = sink.events
    [sent] = deliver(wire, capture_server, 1)  # type: ignore[arg-type]
    assert kept.name == sent["event"] == "info_fetch_all_users"
    assert kept.distinct_id == sent["distinct_id"] == "u1"
    assert kept.properties == sent["properties"]
    assert kept.properties.keys() >= SDK_KEYS
    kept.assert_properties(SEED_WIRE, ratio=None, low=None, text="a\u2028b\u0085c", n=[1, 2.5])
    assert kept.timestamp.endswith("+00:00") and kept.uuid
    memory.shutdown(2)


def test_memory_sink_personless_and_exception_events() -> None:
    sink = MemorySink()
    handler = PostHogHandler(sink=sink, capture_exceptions=True)
    logger = logging.getLogger(unique_name())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("payment failed")
    handler.flush(timeout=5)
    assert sorted(sink.names) == ["$exception", "error_payment_failed"]
    event = sink.one("error_payment_failed")
    assert event.personless and is_personless({"distinct_id": event.distinct_id, **vars(event)})
    assert event.properties["exception_uuid"] == sink.one("$exception").uuid
    sink.clear()
    assert sink.events == []
    logger.removeHandler(handler)
    handler.analytics.shutdown(2)
    handler.close()


def test_capture_events_routes_both_doors_and_restores_the_default(
    root_logger: logging.Logger,
) -> None:
    before = Analytics(sink=MemorySink())
    previous = swap_default(before)
    try:
        with capture_events() as captured:
            assert analyticskit.get_analytics() is captured.analytics
            analyticskit.install(logging.INFO)
            analyticskit.capture_event(SEED, from_user_id="u1")
            with analyticskit.user("u2"):
                logging.getLogger("shop.checkout").info("paid %s", "EUR")
            assert captured.names == ["info_fetch_all_users", "info_paid"]
            captured.one("info_paid").assert_properties(
                eventType="info", id="paid", logger="shop.checkout", longDescription="paid EUR"
            )
            assert captured.one("info_paid").distinct_id == "u2"
        assert analyticskit.get_analytics() is before
        assert captured.analytics.stats().sent == 2
        assert before.stats().emitted == 0
    finally:
        swap_default(previous)
        before.shutdown(2)


def test_capture_events_nests_and_shuts_down_what_configure_installed() -> None:
    previous = swap_default(None)
    try:
        with capture_events() as outer:
            analyticskit.capture_event(EventData(event_type="info", id="outer"))
            with capture_events() as inner:
                analyticskit.capture_event(EventData(event_type="info", id="inner"))
                configured = analyticskit.configure(sink=MemorySink())
            assert configured.stats().dropped_total == 0
            analyticskit.capture_event(EventData(event_type="info", id="outer_again"))
            assert inner.names == ["info_inner"]
            assert outer.names == ["info_outer", "info_outer_again"]
            assert configured.capture_event(SEED) is None  # shut down at the block's end
            inner.clear()
            assert inner.events == []
    finally:
        swap_default(previous)


def test_failure_messages_are_readable() -> None:
    with capture_events() as captured:
        analyticskit.capture_event(SEED, from_user_id="u1")
        with pytest.raises(AssertionError) as none:
            captured.one("info_missing")
        assert "expected exactly one event 'info_missing', captured 0" in str(none.value)
        assert "['info_fetch_all_users']" in str(none.value)
        with pytest.raises(AssertionError) as differs:
            captured.one("info_fetch_all_users").assert_properties(
                {"$session_id": "s1"}, source="auth", relevancy="medium"
            )
    message = str(differs.value)
    assert "event 'info_fetch_all_users' (distinct id 'u1')" in message
    assert "source: expected 'auth', got 'db'" in message
    assert "$session_id: missing (expected 's1')" in message
    assert "relevancy" not in message.split("its properties")[0]


def test_captured_event_is_a_plain_value() -> None:
    event = CapturedEvent("x", "u", {"a": 1}, "2026-01-01T00:00:00+00:00", "id")
    event.assert_properties(a=1)
    assert not event.personless


FIXTURE_TESTS = """
import logging
import analyticskit

def test_both_doors(analytics_events):
    analyticskit.install(logging.INFO)
    analyticskit.capture_event({"eventType": "success", "id": "purchase_completed"}, "u1")
    logging.getLogger("shop").error("card declined", extra={"uid": "u2", "source": "iap"})
    analytics_events.one("success_purchase_completed").assert_properties(source="general")
    declined = analytics_events.one("error_card_declined")
    declined.assert_properties(source="iap", relevancy="high")
    assert declined.distinct_id == "u2"

def test_fails_readably(analytics_events):
    analyticskit.capture_event({"eventType": "info", "id": "opened"})
    analytics_events.one("info_opened").assert_properties(source="db")
"""


def test_fixture_in_a_pytest_subprocess(
    pytester: pytest.Pytester, capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", API_KEY)
    monkeypatch.setenv("POSTHOG_HOST", capture_server.url)
    pytester.makepyfile(test_app=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:cov")
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    assert re.search(r"source: expected 'db', got 'general'", output), output
    assert API_KEY not in output
    assert capture_server.wait_for_requests(1, timeout=1) == 0  # nothing sent


def test_plugin_imports_nothing_unless_the_fixture_is_used(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
import sys

def test_plain(request):
    assert request.config.pluginmanager.has_plugin("analyticskit")  # registered...
    assert "analyticskit" not in sys.modules and "posthog" not in sys.modules  # ...idle
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:cov")
    result.assert_outcomes(passed=1)


VOLUME_TESTS = """
import logging
import pytest
import analyticskit

def test_first(analytics_events):
    analyticskit.install(logging.INFO)
    logging.getLogger("shop").error("payment failed", extra={"uid": "u1"})
    assert len(analytics_events.named("error_payment_failed")) == 1

def test_second_sees_its_own_one(analytics_events):
    analyticskit.install(logging.INFO)
    logging.getLogger("shop").error("payment failed", extra={"uid": "u1"})
    assert len(analytics_events.named("error_payment_failed")) == 1
    assert analytics_events.one("error_payment_failed").properties.get("repeatCount") is None

def test_200_identical_errors_of_one_user(analytics_events):
    analyticskit.install(logging.INFO)
    for i in range(200):
        logging.getLogger("shop").error("payment %s failed", i, extra={"uid": "u1"})
    assert len(analytics_events.named("error_payment_failed")) < 200  # the default cap

@pytest.mark.analytics_events(rate_limit=False, dedupe_window=0)
def test_caps_off_for_one_test(analytics_events):
    analyticskit.install(logging.INFO)
    for i in range(200):
        logging.getLogger("shop").error("payment %s failed", i, extra={"uid": "u1"})
        logging.getLogger("shop").error("payment failed", extra={"uid": "u1"})
    assert len(analytics_events.named("error_payment_failed")) == 400
"""


def test_fixture_starts_each_test_with_fresh_volume_state(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSTHOG_API_KEY", raising=False)
    pytester.makepyfile(test_volume_app=VOLUME_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:cov")
    result.assert_outcomes(passed=4)


def test_capture_events_sets_volume_options_for_its_block() -> None:
    handler = analyticskit.PostHogHandler()
    log = logging.getLogger(f"volume_{id(handler)}")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        for _ in range(2):  # the same record in two blocks: each sees it once
            with capture_events() as captured:
                for _ in range(3):
                    log.error("payment failed")
                assert len(captured.named("error_payment_failed")) == 2  # one, one summary
                assert captured.named("error_payment_failed")[1].properties["repeatCount"] == 2
        with capture_events(dedupe_window=0) as captured:
            for _ in range(3):
                log.error("payment failed")
            assert len(captured.named("error_payment_failed")) == 3
        with pytest.raises(ValueError), capture_events(dedupe_window=-1):
            pass
        with pytest.raises(TypeError), capture_events(rate_limit="fast"):  # type: ignore[arg-type]
            pass
    finally:
        log.removeHandler(handler)
        handler.close()
