"""EventData: fields, allowed values, the event name, the wire properties and from_dict.

These are value-level checks; what reaches PostHog is checked over HTTP in
test_capture_event.py.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_args

import pytest

import analyticskit
from analyticskit import EventData
from helpers import (
    INVALID_FIELDS,
    RELEVANCY_CASES,
    SEED,
    SEED_CAMEL_CASE,
    SEED_SNAKE_CASE,
    SEED_WIRE,
    assert_raises_naming,
)


def test_seed_example_name_and_wire_properties() -> None:
    assert SEED.event_name == "info_fetch_all_users"
    assert SEED.wire_properties() == SEED_WIRE


@pytest.mark.parametrize(
    ("event_type", "event_id", "name"),
    [
        ("info", "fetch_all_users", "info_fetch_all_users"),
        ("error", "fetch_all_users", "error_fetch_all_users"),
        ("success", "purchase_completed", "success_purchase_completed"),
    ],
)
def test_event_name_is_type_prefixed_id(event_type: Any, event_id: str, name: str) -> None:
    assert EventData(event_type=event_type, id=event_id).event_name == name


@pytest.mark.parametrize(("event_type", "relevancy", "resolved"), RELEVANCY_CASES)
def test_relevancy_resolution(event_type: Any, relevancy: Any, resolved: str) -> None:
    data = EventData(event_type=event_type, id="x", relevancy=relevancy)
    assert data.resolved_relevancy == resolved
    assert data.wire_properties()["relevancy"] == resolved
    # The field itself keeps what was given: None stays "unset".
    assert data.relevancy == relevancy


def test_long_description_absent_from_wire_when_none() -> None:
    props = EventData(event_type="info", id="x").wire_properties()
    assert "longDescription" not in props
    assert set(props) == {"eventType", "id", "source", "relevancy"}


def test_default_source_is_general() -> None:
    assert EventData(event_type="info", id="x").source == "general"


def test_event_data_is_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SEED.id = "other"  # type: ignore[misc]


def test_allowed_values_are_exposed() -> None:
    assert set(analyticskit.EVENT_TYPES) == {"info", "error", "success"}
    assert set(analyticskit.RELEVANCIES) == {"low", "medium", "high"}
    assert set(analyticskit.DEFAULT_SOURCES) == {
        "general",
        "auth",
        "db",
        "analytics",
        "iap",
        "notif",
        "aikit",
    }
    assert set(get_args(analyticskit.EventType)) == set(analyticskit.EVENT_TYPES)
    assert set(get_args(analyticskit.Relevancy)) == set(analyticskit.RELEVANCIES)
    assert set(get_args(analyticskit.Source)) == set(analyticskit.DEFAULT_SOURCES)


# -- from_dict ---------------------------------------------------------------------


def test_from_dict_camel_case_ports_a_typescript_call_site() -> None:
    data = EventData.from_dict(SEED_CAMEL_CASE)
    assert data == SEED


def test_from_dict_snake_case() -> None:
    data = EventData.from_dict({**SEED_SNAKE_CASE, "relevancy": "low"})
    assert data == dataclasses.replace(SEED, relevancy="low")


def test_from_dict_minimal() -> None:
    data = EventData.from_dict({"eventType": "error", "id": "boom"})
    assert data == EventData(event_type="error", id="boom")
    assert data.resolved_relevancy == "high"


@pytest.mark.parametrize(
    ("mapping", "exc", "fragments"),
    [
        pytest.param(
            {"eventtype": "info", "id": "x"},
            ValueError,
            ["'eventtype'", "'eventType'", "'event_type'"],
            id="unknown-key-misspelt",
        ),
        pytest.param(
            {"eventType": "info", "id": "x", "userId": "u1"},
            ValueError,
            ["'userId'", "'longDescription'"],
            id="unknown-key-extra",
        ),
        pytest.param({"eventType": "info"}, ValueError, ["'id'", "missing"], id="missing-id"),
        pytest.param({"id": "x"}, ValueError, ["'event_type'", "missing"], id="missing-type"),
        pytest.param(
            {"eventType": "info", "event_type": "error", "id": "x"},
            ValueError,
            ["event_type"],
            id="key-given-twice",
        ),
        pytest.param(
            {"eventType": "warn", "id": "x"},
            ValueError,
            ["event_type", "'warn'", "'info'", "'error'", "'success'"],
            id="bad-value-still-validated",
        ),
        pytest.param(["eventType", "info"], TypeError, ["mapping", "list"], id="not-a-mapping"),
    ],
)
def test_from_dict_rejects(mapping: Any, exc: type[Exception], fragments: list[str]) -> None:
    assert_raises_naming(exc, fragments, EventData.from_dict, mapping)


# -- validation on construction ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "exc", "fragments"),
    [pytest.param(*case, id=case_id) for case_id, case in INVALID_FIELDS.items()],
)
def test_invalid_fields_raise_naming_field_value_and_allowed(
    fields: dict[str, Any], exc: type[Exception], fragments: list[str]
) -> None:
    assert_raises_naming(exc, fragments, EventData, **fields)


def test_enum_like_values_outside_the_literal_are_not_silently_accepted() -> None:
    # Case matters: the original's values are lowercase.
    with pytest.raises(ValueError, match="'Info'"):
        EventData(event_type="Info", id="x")  # type: ignore[arg-type]


# -- sources ---------------------------------------------------------------------------


def test_register_source_allows_a_new_name() -> None:
    name = "events_test_registered_source"
    with pytest.raises(ValueError, match=name):
        EventData(event_type="info", id="x", source=name)
    analyticskit.register_source(name)
    assert name in analyticskit.registered_sources()
    assert EventData(event_type="info", id="x", source=name).wire_properties()["source"] == name
    # Defaults stay, and registering again is harmless.
    analyticskit.register_source(name)
    assert set(analyticskit.DEFAULT_SOURCES) <= analyticskit.registered_sources()


def test_registered_source_appears_in_the_allowed_values_of_errors() -> None:
    name = "events_test_listed_source"
    analyticskit.register_source(name)
    with pytest.raises(ValueError) as info:
        EventData(event_type="info", id="x", source="nope_not_registered")
    assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    ("bad", "error"), [("", ValueError), ("   ", ValueError), (None, TypeError), (3, TypeError)]
)
def test_register_source_rejects_non_names(bad: Any, error: type[Exception]) -> None:
    before = analyticskit.registered_sources()
    with pytest.raises(error, match=repr(bad)):
        analyticskit.register_source("events_test_ok_source_not_added", bad)
    # All-or-nothing: the valid name given alongside was not registered either.
    assert analyticskit.registered_sources() == before
