"""Privacy: secrets never leave, before_send may edit or drop, no event over the size
limit, keys PostHog gives a meaning handled. Checked at the capture server."""

from __future__ import annotations

import logging
from typing import Any

import posthog
import pytest

import analyticskit
from analyticskit import EventData, _diagnostics
from analyticskit._engine.scrub import DEFAULT_SECRET_KEYS, MASK
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import SEED, MakeAnalytics, MakeHandler, by_marker, deliver

SECRET = "s3cr3t-value-0123456789"

# Each default key, as written and inside longer names a user would write.
SECRET_KEYS = sorted(
    {*DEFAULT_SECRET_KEYS, "db_password", "X-Api-Key", "userPassword", "access_token", "sessionId"}
)
NOT_SECRET_KEYS = ["author", "tokens_used", "$session_id", "plan", "user"]

# Credential-shaped text, and what must not survive of it.
SECRET_TEXTS = {
    "bearer": ("Authorization: Bearer abcDEF123456ghiJKL", "abcDEF123456ghiJKL"),
    "basic": ("header Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    "posthog-project-key": ("key phc_abcdefghijklmnop0123456789", "phc_abcdefghijklmnop"),
    "posthog-personal-key": ("key phx_abcdefghijklmnop0123456789", "phx_abcdefghijklmnop"),
    "jwt": ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "eyJzdWIiOiIxMjMifQ"),
    "aws": ("aws AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
    "private-key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA",
    ),
    "query": ("GET /cb?code=1&password=hunter22&next=/", "hunter22"),
    "pair": ("retrying with token=tok_live_998877 now", "tok_live_998877"),
    "url-userinfo": ("postgres://admin:pa55word@db.internal/app", "pa55word"),
}


def nested(key: str, value: Any) -> dict[str, Any]:
    return {"flat": {key: value}, "deep": [{"inner": {key: value}}]}


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_values_of_secret_named_keys_are_masked_at_any_depth(
    make_analytics: MakeAnalytics,
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    key: str,
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, properties={key: SECRET, "marker": "call", **nested(key, SECRET)})
    assert analytics.flush(5)
    handler, log = make_handler(analytics=analytics)
    log.info("logged", extra={key: SECRET, "marker": "log", **nested(key, SECRET)})

    events = by_marker(deliver(handler, capture_server, 2))
    top_key = "extra_token" if key == "token" else key  # "token" is PostHog's: renamed
    for event in events.values():
        props = event["properties"]
        assert SECRET not in str(props)
        assert props[top_key] == MASK
        assert props["flat"] == {key: MASK}
        assert props["deep"] == [{"inner": {key: MASK}}]


def test_keys_that_only_look_alike_are_left_alone(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, properties={key: "kept" for key in NOT_SECRET_KEYS})
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    for key in NOT_SECRET_KEYS:
        assert event["properties"][key] == "kept", key


@pytest.mark.parametrize("case", sorted(SECRET_TEXTS))
def test_credential_shaped_text_is_masked_in_every_string(
    make_analytics: MakeAnalytics,
    make_handler: MakeHandler,
    capture_server: CaptureServer,
    case: str,
) -> None:
    text, secret = SECRET_TEXTS[case]
    analytics = make_analytics()
    data = EventData(event_type="error", id="leaky", long_description=f"failed: {text}")
    analytics.capture_event(data, properties={"note": text, "items": ["ok", {"x": text}]})
    assert analytics.flush(5)
    handler, log = make_handler(analytics=analytics)
    log.error("request failed: %s", text, extra={"detail": text})

    events = deliver(handler, capture_server, 2)
    for event in events:
        assert secret not in str(event["properties"]), event["properties"]
        assert MASK in event["properties"]["longDescription"]


