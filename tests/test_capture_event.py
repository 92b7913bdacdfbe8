"""capture_event over real HTTP: the real posthog SDK delivers to the capture server.

Every check reads what the server received; nothing here replaces the SDK.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

import analyticskit
from analyticskit import Analytics, EventData
from capture_server import CaptureServer
from helpers import (
    INVALID_FIELDS,
    RELEVANCY_CASES,
    SEED,
    SEED_CAMEL_CASE,
    SEED_SNAKE_CASE,
    SEED_WIRE,
    MakeAnalytics,
    assert_raises_naming,
)


def own_properties(event: dict[str, Any]) -> dict[str, Any]:
    """The event's properties without the SDK's own ``$``-prefixed ones."""
    return {k: v for k, v in event["properties"].items() if not k.startswith("$")}


def deliver(analytics: Analytics, server: CaptureServer, n: int) -> list[dict[str, Any]]:
    """Flush, then return what the server received (``n`` events expected)."""
    assert analytics.flush(timeout=5) is True
    events = server.wait_for(n)
    assert len(events) == n, events
    return events


# -- the seed example --------------------------------------------------------------------


def test_seed_example_arrives_as_the_original_event(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    returned = analytics.capture_event(data=SEED, from_user_id="u1")

    [event] = deliver(analytics, capture_server, 1)
    assert event["event"] == "info_fetch_all_users"
    assert event["distinct_id"] == "u1"
    assert own_properties(event) == SEED_WIRE
    assert event["properties"].get("$process_person_profile") is not False
    assert returned is not None
    assert returned == event["uuid"]
    # Delivered through the SDK's gzip batch endpoint with the configured key.
    [request] = capture_server.requests
    assert request["gzip"] is True


def test_returned_uuids_are_distinct_and_match(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    returned = [analytics.capture_event(SEED, from_user_id=f"u{i}") for i in range(3)]
    events = deliver(analytics, capture_server, 3)
    assert len(set(returned)) == 3
    assert {e["uuid"]: e["distinct_id"] for e in events} == {returned[i]: f"u{i}" for i in range(3)}


def test_timestamp_is_capture_time(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    before = datetime.now(timezone.utc)
    analytics.capture_event(SEED, from_user_id="u1")
    after = datetime.now(timezone.utc)
    [event] = deliver(analytics, capture_server, 1)
    sent = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
    assert before <= sent <= after


# -- relevancy and longDescription on the wire --------------------------------------------


@pytest.mark.parametrize(("event_type", "relevancy", "expected"), RELEVANCY_CASES)
def test_relevancy_on_the_wire(
    make_analytics: MakeAnalytics,
    capture_server: CaptureServer,
    event_type: Any,
    relevancy: Any,
    expected: str,
) -> None:
    analytics = make_analytics()
    analytics.capture_event(
        EventData(event_type=event_type, id="did_it", relevancy=relevancy), from_user_id="u1"
    )
    [event] = deliver(analytics, capture_server, 1)
    assert event["event"] == f"{event_type}_did_it"
    assert event["properties"]["relevancy"] == expected
    assert event["properties"]["eventType"] == event_type


def test_long_description_absent_when_none(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(EventData(event_type="success", id="saved"), from_user_id="u1")
    [event] = deliver(analytics, capture_server, 1)
    assert own_properties(event) == {
        "eventType": "success",
        "id": "saved",
        "source": "general",
        "relevancy": "medium",
    }


# -- mappings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param(SEED_CAMEL_CASE, id="camelCase"),
        pytest.param(SEED_SNAKE_CASE, id="snake_case"),
    ],
)
def test_capture_event_accepts_a_mapping_directly(
    make_analytics: MakeAnalytics, capture_server: CaptureServer, mapping: dict[str, Any]
) -> None:
    analytics = make_analytics()
    returned = analytics.capture_event(data=mapping, from_user_id="u1")
    [event] = deliver(analytics, capture_server, 1)
    assert event["event"] == "info_fetch_all_users"
    assert event["uuid"] == returned
    assert own_properties(event) == SEED.wire_properties()


# -- who the event is from ---------------------------------------------------------------


def test_personless_without_a_user(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED)
    [event] = deliver(analytics, capture_server, 1)
    assert event["properties"]["$process_person_profile"] is False
    assert isinstance(event["distinct_id"], str) and event["distinct_id"]
    assert own_properties(event) == SEED.wire_properties()


def test_bound_user_is_used_when_from_user_id_is_omitted(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    with analyticskit.user("u9"):
        bound = analytics.capture_event(SEED)
        explicit = analytics.capture_event(SEED, from_user_id="u1")
    after = analytics.capture_event(SEED)

    events = {e["uuid"]: e for e in deliver(analytics, capture_server, 3)}
    assert events[bound]["distinct_id"] == "u9"
    assert events[bound]["properties"].get("$process_person_profile") is not False
    assert events[explicit]["distinct_id"] == "u1"
    # Leaving the block unbinds: personless again.
    assert events[after]["distinct_id"] not in ("u9", "u1")
    assert events[after]["properties"]["$process_person_profile"] is False


def test_bind_user_and_reset_user(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    token = analyticskit.bind_user("u_hook")
    try:
        bound = analytics.capture_event(SEED)
    finally:
        analyticskit.reset_user(token)
    unbound = analytics.capture_event(SEED)
    events = {e["uuid"]: e for e in deliver(analytics, capture_server, 2)}
    assert events[bound]["distinct_id"] == "u_hook"
    assert events[unbound]["properties"]["$process_person_profile"] is False


# -- extra properties ---------------------------------------------------------------------


def test_extra_properties_are_merged_under_event_data(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    extra = {
        "plan": "pro",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "nothing": None,
        "tags": ["a", "b"],
        "nested": {"k": "v"},
    }
    # Clashes: the EventData's own properties win.
    clashes = {"source": "spoofed", "eventType": "error", "relevancy": "low", "id": "other"}
    # A deep copy is sent: what arrives is compared with values the library never saw.
    analytics.capture_event(SEED, from_user_id="u1", properties={**copy.deepcopy(extra), **clashes})
    [event] = deliver(analytics, capture_server, 1)
    assert own_properties(event) == {**extra, **SEED.wire_properties()}


class _Custom:
    def __str__(self) -> str:
        return "custom-object"


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            "2024-01-02T03:04:05+00:00",
            id="datetime",
        ),
        pytest.param(Decimal("1.10"), "1.10", id="decimal"),
        pytest.param(
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "12345678-1234-5678-1234-567812345678",
            id="uuid",
        ),
        pytest.param({"only"}, None, id="set"),
        pytest.param(_Custom(), "custom-object", id="object-with-str"),
        pytest.param(_Opaque(), None, id="opaque-object"),
        pytest.param(ValueError("boom"), None, id="exception"),
    ],
)
def test_non_json_property_values_arrive_as_strings(
    make_analytics: MakeAnalytics, capture_server: CaptureServer, value: Any, expected: Any
) -> None:
    analytics = make_analytics()
    analytics.capture_event(
        SEED, from_user_id="u1", properties={"value": value, "nested": {"deep": [value]}}
    )
    [event] = deliver(analytics, capture_server, 1)
    got = event["properties"]["value"]
    assert isinstance(got, str) and got, got
    if expected is not None:
        assert got == expected
    if isinstance(value, set):
        assert "only" in got
    if isinstance(value, ValueError):
        assert "boom" in got
    assert event["properties"]["nested"] == {"deep": [got]}


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_floats_do_not_lose_the_batch(
    make_analytics: MakeAnalytics, capture_server: CaptureServer, value: float
) -> None:
    # Bare NaN/Infinity is not JSON: PostHog rejects the whole batch, so one bad
    # value would also lose every other event uploaded with it.
    analytics = make_analytics()
    analytics.capture_event(SEED, from_user_id="before")
    analytics.capture_event(SEED, from_user_id="u1", properties={"ratio": value})
    analytics.capture_event(SEED, from_user_id="after")
    events = deliver(analytics, capture_server, 3)
    assert sorted(e["distinct_id"] for e in events) == ["after", "before", "u1"]
    [odd] = [e for e in events if e["distinct_id"] == "u1"]
    # JSON has no NaN/Infinity: null (as JSON.stringify in the original) or a string.
    assert odd["properties"]["ratio"] is None or isinstance(odd["properties"]["ratio"], str)
    assert own_properties(odd) == {"ratio": odd["properties"]["ratio"], **SEED.wire_properties()}
    assert analytics.stats().dropped["rejected"] == 0


# -- sources -----------------------------------------------------------------------------


def test_registered_source_is_delivered(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analyticskit.register_source("billing")
    analytics = make_analytics()
    analytics.capture_event(
        EventData(event_type="success", id="invoice_paid", source="billing"), from_user_id="u1"
    )
    analytics.capture_event({"eventType": "info", "id": "invoice_sent", "source": "billing"})
    events = deliver(analytics, capture_server, 2)
    assert {e["event"]: e["properties"]["source"] for e in events} == {
        "success_invoice_paid": "billing",
        "info_invoice_sent": "billing",
    }


# -- flush, shutdown, stats ----------------------------------------------------------------


def test_flush_with_nothing_pending_returns_true(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    assert analytics.flush(timeout=5) is True
    analytics.capture_event(SEED, from_user_id="u1")
    assert analytics.flush(timeout=5) is True
    assert analytics.flush(timeout=5) is True
    assert len(capture_server.wait_for(1)) == 1


def test_stats_after_flush(make_analytics: MakeAnalytics, capture_server: CaptureServer) -> None:
    analytics = make_analytics()
    before = analytics.stats()
    assert (before.emitted, before.queued, before.sent, before.pending) == (0, 0, 0, 0)
    for i in range(5):
        analytics.capture_event(SEED, from_user_id=f"u{i}")
    deliver(analytics, capture_server, 5)
    stats = analytics.stats()
    assert stats.emitted == 5
    assert stats.queued == 5
    assert stats.sent == 5
    assert stats.failed == 0
    assert stats.pending == 0
    assert stats.dropped_total == 0


def test_shutdown_delivers_queued_then_refuses(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    # A first event delivered before: the cold start has its own test below.
    first = analytics.capture_event(SEED, from_user_id="first")
    deliver(analytics, capture_server, 1)
    uuids = [analytics.capture_event(SEED, from_user_id=f"u{i}") for i in range(3)]

    final = analytics.shutdown(timeout=5)

    # shutdown returned after delivery: the events are already at the server.
    arrived = capture_server.wait_for(4, timeout=0)
    assert Counter(e["uuid"] for e in arrived) == Counter([first, *uuids])
    assert final.sent == 4
    assert final.pending == 0
    assert final.dropped_total == 0

    assert analytics.capture_event(SEED, from_user_id="late") is None
    assert analytics.capture_event(SEED) is None
    stats = analytics.stats()
    assert stats.dropped["after_shutdown"] == 2
    assert stats.emitted == 6
    assert stats.sent == 4

    # Idempotent: a second shutdown neither fails nor changes the counts.
    again = analytics.shutdown(timeout=5)
    assert again.sent == 4
    assert again.dropped["after_shutdown"] == 2
    assert analytics.flush(timeout=1) is True
    capture_server.wait_for(5, timeout=0.5)
    assert len(capture_server.events) == 4


class _SlowToEncode:
    """A property value whose encoding (on the worker thread) takes a while."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __str__(self) -> str:
        time.sleep(self.seconds)
        return "slow"


