"""Event names a person would choose, no secret in a name or anywhere else, and no
value that can stall delivery (issue 19). Through the real SDK to the capture server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from analyticskit import EventData, _diagnostics
from capture_server import CaptureServer
from helpers import SEED, MakeAnalytics, MakeHandler, by_marker, deliver

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
# Each secret, and a line an application (or its framework) prints with it.
SECRETS = {
    "hunter2x": "user logged in with password={}",
    "sk_live_51HxYzAbCdEfGhIj": "calling API with Authorization: Bearer {}",
    JWT: "token {} refused",
    "phc_AbCdEfGhIjKlMnOpQrStUv": "using project key {}",
    "Zq9xWv8uTs7r": "connect failed: DATABASE_PASSWORD={} host=db",
    "s3cr3tValue": "oauth exchange client_secret={}&grant_type=code",
    "rt_Abc123Def": "refresh_token={} expired",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY": "aws_secret_access_key={}",
    "pa55word": "User(name='ann', password='{}')",
    "hunterJSON9": '{{"password": "{}", "user": "ann"}}',
    "colonPass1": "password: {}",
    "urlEnc0ded": "body=user%3Dann%26password%3D{}",
    "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789": "pushed with {}",
    "xoxb-1234567890-AbCdEfGhIjKl": "slack says {} is invalid",
    "AIzaSyA1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6Q": "maps key {}",
    "Passphrase2go": "passphrase={}",
    "credValue77": "credentials={}",
    "jwtValue88": "jwt={}",
}
# Ordinary text: nothing in it is masked.
ORDINARY = [
    "basic subscription plan renewed",
    "the bearer of bad news",
    "reset your password: click the link",
    "token: expired",
    "author=ann tokens_used=512",
    "git commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 deployed",
    "if password == confirm: continue",
    "session: started",
    "disk usage at 93%",
]


def _secret_free(event: dict[str, Any], secret: str) -> None:
    text = json.dumps(event)
    assert secret not in text, (event["event"], text)
    assert secret not in event["event"]


def test_no_secret_in_any_name_id_or_property_from_f_strings_and_literals(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    for secret, line in SECRETS.items():
        log.warning(line.format(secret))  # an f-string: a record without args
        template = line.replace("%", "%%").replace("{}", "%s")
        log.warning(template.replace("{{", "{").replace("}}", "}"), secret)  # with args

    events = deliver(handler, capture_server, 2 * len(SECRETS))
    for event in events:
        for secret in SECRETS:
            _secret_free(event, secret)
        assert "[Filtered]" in event["properties"]["longDescription"]
        assert "filtered" not in event["event"]
    # The same line names the same event with or without args.
    names = [e["event"] for e in events]
    assert names[0::2] == names[1::2]
    assert names[0] == "info_user_logged_in_with_password"


def test_flask_and_django_error_lines_with_secrets_name_the_call_site(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    flask, flask_log = make_handler("flask.app")
    django, django_log = make_handler("django.request")
    paths = [f"/reset/{JWT}", "/pay/123", "/login/sk_live_51HxYzAbCdEfGhIj", "/u/42"]
    for path in paths:
        try:
            raise RuntimeError(f"upstream refused Bearer {JWT}")
        except RuntimeError:
            # Flask's own line (an f-string) and Django's (args), as they log them.
            flask_log.error(f"Exception on {path} [GET]", exc_info=True)
            django_log.error("%s: %s", "Internal Server Error", path, exc_info=True)

    assert django.analytics.flush(5)
    events = deliver(flask, capture_server, 2 * len(paths))
    assert {e["event"] for e in events} == {
        "error_exception_on_get",
        "error_internal_server_error",
    }
    for event in events:
        for secret in (JWT, "sk_live_51HxYzAbCdEfGhIj"):
            _secret_free(event, secret)


def test_fifty_values_of_one_f_string_give_one_name(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    for i in range(50):
        customer = f"cus_{i:x}x{i}f"
        log.info(f"order {i} for customer {customer} paid {i * 1.5:.2f} EUR at 10.0.0.{i}")

    events = deliver(handler, capture_server, 50)
    assert {e["event"] for e in events} == {"info_order_for_customer_paid_eur_at"}
    assert events[7]["properties"]["longDescription"].startswith("order 7 for customer cus_7x7f")


def test_an_event_data_id_holding_a_credential_is_masked(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    key = "phc_AbCdEfGhIjKlMnOpQrStUv"
    analytics.capture_event(EventData(event_type="info", id=f"login_{key}"))
    analytics.capture_event(EventData(event_type="info", id="reset_password=hunter2x"))
    assert analytics.flush(5)
    events = capture_server.wait_for(2)
    assert [e["event"] for e in events] == [
        "info_login_[Filtered]",
        "info_reset_password=[Filtered]",
    ]
    for event in events:
        _secret_free(event, key)
        _secret_free(event, "hunter2x")


def test_ordinary_text_is_not_masked_and_secrets_as_keys_are(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    for text in ORDINARY:
        log.info("note", extra={"text": text, "marker": text})
    log.info("keys", extra={"by_key": {"sk_live_51HxYzAbCdEfGhIj": 1}, "marker": "keys"})

    events = by_marker(deliver(handler, capture_server, len(ORDINARY) + 1))
    for text in ORDINARY:
        assert events[text]["properties"]["text"] == text
    assert events["keys"]["properties"]["by_key"] == {"[Filtered]": 1}


def test_exception_messages_and_source_lines_are_scrubbed(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(capture_exceptions=True)
    try:
        raise ConnectionError("login failed: DATABASE_PASSWORD=Zq9xWv8uTs7r client_secret=s3cr3tV")
    except ConnectionError:
        log.exception("database down")

    events = deliver(handler, capture_server, 2)
    exception = next(e for e in events if e["event"] == "$exception")
    assert "DATABASE_PASSWORD=[Filtered]" in json.dumps(exception["properties"])
    for event in events:
        _secret_free(event, "Zq9xWv8uTs7r")
        _secret_free(event, "s3cr3tV")


def test_a_recursion_error_keeps_all_its_frames_in_error_tracking(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler(capture_exceptions=True)

    def recurse(n: int) -> int:
        return recurse(n + 1)

    try:
        recurse(0)
    except RecursionError:
        log.exception("too deep")

    events = deliver(handler, capture_server, 2)
    exception = next(e for e in events if e["event"] == "$exception")
    frames = exception["properties"]["$exception_list"][0]["stacktrace"]["frames"]
    assert len(frames) > 900
    assert all(isinstance(frame, dict) for frame in frames)


def test_the_logs_lane_is_scrubbed_by_the_same_rules(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    pytest.importorskip("opentelemetry")
    handler, log = make_handler(event_level="CRITICAL", logs_level="INFO")
    log.info("oauth exchange client_secret=s3cr3tValue&grant_type=code")
    log.info("basic subscription plan renewed")
    assert handler.analytics.flush(5)
    secret, ordinary = capture_server.wait_for_logs(2)
    assert secret["body"] == "oauth exchange client_secret=[Filtered]&grant_type=code"
    assert "s3cr3tValue" not in json.dumps(secret)
    assert ordinary["body"] == "basic subscription plan renewed"


# -- the cap on distinct names ---------------------------------------------------------------


def test_past_the_cap_new_names_are_folded_per_logger_and_level_and_counted(
    make_handler: MakeHandler, capture_server: CaptureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("names-folded")
    handler, log = make_handler("shop.orders", max_event_names=3)
    for name in ("one", "two", "three", "four", "five"):
        log.info(f"step {name} done")
    log.warning("step six done")
    log.info("step one done")  # a name sent before stays itself

    events = deliver(handler, capture_server, 7)
    assert [e["event"] for e in events] == [
        "info_step_one_done",
        "info_step_two_done",
        "info_step_three_done",
        "info_shop_orders_other_info",
        "info_shop_orders_other_info",
        "info_shop_orders_other_warning",
        "info_step_one_done",
    ]
    assert [e["properties"].get("foldedId") for e in events[3:6]] == [
        "step_four_done",
        "step_five_done",
        "step_six_done",
    ]
    assert handler.stats().names_folded == 3
    assert capsys.readouterr().err.count("distinct event names") == 1


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "100"])
def test_max_event_names_must_be_a_positive_int(make_handler: MakeHandler, bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="max_event_names"):
        make_handler(max_event_names=bad)


# -- user ids -------------------------------------------------------------------------------


def test_int_user_ids_at_both_doors(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("logged", extra={"uid": 42, "marker": "log"})
    handler.analytics.capture_event(SEED, from_user_id=42, properties={"marker": "call"})

    events = by_marker(deliver(handler, capture_server, 2))
    assert events["log"]["distinct_id"] == events["call"]["distinct_id"] == "42"


# -- a value that cannot stall delivery -------------------------------------------------------


def _self_containing(kind: str, times: int) -> object:
    if kind == "list":
        items: list[Any] = [1]
        items.extend([items] * times)
        return items
    mapping: dict[str, Any] = {"a": 1}
    for n in range(times):
        mapping[f"self{n}"] = mapping
    return mapping


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class LyingList(list[int]):
    def __iter__(self) -> Iterator[int]:
        n = 0
        while True:  # never ends
            n += 1
            yield n

    def __len__(self) -> int:
        return 3


class Raising:
    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        raise RuntimeError("lazy load outside a session")

    def __str__(self) -> str:
        raise RuntimeError("lazy load outside a session")

    def __repr__(self) -> str:
        raise RuntimeError("lazy load outside a session")


class ChangingDict(dict[str, int]):
    """A dict another thread changes while it is read."""

    def items(self) -> Any:
        yield "first", 1
        raise RuntimeError("dictionary changed size during iteration")


def _endless() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


HOSTILE: dict[str, Any] = {
    "list-in-itself-twice": _self_containing("list", 2),
    "list-in-itself-three-times": _self_containing("list", 3),
    "dict-in-itself-twice": _self_containing("dict", 2),
    "dict-in-itself-three-times": _self_containing("dict", 3),
    "wide-list": list(range(100_000)),
    "deep-nesting": _deep(10_000),
    "lying-iter": LyingList([1, 2, 3]),
    "generator": _endless(),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_value_delivers_its_event_and_the_ones_after_it(
    make_handler: MakeHandler, capture_server: CaptureServer, name: str
) -> None:
    handler, log = make_handler()
    log.info("hostile", extra={"value": HOSTILE[name], "marker": "hostile"})
    for i in range(3):
        log.info("after", extra={"marker": f"after{i}"})

    assert handler.analytics.flush(30)  # generous: the walk costs milliseconds
    events = by_marker(capture_server.wait_for(4))
    assert sorted(events) == ["after0", "after1", "after2", "hostile"]
    assert handler.stats().dropped_total == 0
    value = events["hostile"]["properties"]["value"]
    if "itself" in name:
        assert "[cycle]" in json.dumps(value)
    elif name == "wide-list":
        assert value[:3] == [0, 1, 2]
        assert value[-1].startswith("[cut: ") and "more items" in value[-1]
    elif name == "deep-nesting":
        assert "[cut: nested deeper than 20]" in json.dumps(value)
    elif name == "lying-iter":
        assert value[:3] == [1, 2, 3] and value[-1] == "[cut: over the walk's budget]"
    else:
        assert isinstance(value, str) and value.startswith("<generator")


def test_a_value_raising_while_read_costs_that_value_and_is_counted(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(
        SEED,
        properties={
            "bad": {"orm": [Raising()]},
            "changing": ChangingDict(first=1),
            "fine": "yes",
        },
    )
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    props = event["properties"]
    assert props["fine"] == "yes"
    assert props["bad"] == {"orm": ["[unreadable Raising]"]}
    assert props["changing"] == "[unreadable ChangingDict: RuntimeError]"
    assert analytics.stats().unreadable_values == 2
    assert analytics.stats().sent == 1


def test_hostile_values_at_capture_event_deliver_it_and_the_next_one(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, properties={**HOSTILE, "marker": "hostile"})
    analytics.capture_event(SEED, properties={"marker": "after"})
    assert analytics.flush(30)  # generous: the walk costs milliseconds
    events = by_marker(capture_server.wait_for(2))
    assert sorted(events) == ["after", "hostile"]
    assert "[cycle]" in json.dumps(events["hostile"]["properties"])


def test_a_shared_value_seen_twice_is_no_cycle(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    shared = {"k": [1, 2]}
    analytics.capture_event(SEED, properties={"a": shared, "b": [shared, shared]})
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["properties"]["a"] == {"k": [1, 2]}
    assert event["properties"]["b"] == [{"k": [1, 2]}, {"k": [1, 2]}]


def test_logging_stays_quiet(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing in this module logs through the root logger by accident.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