def test_user_keys_and_patterns_add_to_the_defaults(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics(scrub_keys=["employee_number"], scrub_patterns=[r"EMP-\d{4}"])
    analytics.capture_event(
        SEED,
        properties={"employee_number": "42", "note": "badge EMP-1234 used", "password": "x"},
    )
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    props = event["properties"]
    assert props["employee_number"] == MASK
    assert props["note"] == f"badge {MASK} used"
    assert props["password"] == MASK  # the defaults still apply


def test_scrub_false_turns_the_defaults_off(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics(scrub=False)
    analytics.capture_event(SEED, properties={"password": SECRET, "note": "Bearer abcdefghijkl"})
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["properties"]["password"] == SECRET
    assert event["properties"]["note"] == "Bearer abcdefghijkl"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"scrub": "yes"}, TypeError),
        ({"scrub_keys": "password"}, TypeError),
        ({"scrub_keys": [1]}, TypeError),
        ({"scrub_patterns": ["("]}, ValueError),
        ({"before_send": "not callable"}, TypeError),
    ],
)
def test_bad_privacy_options_raise_at_construction(
    make_analytics: MakeAnalytics, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make_analytics(**options)


# -- before_send ----------------------------------------------------------------------------


def test_before_send_edits_and_drops_events_and_sees_them_scrubbed(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    seen: list[dict[str, Any]] = []

    def hook(event: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(event)
        if event["properties"].get("drop"):
            return None
        event["properties"]["reviewed"] = True
        return event

    analytics = make_analytics(before_send=hook)
    analytics.capture_event(SEED, properties={"password": SECRET, "marker": "kept"})
    analytics.capture_event(SEED, properties={"drop": True, "marker": "dropped"})
    assert analytics.flush(5)

    [event] = capture_server.wait_for(1)
    assert event["properties"]["reviewed"] is True
    assert seen[0]["properties"]["password"] == MASK  # scrubbed before the hook
    stats = analytics.stats()
    assert stats.dropped["before_send"] == 1
    assert stats.emitted == stats.sent + stats.dropped_total == 2


def test_a_failing_before_send_drops_the_event_and_reports_only_its_type(
    make_analytics: MakeAnalytics, capture_server: CaptureServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("before-send-KeyError")

    def hook(event: dict[str, Any]) -> dict[str, Any]:
        raise KeyError(event["properties"]["note"])

    analytics = make_analytics(before_send=hook)
    for _ in range(3):
        analytics.capture_event(SEED, properties={"note": "private detail"})
    analytics.flush(5)
    assert capture_server.events == []
    assert analytics.stats().dropped["before_send"] == 3
    err = capsys.readouterr().err
    assert err.count("before_send raised KeyError") == 1
    assert "private detail" not in err


def test_the_handlers_before_send_runs_for_its_records(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    def no_health_checks(event: dict[str, Any]) -> dict[str, Any] | None:
        return None if event["properties"].get("path") == "/health" else event

    handler, log = make_handler(before_send=no_health_checks)
    log.info("request %s", "/health", extra={"path": "/health"})
    log.info("request %s", "/orders", extra={"path": "/orders"})
    [event] = deliver(handler, capture_server, 1)
    assert event["properties"]["path"] == "/orders"
    assert handler.stats().dropped["before_send"] == 1


# -- size caps ------------------------------------------------------------------------------


def test_a_3_mb_string_in_a_list_between_two_events_is_cut_and_all_three_arrive(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, properties={"marker": "before"})
    analytics.capture_event(SEED, properties={"marker": "big", "items": ["a", "x" * 3_000_000]})
    analytics.capture_event(SEED, properties={"marker": "after"})
    assert analytics.flush(5)

    events = by_marker(capture_server.wait_for(3))
    big = events["big"]["properties"]["items"][1]
    assert big.startswith("x" * 1000) and big.endswith("characters]")
    assert len(big) < 70_000
    stats = analytics.stats()
    assert stats.sent == len(capture_server.events) == 3


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param({"response": {"body": "x" * 1_000_000}}, id="nested-1mb"),
        pytest.param({f"field_{i}": "y" * 60_000 for i in range(20)}, id="twenty-60k-strings"),
        pytest.param({"k" * 2_000_000: "v"}, id="2mb-key"),
        pytest.param({"huge": 10**5000}, id="int-of-5000-digits"),
        pytest.param({"cjk": "漢" * 200_000}, id="non-ascii-escaped-by-the-sdk"),
    ],
)
def test_no_event_leaves_over_the_limit_and_sent_means_received(
    make_analytics: MakeAnalytics, capture_server: CaptureServer, properties: dict[str, Any]
) -> None:
    analytics = make_analytics()
    analytics.capture_event(SEED, properties=properties)
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["event"] == "info_fetch_all_users"
    stats = analytics.stats()
    assert stats.sent == len(capture_server.events) == 1


def test_an_id_over_200_characters_is_refused_at_the_explicit_door(
    make_analytics: MakeAnalytics,
) -> None:
    with pytest.raises(ValueError, match="at most 200 characters"):
        make_analytics().capture_event({"eventType": "info", "id": "x" * 2_000_000})


def test_a_huge_id_extra_falls_back_to_the_template(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    log.info("checkout done", extra={"id": "x" * 2_000_000})
    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_checkout_done"


def test_an_event_too_large_even_when_cut_is_dropped_and_counted(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    # 10,000 keys of 250 characters (the walk's budget of values; keys are not cut
    # further): 2.5 MB whatever the cut.
    analytics.capture_event(SEED, properties={f"k{i:0249d}": i for i in range(10_000)})
    analytics.capture_event(SEED, properties={"marker": "fine"})
    assert analytics.flush(30)
    [event] = capture_server.wait_for(1)
    assert event["properties"]["marker"] == "fine"
    stats = analytics.stats()
    assert stats.dropped["too_large"] == 1
    assert stats.sent == 1


# -- keys with a meaning in PostHog ---------------------------------------------------------


def test_keys_posthog_gives_a_meaning_are_renamed_or_kept_on_purpose(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    analytics.capture_event(
        SEED,
        from_user_id="u_1",
        properties={
            "distinct_id": "someone_else",
            "$process_person_profile": False,
            "$set": {"plan": "pro"},
            "$groups": {"company": "acme"},
        },
    )
    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    props = event["properties"]
    assert event["distinct_id"] == "u_1"
    assert props["extra_distinct_id"] == "someone_else"
    assert props["extra_process_person_profile"] is False
    assert "$process_person_profile" not in props
    assert props["$set"] == {"plan": "pro"}
    assert props["$groups"] == {"company": "acme"}


# -- Error Tracking -------------------------------------------------------------------------


@pytest.mark.parametrize("own_client", [False, True], ids=["api_key", "client"])
def test_exceptions_sent_to_error_tracking_are_scrubbed(
    make_handler: MakeHandler, capture_server: CaptureServer, own_client: bool
) -> None:
    # Whoever built the posthog client: analyticskit, or the application (client=).
    client = posthog.Posthog(API_KEY, host=capture_server.url) if own_client else None
    try:
        given = {"client": client} if client is not None else {}
        handler, log = make_handler(capture_exceptions=True, **given)
        token = "Bearer abcdefghijklmnopqrstuvwx"
        try:
            raise PermissionError(f"upstream refused {token}")
        except PermissionError:
            log.exception("call failed")

        events = deliver(handler, capture_server, 2)
    finally:
        if client is not None:
            client.shutdown()
    exception = next(e for e in events if e["event"] == "$exception")
    assert "abcdefghijklmnopqrstuvwx" not in str(exception["properties"])
    assert "upstream refused Bearer [Filtered]" in str(exception["properties"])


def test_the_event_id_cache_holds_no_giant_messages() -> None:
    from analyticskit._mapping import event_ids as _event_ids

    for i in range(50):
        _event_ids.from_template(f"{i} " + "word " * 200_000, has_args=False)
    assert sum(len(text) for text in _event_ids._from_texts) < 4096 * 600


def test_install_sends_nothing_secret_through_the_default_instance(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    analyticskit.install(analytics=analyticskit.Analytics(api_key="phc_k", host=capture_server.url))
    logging.getLogger("privacy.app").warning("login", extra={"password": SECRET})
    [handler] = [h for h in root_logger.handlers if isinstance(h, analyticskit.PostHogHandler)]
    [event] = deliver(handler, capture_server, 1)
    assert event["properties"]["password"] == MASK