def capture_slow_to_encode(analytics: Analytics, seconds: float) -> str | None:
    """Capture a first event whose encoding takes ``seconds``; return its uuid once the
    worker has taken it (bounded wait until none is pending): the worker is encoding it
    and the SDK does not have it yet."""
    returned = analytics.capture_event(
        SEED, from_user_id="u1", properties={"v": _SlowToEncode(seconds)}
    )
    deadline = time.monotonic() + 5
    while analytics.stats().pending and time.monotonic() < deadline:
        time.sleep(0.001)
    return returned


def test_flush_delivers_the_first_event(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    returned = capture_slow_to_encode(analytics, 1.0)
    assert analytics.flush(timeout=5) is True
    # flush returned True ("nothing left pending"): the event must be at the server.
    assert [e["uuid"] for e in capture_server.wait_for(1, timeout=0)] == [returned]


def test_shutdown_delivers_the_first_event(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    # Longer than the 0.5 s the library grants the SDK's own shutdown.
    returned = capture_slow_to_encode(analytics, 1.5)
    final = analytics.shutdown(timeout=5)
    assert [e["uuid"] for e in capture_server.wait_for(1, timeout=0)] == [returned]
    assert final.sent == 1


# -- invalid input ---------------------------------------------------------------------


def camel_case(fields: dict[str, Any]) -> dict[str, Any]:
    """EventData keyword arguments as a camelCase mapping, as the TypeScript original has it."""
    spelling = {"event_type": "eventType", "long_description": "longDescription"}
    return {spelling.get(key, key): value for key, value in fields.items()}


INVALID: list[Any] = [
    *(
        pytest.param({"data": camel_case(fields)}, exc, fragments, id=case_id)
        for case_id, (fields, exc, fragments) in INVALID_FIELDS.items()
    ),
    pytest.param(
        {"data": ["info", "fetch_all_users"]},
        TypeError,
        ["data", "['info', 'fetch_all_users']", "EventData", "mapping"],
        id="data-is-a-list",
    ),
    pytest.param(
        {"data": "info_fetch_all_users"},
        TypeError,
        ["data", "'info_fetch_all_users'", "EventData", "mapping"],
        id="data-is-a-str",
    ),
    pytest.param(
        {"data": SEED, "from_user_id": True},
        TypeError,
        ["from_user_id", "True", "str"],
        id="user-id-bool",
    ),
    pytest.param(
        {"data": SEED, "from_user_id": ""},
        (TypeError, ValueError),
        ["from_user_id", "''", "non-empty"],
        id="user-id-empty",
    ),
    pytest.param(
        {"data": SEED, "properties": ["plan", "pro"]},
        TypeError,
        ["properties", "['plan', 'pro']", "mapping"],
        id="properties-is-a-list",
    ),
    pytest.param(
        {"data": SEED, "properties": "plan=pro"},
        TypeError,
        ["properties", "'plan=pro'", "mapping"],
        id="properties-is-a-str",
    ),
    pytest.param(
        {"data": {"eventtype": "info", "id": "x"}},
        ValueError,
        ["'eventtype'", "'eventType'", "'event_type'"],
        id="from-dict-unknown-key",
    ),
    pytest.param(
        {"data": {"eventType": "info", "source": "db"}},
        ValueError,
        ["'id'", "missing"],
        id="from-dict-missing-id",
    ),
]


@pytest.mark.parametrize(("kwargs", "exc", "fragments"), INVALID)
def test_invalid_input_raises_before_anything_is_queued(
    make_analytics: MakeAnalytics,
    capture_server: CaptureServer,
    kwargs: dict[str, Any],
    exc: type[Exception] | tuple[type[Exception], ...],
    fragments: list[str],
) -> None:
    analytics = make_analytics()
    assert_raises_naming(exc, fragments, analytics.capture_event, **kwargs)

    stats = analytics.stats()
    assert (stats.emitted, stats.queued, stats.pending) == (0, 0, 0)
    assert analytics.flush(timeout=5) is True
    assert capture_server.events == []

    # The pipeline itself works: a valid event after the bad one is the only arrival.
    good = analytics.capture_event(SEED, from_user_id="u1")
    events = deliver(analytics, capture_server, 1)
    assert [e["uuid"] for e in events] == [good]


def test_invalid_event_data_never_reaches_capture_event() -> None:
    # Built directly, a bad EventData fails at construction, before any call.
    with pytest.raises(ValueError, match="'warn'"):
        EventData(event_type="warn", id="x")  # type: ignore[arg-type]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SEED.event_type = "warn"  # type: ignore[misc, assignment]
