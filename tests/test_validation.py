"""One way to validate: TypeError for a wrong type, ValueError for a wrong value, blank
strings refused everywhere, and a message that survives any value."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

import analyticskit
from analyticskit import EventData, _diagnostics
from capture_server import CaptureServer
from helpers import SEED, MakeAnalytics, MakeHandler, by_marker, deliver, is_personless


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class BadReprStr(str):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


_FIELDS = ("event_type", "id", "source", "long_description", "relevancy")
_VALUES: list[Any] = [
    BadRepr(),
    BadReprStr("info"),
    BadReprStr("   "),
    "info",
    "x",
    None,
    3,
    "",
    ["a"],
    b"bytes",
]


def test_fuzzed_event_data_raises_type_or_value_errors_that_survive_any_value() -> None:
    rng = random.Random(3)
    combos = list(itertools.product(_VALUES, repeat=2))
    for _ in range(3_000):
        fields: dict[str, Any] = {"event_type": "info", "id": "x"}
        for field, value in zip(rng.sample(_FIELDS, 2), rng.choice(combos), strict=True):
            fields[field] = value
        try:
            EventData(**fields)
        except (TypeError, ValueError) as error:
            message = str(error)
            assert message.startswith("EventData."), message
        # Anything else (a RuntimeError from a __repr__) fails the test.


def test_a_failing_repr_is_named_in_the_message() -> None:
    with pytest.raises(TypeError, match="failing __repr__") as info:
        EventData(event_type="info", id=BadRepr())  # type: ignore[arg-type]
    assert "EventData.id" in str(info.value)


def test_a_huge_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ValueError) as info:
        EventData(event_type="info", id="x", source="s" * 10_000)
    assert len(str(info.value)) < 1_000
    assert "10002 characters" in str(info.value)


@pytest.mark.parametrize(
    ("user_id", "error"),
    [
        ("", ValueError),
        ("   ", ValueError),
        ("u" * 201, ValueError),
        (True, TypeError),
        (4.2, TypeError),
        (b"u_1", TypeError),
    ],
)
def test_the_explicit_door_refuses_a_distinct_id_posthog_would_refuse(
    make_analytics: MakeAnalytics, user_id: Any, error: type[Exception]
) -> None:
    analytics = make_analytics()
    with pytest.raises(error, match="from_user_id"):
        analytics.capture_event(SEED, from_user_id=user_id)
    assert analytics.stats().emitted == 0


def test_a_distinct_id_of_200_characters_is_accepted(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, from_user_id="u" * 200)
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["distinct_id"] == "u" * 200


def test_a_bad_uid_extra_falls_back_to_the_bound_user_and_costs_no_other_event(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _diagnostics._reported.discard("extra-uid")
    handler, log = make_handler()
    with analyticskit.user("u_bound"):
        for i in range(48):
            log.info("good %s", i, extra={"uid": f"u_{i}", "marker": i})
        log.info("too long", extra={"uid": "u" * 201, "marker": "long"})
        log.info("blank", extra={"user_id": "   ", "marker": "blank"})
    log.info("unbound", extra={"uid": "x" * 500, "marker": "unbound"})

    events = by_marker(deliver(handler, capture_server, 51))
    assert events["long"]["distinct_id"] == "u_bound"
    assert events["blank"]["distinct_id"] == "u_bound"
    assert is_personless(events["unbound"])
    assert all(events[i]["distinct_id"] == f"u_{i}" for i in range(48))
    err = capfd.readouterr().err
    assert err.count("extra uid=") == 1  # reported once
    assert "at most 200 characters" in err


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: analyticskit.register_source(1), TypeError),  # type: ignore[arg-type]
        (lambda: analyticskit.register_source(" "), ValueError),
        (lambda: analyticskit.Analytics(max_queued="10"), TypeError),  # type: ignore[arg-type]
        (lambda: analyticskit.Analytics(max_queued=0), ValueError),
        (lambda: analyticskit.PostHogHandler(level=1.5), TypeError),  # type: ignore[arg-type]
        (lambda: analyticskit.PostHogHandler(level="LOUD"), ValueError),
        (lambda: analyticskit.PostHogHandler(sources={"a": 1}), TypeError),  # type: ignore[dict-item]
        (lambda: analyticskit.PostHogHandler(sources={"a": "nope"}), ValueError),
    ],
)
def test_wrong_types_raise_type_error_and_wrong_values_value_error(
    call: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        call()
