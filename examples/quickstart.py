"""Quickstart: BackendKit's fetchAllUsers flow, in Python.

Runs as is on the embedded default: with no POSTHOG_API_KEY the events are
printed on stderr as JSON lines and nothing leaves the machine. Set
POSTHOG_API_KEY (and POSTHOG_HOST for EU or self-hosted) to send them to PostHog.

With the ``analyticskit-posthog[logs]`` extra installed, log records go to both
lanes as well: WARNING and up as events, INFO and up to PostHog Logs (printed
as JSON lines marked ``"lane": "logs"`` without a key).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import analyticskit as analytics


@dataclass
class Request:
    """Stands in for your web framework's request object."""

    user_id: str | None = None


def fetch_all_users(request: Request) -> list[str]:
    analytics.capture_event(
        data=analytics.EventData(
            event_type="info",
            id="fetch_all_users",
            long_description="Fetching all users from the database",
            source="db",
        ),
        from_user_id=request.user_id,
    )
    return ["ada", "grace"]


def purchase(request: Request, product: str) -> None:
    try:
        raise TimeoutError("payment provider did not answer")
    except TimeoutError as error:
        analytics.capture_event(
            data=analytics.EventData(
                event_type="error",
                id="purchase_failed",
                long_description=f"{product}: {error}",
                source="iap",
            ),
            from_user_id=request.user_id,
        )
    # The original's camelCase form ports by copy:
    analytics.capture_event(
        data={"eventType": "success", "id": "purchase_completed", "source": "iap"},
        from_user_id=request.user_id,
        properties={"product": product},
    )


def log_to_both_lanes() -> None:
    try:
        handler = analytics.PostHogHandler(event_level="WARNING", logs_level="INFO")
    except ImportError as error:  # the [logs] extra is not installed
        print(f"logs lane skipped: {error}")
        return
    log = logging.getLogger("quickstart")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.info("users listed in %d ms", 12)  # a log only
    log.warning("payment provider slow")  # an event and a log


if __name__ == "__main__":
    fetch_all_users(Request(user_id="user_42"))
    fetch_all_users(Request())  # no user: a personless event
    purchase(Request(user_id="user_42"), "pro_monthly")
    log_to_both_lanes()
    # Not required (pending events are delivered at exit), but explicit is better:
    analytics.shutdown()
