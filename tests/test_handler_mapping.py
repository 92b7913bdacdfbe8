"""PostHogHandler: SPEC.md's record-to-event mapping table, row by row, over real HTTP.

Each test attaches a handler with its own posthog client (aimed at the capture
server) to a dedicated logger, logs, flushes and reads what the server received.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import logging
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

import analyticskit
from analyticskit import _diagnostics
from analyticskit.handler import PostHogHandler
from capture_server import CaptureServer
from helpers import MakeHandler, by_marker, deliver, is_personless, unique_name
from mapping_cases import FIELD_EXTRAS, ID_CASES, LEVEL_CASES

ORIGIN = ("level", "logger", "module", "function", "line")


def one(handler: PostHogHandler, server: CaptureServer) -> dict[str, Any]:
    [event] = deliver(handler, server, 1)
    return event


# -- eventType ------------------------------------------------------------------------------


def test_success_level_is_registered_with_logging() -> None:
    assert analyticskit.SUCCESS == 25
    assert logging.getLevelName(analyticskit.SUCCESS) == "SUCCESS"
    assert logging.getLevelName("SUCCESS") == 25


@pytest.mark.parametrize(("level", "event_type", "relevancy"), [c[1:] for c in LEVEL_CASES])
def test_level_gives_event_type_and_relevancy(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    level: int,
    event_type: str,
    relevancy: str,
) -> None:
    handler, log = make_handler()
    log.log(level, "user %s signed in", "u1")

    event = one(handler, capture_server)
    assert event["event"] == f"{event_type}_user_signed_in"
    props = event["properties"]
    assert props["eventType"] == event_type
    assert props["relevancy"] == relevancy
    assert props["level"] == logging.getLevelName(level)


def test_custom_levels_between_the_named_ones(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    for level in (5, 15, 26, 35, 45, 60):
        log.log(level, "custom level", extra={"marker": level})

    events = by_marker(deliver(handler, capture_server, 6))
    # error from ERROR up; success only for SUCCESS itself; info otherwise.
    assert {m: e["properties"]["eventType"] for m, e in events.items()} == {
        5: "info",
        15: "info",
        26: "info",
        35: "info",
        45: "error",
        60: "error",
    }
    assert {m: e["properties"]["relevancy"] for m, e in events.items()} == {
        5: "low",
        15: "medium",
        26: "medium",
        35: "high",
        45: "high",
        60: "high",
    }


def test_extra_event_type_and_relevancy_win(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("purchase completed", extra={"event_type": "success", "marker": 1})
    log.error("retrying later", extra={"event_type": "info", "relevancy": "low", "marker": 2})
    log.debug("cache warmed", extra={"relevancy": "high", "marker": 3})

    events = by_marker(deliver(handler, capture_server, 3))
    assert events[1]["event"] == "success_purchase_completed"
    assert events[1]["properties"]["relevancy"] == "medium"
    assert events[2]["event"] == "info_retrying_later"
    assert events[2]["properties"]["eventType"] == "info"
    assert events[2]["properties"]["relevancy"] == "low"
    assert events[3]["event"] == "info_cache_warmed"
    assert events[3]["properties"]["relevancy"] == "high"
    for event in events.values():
        for key in FIELD_EXTRAS:
            assert key not in event["properties"]


# -- id -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("template", "args", "expected_id"), ID_CASES)
def test_id_is_a_slug_of_the_template(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    template: str,
    args: tuple[Any, ...],
    expected_id: str,
) -> None:
    handler, log = make_handler()
    log.info(template, *args)

    event = one(handler, capture_server)
    assert event["properties"]["id"] == expected_id
    assert event["event"] == f"info_{expected_id}"


class BraceRecord(logging.LogRecord):
    """A record class with its own formatting, as brace-style logging set-ups install."""

    def getMessage(self) -> str:
        return str(self.msg).format(*(self.args or ()))


class LazyText:
    """A message object (a lazy translation, say): formatted by its ``__str__``."""

    def __str__(self) -> str:
        return "welcome back %s"


def test_every_way_a_message_is_formatted_reaches_the_event(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("%(user)s signed in from %(city)s", {"user": "ana", "city": "Porto"})
    log.info(LazyText(), "ana")
    log.info("no arguments, 100% literal")
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(BraceRecord)
    try:
        log.info("user {} paid {}", "ana", "4 EUR")
    finally:
        logging.setLogRecordFactory(factory)

    texts = [e["properties"]["longDescription"] for e in deliver(handler, capture_server, 4)]
    assert sorted(texts) == [
        "ana signed in from Porto",
        "no arguments, 100% literal",
        "user ana paid 4 EUR",
        "welcome back ana",
    ]


def test_records_of_one_template_group_under_one_event_name(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    for uid in ("u1", "u2", "u3"):
        log.error("could not fetch user %s", uid)

    events = deliver(handler, capture_server, 3)
    assert {e["event"] for e in events} == {"error_could_not_fetch_user"}
    assert sorted(e["properties"]["longDescription"] for e in events) == [
        "could not fetch user u1",
        "could not fetch user u2",
        "could not fetch user u3",
    ]


def test_id_of_odd_templates_is_never_empty_and_bounded(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("%s", "only a placeholder", extra={"marker": "placeholder"})
    log.info("word " * 60, extra={"marker": "long"})
    log.info(ValueError("not a string template"), extra={"marker": "object"})

    events = by_marker(deliver(handler, capture_server, 3))
    for event in events.values():
        event_id = event["properties"]["id"]
        assert event_id
        assert event_id == event_id.lower()
        assert " " not in event_id
        assert len(event_id) <= 64
    assert events["long"]["properties"]["id"].startswith("word_word_")
    assert events["object"]["properties"]["id"] == "value_error"
    assert events["object"]["properties"]["longDescription"] == "not a string template"


def test_extra_id_and_event_id_win(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("fetching all users", extra={"id": "fetch_all_users", "marker": 1})
    log.info("fetching all users", extra={"event_id": "fetch_users_alias", "marker": 2})
    log.info("fetching all users", extra={"id": "primary", "event_id": "alias", "marker": 3})

    events = by_marker(deliver(handler, capture_server, 3))
    assert events[1]["event"] == "info_fetch_all_users"
    assert events[2]["event"] == "info_fetch_users_alias"
    assert events[3]["event"] == "info_primary"
    assert "event_id" not in events[2]["properties"]


# -- longDescription ------------------------------------------------------------------------


def test_long_description_is_the_formatted_message(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.warning("disk %s at %d%%", "/var", 93)

    assert one(handler, capture_server)["properties"]["longDescription"] == "disk /var at 93%"


def test_long_description_carries_the_traceback(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.exception("failed to charge %s", "c_1")

    description = one(handler, capture_server)["properties"]["longDescription"]
    assert description.startswith("failed to charge c_1\nTraceback (most recent call last):")
    assert "1 / 0" in description
    assert description.rstrip().endswith("ZeroDivisionError: division by zero")


def test_a_giant_message_is_cut_not_lost(
    make_handler: MakeHandler, capture_server: CaptureServer, capfd: pytest.CaptureFixture[str]
) -> None:
    # 2 MB: over the SDK's 900 KiB per-event limit, which would drop the event unseen.
    _diagnostics._reported.discard("truncated")
    handler, log = make_handler()
    log.error("response body: %s", "x" * 2_000_000, extra={"body": "y" * 2_000_000})

    props = one(handler, capture_server)["properties"]
    for key, kept in (("longDescription", "response body: "), ("body", "")):
        value = props[key]
        assert value.startswith(kept + "x" * 1000 if kept else "y" * 1000)
        assert value.endswith(" characters]"), value[-80:]
        assert len(value) < 70_000
    assert handler.stats().sent == 1
    reports = [line for line in capfd.readouterr().err.splitlines() if "are cut at" in line]
    assert len(reports) == 1 and reports[0].startswith("analyticskit: "), reports


def test_long_description_with_exc_info_instance_and_stack_info(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.error("rejected", exc_info=ValueError("bad card"), extra={"marker": "exc"})
    log.info("where am I", stack_info=True, extra={"marker": "stack"})

    events = by_marker(deliver(handler, capture_server, 2))
    assert "ValueError: bad card" in events["exc"]["properties"]["longDescription"]
    stack = events["stack"]["properties"]["longDescription"]
    assert stack.startswith("where am I\nStack (most recent call last):")
    assert "test_long_description_with_exc_info_instance_and_stack_info" in stack


def test_long_description_uses_the_handlers_formatter(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))
    log.error("could not fetch user %s", "u1")

    event = one(handler, capture_server)
    assert event["properties"]["longDescription"] == (
        f"[ERROR] {log.name}: could not fetch user u1"
    )
    assert event["properties"]["id"] == "could_not_fetch_user"


def test_extra_long_description_wins(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("short", extra={"long_description": "Fetching all users from the database"})

    event = one(handler, capture_server)
    assert event["properties"]["longDescription"] == "Fetching all users from the database"
    assert "long_description" not in event["properties"]


# -- source ---------------------------------------------------------------------------------


def test_source_is_the_longest_logger_prefix_on_dotted_boundaries(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    analyticskit.register_source("billing")
    p = unique_name()
    sources = {
        f"{p}.myapp": "db",
        f"{p}.myapp.auth": "auth",
        f"{p}.myapp.auth.oauth": "iap",
        f"{p}.billing": "billing",
    }
    handler, _parent = make_handler(p, sources=sources)
    expected = {
        f"{p}.myapp": "db",
        f"{p}.myapp.db.pool": "db",
        f"{p}.myapp.auth": "auth",
        f"{p}.myapp.auth.login": "auth",
        f"{p}.myapp.auth.oauth.google": "iap",
        f"{p}.myapp.authz": "db",  # not a dotted child of myapp.auth
        f"{p}.myappx": "general",  # not a dotted child of myapp
        f"{p}.billing.stripe": "billing",
        f"{p}.other": "general",
        p: "general",
    }
    for name in expected:
        logging.getLogger(name).info("routed", extra={"marker": name})

    events = by_marker(deliver(handler, capture_server, len(expected)))
    assert {m: e["properties"]["source"] for m, e in events.items()} == expected
    assert {m: e["properties"]["logger"] for m, e in events.items()} == {m: m for m in expected}


def test_source_prefix_matches_full_logger_names_not_handler_prefixes(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    # The key is a prefix of the *logger's* name, whichever logger the handler sits on.
    handler, parent = make_handler(sources={"sqlalchemy": "db"}, default_source="notif")
    logging.getLogger(f"{parent.name}.sqlalchemy").info("not sqlalchemy itself")

    assert one(handler, capture_server)["properties"]["source"] == "notif"


def test_extra_source_wins(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, log = make_handler(sources={"": "db"}, default_source="db")
    log.error("could not fetch user %s", "u1", extra={"source": "auth"})

    assert one(handler, capture_server)["properties"]["source"] == "auth"


def test_unknown_extra_source_falls_back_and_is_reported_once(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _diagnostics._reported.discard("extra-source")
    handler, log = make_handler(default_source="aikit")
    log.info("first", extra={"source": "no_such_source", "marker": 1})
    log.info("second", extra={"source": "no_such_source", "marker": 2})
    log.info("third", extra={"source": 42, "marker": 3})

    events = by_marker(deliver(handler, capture_server, 3))
    assert {m: e["properties"]["source"] for m, e in events.items()} == {
        1: "aikit",
        2: "aikit",
        3: "aikit",
    }
    err = capfd.readouterr().err
    reports = [line for line in err.splitlines() if "source=" in line]
    assert len(reports) == 1, err
    assert reports[0].startswith("analyticskit: ")
    assert "no_such_source" in reports[0]
    assert "general" in reports[0]  # names the allowed values


# -- distinct_id ----------------------------------------------------------------------------


def test_extra_uid_and_user_id_give_the_distinct_id(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("a", extra={"uid": "u_1", "marker": 1})
    log.info("b", extra={"user_id": "u_2", "marker": 2})
    log.info("c", extra={"uid": 42, "marker": 3})
    log.info("d", extra={"marker": 4})

    events = by_marker(deliver(handler, capture_server, 4))
    assert events[1]["distinct_id"] == "u_1"
    assert events[2]["distinct_id"] == "u_2"
    assert events[3]["distinct_id"] == "42"
    for marker in (1, 2, 3):
        assert "$process_person_profile" not in events[marker]["properties"]
        assert "uid" not in events[marker]["properties"]
        assert "user_id" not in events[marker]["properties"]
    assert is_personless(events[4])


def test_extra_uid_wins_over_the_bound_user(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    with analyticskit.user("bound"):
        log.info("explicit", extra={"uid": "explicit", "marker": 1})
        log.info("bound", extra={"marker": 2})

    events = by_marker(deliver(handler, capture_server, 2))
    assert events[1]["distinct_id"] == "explicit"
    assert events[2]["distinct_id"] == "bound"


# -- timestamp ------------------------------------------------------------------------------


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_timestamp_is_the_record_creation_time_via_make_log_record(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, _log = make_handler()
    created = datetime(2024, 5, 17, 8, 30, 15, 250000, tzinfo=timezone.utc)
    record = logging.makeLogRecord(
        {
            "name": "tests.replayed",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "replayed from %s",
            "args": ("a queue",),
            "module": "replayer",
            "funcName": "replay",
            "lineno": 7,
            "created": created.timestamp(),
        }
    )
    handler.handle(record)

    event = one(handler, capture_server)
    assert parse_ts(event["timestamp"]) == created
    assert event["properties"]["longDescription"] == "replayed from a queue"
    assert {k: event["properties"][k] for k in ORIGIN} == {
        "level": "INFO",
        "logger": "tests.replayed",
        "module": "replayer",
        "function": "replay",
        "line": 7,
    }


def test_timestamp_is_the_record_creation_time_not_the_send_time(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    past = datetime.now(timezone.utc) - timedelta(hours=3)

    class Backdate(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.created = past.timestamp()
            return True

    backdate = Backdate()
    log.addFilter(backdate)
    try:
        log.info("backdated")
    finally:
        log.removeFilter(backdate)
    before = datetime.now(timezone.utc)
    log.info("now")

    events = {e["event"]: e for e in deliver(handler, capture_server, 2)}
    assert abs(parse_ts(events["info_backdated"]["timestamp"]) - past) < timedelta(milliseconds=1)
    assert parse_ts(events["info_now"]["timestamp"]) >= before - timedelta(milliseconds=1)


# -- other extras, JSON-safe ----------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


class Priority(enum.IntEnum):
    HIGH = 1


@dataclasses.dataclass
class Order:
    order_id: int
    placed: date


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


def test_other_extras_become_json_safe_properties_never_null(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    extra: dict[str, Any] = {
        "plain_str": "text",
        "plain_int": 7,
        "plain_float": 1.5,
        "plain_bool": True,
        "plain_list": [1, "two"],
        "plain_dict": {"k": "v"},
        "when": when,
        "day": date(2024, 1, 2),
        "amount": Decimal("19.99"),
        "ident": ident,
        "color": Color.RED,
        "priority": Priority.HIGH,
        "tags": {"a"},
        "raw": b"\x00\xffdata",
        "error": ValueError("card declined"),
        "thing": Opaque(),
        "order": Order(7, date(2024, 1, 1)),
        "nested": {"at": when, "ids": (ident,)},
    }
    original = dict(extra)
    log.info("extras", extra=extra)

    props = one(handler, capture_server)["properties"]
    for key in extra:
        assert props.get(key) is not None, (key, props.get(key))
    assert props["plain_str"] == "text"
    assert props["plain_int"] == 7
    assert props["plain_float"] == 1.5
    assert props["plain_bool"] is True
    assert props["plain_list"] == [1, "two"]
    assert props["plain_dict"] == {"k": "v"}
    for key in ("when", "day", "amount", "ident", "color", "tags", "raw", "error", "thing"):
        assert isinstance(props[key], str), (key, props[key])
    assert parse_ts(props["when"]) == when
    assert props["day"] == "2024-01-02"
    assert props["amount"] == "19.99"
    assert props["ident"] == str(ident)
    assert props["color"] == "red"
    assert props["priority"] == 1
    assert "a" in props["tags"]
    assert "card declined" in props["error"]
    assert props["thing"] == "<Opaque thing>"
    assert props["order"] == {"order_id": 7, "placed": "2024-01-01"}
    assert props["nested"] == {"at": when.isoformat(), "ids": [str(ident)]}
    assert extra == original  # the caller's dict is not changed


def test_origin_properties(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, log = make_handler()
    frame = inspect.currentframe()
    assert frame is not None
    log.warning("origin")
    line = frame.f_lineno - 1

    props = one(handler, capture_server)["properties"]
    assert {k: props[k] for k in ORIGIN} == {
        "level": "WARNING",
        "logger": log.name,
        "module": "test_handler_mapping",
        "function": "test_origin_properties",
        "line": line,
    }


def test_full_seed_example(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, log = make_handler()
    log.error("could not fetch user %s", "u_9", extra={"source": "auth", "uid": "u_9"})

    event = one(handler, capture_server)
    assert event["event"] == "error_could_not_fetch_user"
    assert event["distinct_id"] == "u_9"
    own = {k: v for k, v in event["properties"].items() if not k.startswith("$")}
    assert {k: own.pop(k) for k in ORIGIN if k != "line"} == {
        "level": "ERROR",
        "logger": log.name,
        "module": "test_handler_mapping",
        "function": "test_full_seed_example",
    }
    assert isinstance(own.pop("line"), int)
    assert own == {
        "eventType": "error",
        "id": "could_not_fetch_user",
        "source": "auth",
        "relevancy": "high",
        "longDescription": "could not fetch user u_9",
    }


# -- nothing is mutated ---------------------------------------------------------------------


def test_record_and_extra_dict_are_not_mutated(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(sources={"": "db"})
    seen: list[tuple[logging.LogRecord, dict[str, Any]]] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append((record, dict(record.__dict__)))

    spy = Spy()
    log.addHandler(spy)  # after the PostHogHandler: sees the record it has handled
    extra: dict[str, Any] = {
        "uid": "u_1",
        "source": "auth",
        "id": "custom",
        "event_type": "success",
        "relevancy": "low",
        "long_description": "long",
        "payload": {"when": datetime(2024, 1, 1, tzinfo=timezone.utc)},
    }
    original_extra = {**extra, "payload": dict(extra["payload"])}
    try:
        try:
            raise KeyError("k")
        except KeyError:
            log.error("with %s", "args", extra=extra, exc_info=True)
    finally:
        log.removeHandler(spy)

    one(handler, capture_server)
    assert extra == original_extra
    assert isinstance(extra["payload"]["when"], datetime)
    [(record, attrs_at_spy)] = seen
    assert record.__dict__ == attrs_at_spy  # nothing changed after the handlers ran
    assert record.exc_text is None  # no formatter: the handler did not cache a traceback
    assert not hasattr(record, "message")
    for key in ("uid", "source", "id", "event_type", "relevancy", "long_description"):
        assert getattr(record, key) == extra[key]


def test_replayed_record_is_not_mutated(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, _log = make_handler()
    record = logging.makeLogRecord(
        {"name": "tests.replayed", "levelno": 40, "levelname": "ERROR", "msg": "x %s"}
    )
    record.args = ("y",)
    record.uid = "u_3"
    try:
        raise RuntimeError("boom")
    except RuntimeError as error:
        record.exc_info = (type(error), error, error.__traceback__)
    before = dict(record.__dict__)
    handler.handle(record)

    event = one(handler, capture_server)
    assert event["distinct_id"] == "u_3"
    assert record.__dict__ == before


# -- capture_exceptions ---------------------------------------------------------------------


def raise_and_log(log: logging.Logger, message: str, error: Exception, **extra: Any) -> None:
    try:
        raise error
    except Exception:
        log.exception(message, extra=extra)


def test_capture_exceptions_links_one_exception_event_per_exception(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(capture_exceptions=True)
    raise_and_log(log, "charge failed", ValueError("card declined"), uid="u_1", marker=1)
    raise_and_log(log, "lookup failed", KeyError("missing"), marker=2)
    log.error("no exception here", extra={"marker": 3})

    events = deliver(handler, capture_server, 5)
    exceptions = {e["uuid"]: e for e in events if e["event"] == "$exception"}
    records = by_marker([e for e in events if e["event"] != "$exception"])
    assert len(exceptions) == 2
    assert set(records) == {1, 2, 3}

    first, second = records[1], records[2]
    assert first["event"] == "error_charge_failed"
    assert {first["properties"]["exception_uuid"], second["properties"]["exception_uuid"]} == set(
        exceptions
    )
    assert "exception_uuid" not in records[3]["properties"]

    linked = exceptions[first["properties"]["exception_uuid"]]
    assert linked["distinct_id"] == "u_1" == first["distinct_id"]
    assert linked["properties"]["event_uuid"] == first["uuid"]
    assert linked["properties"]["event_name"] == "error_charge_failed"
    assert linked["properties"]["$exception_list"][0]["type"] == "ValueError"
    assert linked["timestamp"] == first["timestamp"]
    other = exceptions[second["properties"]["exception_uuid"]]
    assert other["properties"]["$exception_list"][0]["type"] == "KeyError"
    assert other["properties"]["event_uuid"] == second["uuid"]


def test_the_same_exception_logged_twice_gives_one_exception_event(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(capture_exceptions=True)
    try:
        raise RuntimeError("once")
    except RuntimeError:
        log.exception("first report", extra={"marker": 1})
        log.exception("second report", extra={"marker": 2})

    events = deliver(handler, capture_server, 3)
    exceptions = [e for e in events if e["event"] == "$exception"]
    records = by_marker([e for e in events if e["event"] != "$exception"])
    assert len(exceptions) == 1
    assert records[1]["properties"]["exception_uuid"] == exceptions[0]["uuid"]
    assert "exception_uuid" not in records[2]["properties"]


def test_without_capture_exceptions_no_exception_event(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    raise_and_log(log, "charge failed", ValueError("card declined"))

    event = one(handler, capture_server)
    assert event["event"] == "error_charge_failed"
    assert "exception_uuid" not in event["properties"]


# Placeholder-only templates: Django's log_response("%s: %s", ...) and Celery's failure line.
_CELERY_FAILURE = "Task %(name)s[%(id)s] %(description)s: %(exc)s"


@pytest.mark.parametrize(
    ("template", "args", "expected_id"),
    [
        ("%s: %s", ("Internal Server Error", "/orders/42/pay"), "internal_server_error"),
        ("%s: %s", ("Not Found", "/wp-admin.php"), "not_found"),
        ("%s: %s", ("Not Found", "https://example.test/u/7?x=1"), "not_found"),
        (
            _CELERY_FAILURE,
            (
                {
                    "name": "billing.charge",
                    "id": "3f2a9c1e-8d7b-4c1a-9e2f-1b2c3d4e5f60",
                    "description": "raised unexpected",
                    "exc": "ValueError('card 4242 declined')",
                },
            ),
            "task_billing_charge_raised_unexpected_valueerror",
        ),
        ('%s "%s"', ("quota exceeded for", "acme corp"), "quota_exceeded_for"),
    ],
)
def test_a_template_of_placeholders_takes_its_id_from_the_message_without_its_values(
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    template: str,
    args: tuple[Any, ...],
    expected_id: str,
) -> None:
    handler, log = make_handler()
    log.error(template, *args)
    assert one(handler, capture_server)["properties"]["id"] == expected_id


def test_a_template_with_no_stable_words_at_all_takes_the_logger_name(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(name=f"{unique_name()}.payments")
    log.error("%s", 4242)
    event = one(handler, capture_server)
    assert event["event"] == f"error_{log.name.replace('.', '_')}"
