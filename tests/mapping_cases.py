"""The record-to-event mapping cases every logging front-end must pass (SPEC.md's table).

One table each, used by the stdlib handler's tests (test_handler_mapping.py) and by
test_front_ends.py, which runs them through the stdlib handler, the structlog
processor and the loguru sink alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (level name, level number, eventType, relevancy).
LEVEL_CASES: list[tuple[str, int, str, str]] = [
    ("DEBUG", 10, "info", "low"),
    ("INFO", 20, "info", "medium"),
    ("SUCCESS", 25, "success", "medium"),
    ("WARNING", 30, "info", "high"),
    ("ERROR", 40, "error", "high"),
    ("CRITICAL", 50, "error", "high"),
]

# (message template, printf args, expected id).
ID_CASES: list[tuple[str, tuple[Any, ...], str]] = [
    ("could not fetch user %s", ("u1",), "could_not_fetch_user"),
    ("Fetched %d users in %.2f s", (3, 0.5), "fetched_users_in_s"),
    ("%(who)s logged in from %(ip)s", ({"who": "ann", "ip": "1.2.3.4"},), "logged_in_from"),
    ("User signed-up!", (), "user_signed_up"),
    ("  Payment   FAILED: card declined  ", (), "payment_failed_card_declined"),
    ("retry {} of {}", (), "retry_of"),
    ("progress 100%% done", (), "progress_done"),
    # Without args the stdlib leaves "%" alone: it is text, not a placeholder ("% s").
    ("CPU at 95% since boot", (), "cpu_at_since_boot"),
    ("upload 100% done", (), "upload_done"),
    # Data is never part of a name: numbers, ids with digits, quoted values, paths,
    # URLs, e-mail addresses, IPs, UUIDs, and every secret the scrubber knows.
    ("order 17 for customer cus_ax9f paid", (), "order_for_customer_paid"),
    ("Exception on /pay/123 [GET]", (), "exception_on_get"),
    ("user 'ann' at ann@example.com from 10.0.0.7", (), "user_at_from"),
    ("user logged in with password=hunter", (), "user_logged_in_with_password"),
    (
        "calling API with Authorization: Bearer sk_live_51HxYzAbC",
        (),
        "calling_api_with_authorization_bearer",
    ),
    ("job 1b4e28ba-2fa1-11d2-883f-0016d3cca427 at 12:30:01 done", (), "job_at_done"),
    ("disk at %d%% since %s", (95, "boot"), "disk_at_since"),
]

# The cases a front-end with already-formatted messages (no printf args) can take.
FORMATTED_ID_CASES = [(template, expected) for template, args, expected in ID_CASES if not args]


@dataclass(frozen=True)
class ExtraCase:
    """A record at ``level`` with ``message`` and ``extra``, and what its event must be:
    the event name, the distinct id (None: personless) and properties (a subset)."""

    level: str
    message: str
    extra: dict[str, Any]
    event: str
    distinct_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


# Keys of ``extra`` that fill event fields and never come back as plain properties.
FIELD_EXTRAS = ("event_type", "event_id", "long_description", "uid", "user_id")

EXTRA_CASES: dict[str, ExtraCase] = {
    "event_type-wins": ExtraCase(
        "INFO",
        "purchase completed",
        {"event_type": "success"},
        "success_purchase_completed",
        properties={"eventType": "success", "relevancy": "medium"},
    ),
    "event_type-and-relevancy-win": ExtraCase(
        "ERROR",
        "retrying later",
        {"event_type": "info", "relevancy": "low"},
        "info_retrying_later",
        properties={"eventType": "info", "relevancy": "low"},
    ),
    "id-wins": ExtraCase(
        "INFO", "fetching all users", {"id": "fetch_all_users"}, "info_fetch_all_users"
    ),
    "event_id-alias": ExtraCase(
        "INFO", "fetching all users", {"event_id": "fetch_users_alias"}, "info_fetch_users_alias"
    ),
    "source-wins": ExtraCase(
        "ERROR",
        "token expired",
        {"source": "auth"},
        "error_token_expired",
        None,
        {"source": "auth"},
    ),
    "uid": ExtraCase("INFO", "opened settings", {"uid": "u_1"}, "info_opened_settings", "u_1"),
    "user_id-alias": ExtraCase(
        "INFO", "opened settings", {"user_id": "u_2"}, "info_opened_settings", "u_2"
    ),
    "int-uid": ExtraCase("INFO", "opened settings", {"uid": 42}, "info_opened_settings", "42"),
    "long_description-wins": ExtraCase(
        "INFO",
        "short",
        {"long_description": "Fetching all users from the database"},
        "info_short",
        properties={"longDescription": "Fetching all users from the database"},
    ),
    "other-keys-are-properties": ExtraCase(
        "INFO",
        "plan changed",
        {"plan": "pro", "seats": 3, "tags": ["a", "b"]},
        "info_plan_changed",
        properties={"plan": "pro", "seats": 3, "tags": ["a", "b"]},
    ),
    # Bad values fall back to the default (and are reported once).
    "bad-source-falls-back": ExtraCase(
        "INFO", "routed", {"source": "no_such_source"}, "info_routed", None, {"source": "general"}
    ),
    "bad-event_type-falls-back": ExtraCase(
        "WARNING",
        "disk almost full",
        {"event_type": "warn"},
        "info_disk_almost_full",
        properties={"eventType": "info", "relevancy": "high"},
    ),
    "bad-relevancy-falls-back": ExtraCase(
        "ERROR", "failed", {"relevancy": "urgent"}, "error_failed", None, {"relevancy": "high"}
    ),
    "bad-uid-is-personless": ExtraCase("INFO", "opened", {"uid": ""}, "info_opened"),
}
