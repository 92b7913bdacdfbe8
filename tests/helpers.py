"""Plain helpers and data shared by the test modules (fixtures live in conftest.py).

Importable as ``from helpers import ...``: pytest puts tests/ on ``sys.path``.
"""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from analyticskit import Analytics, EventData, PostHogHandler
from capture_server import CaptureServer

MakeAnalytics = Callable[..., Analytics]
MakeHandler = Callable[..., tuple[PostHogHandler, logging.Logger]]
RunPython = Callable[..., subprocess.CompletedProcess[str]]

# The loggers of the SDK, its HTTP stack, OpenTelemetry and this library: never records.
OWN_LOGGERS = ("posthog", "urllib3", "requests", "analyticskit", "opentelemetry")

# The seed example of the original TypeScript call site.
SEED = EventData(
    event_type="info",
    id="fetch_all_users",
    long_description="Fetching all users from the database",
    source="db",
)
# SEED as the properties that reach PostHog (written out, not computed).
SEED_WIRE = {
    "eventType": "info",
    "id": "fetch_all_users",
    "source": "db",
    "relevancy": "medium",
    "longDescription": "Fetching all users from the database",
}
# SEED as a mapping, in the two spellings `EventData.from_dict` accepts.
SEED_CAMEL_CASE = {
    "eventType": "info",
    "id": "fetch_all_users",
    "longDescription": "Fetching all users from the database",
    "source": "db",
}
SEED_SNAKE_CASE = {
    "event_type": "info",
    "id": "fetch_all_users",
    "long_description": "Fetching all users from the database",
    "source": "db",
}

# (event_type, relevancy given, relevancy resolved): the default follows the type.
RELEVANCY_CASES = [
    ("info", None, "medium"),
    ("success", None, "medium"),
    ("error", None, "high"),
    ("error", "low", "low"),
    ("info", "high", "high"),
    ("success", "low", "low"),
]

# EventData fields that fail validation, by test id: (the fields, as keyword arguments,
# the exception, what its message must name). The message names the field, the value
# and the allowed values.
INVALID_FIELDS: dict[str, tuple[dict[str, Any], type[Exception], list[str]]] = {
    "unknown-event-type": (
        {"event_type": "warn", "id": "x"},
        ValueError,
        ["event_type", "'warn'", "'info'", "'error'", "'success'"],
    ),
    "event-type-not-str": (
        {"event_type": None, "id": "x"},
        TypeError,
        ["event_type", "None", "'info'", "'error'", "'success'"],
    ),
    "unknown-source": (
        {"event_type": "info", "id": "x", "source": "payments_unregistered"},
        ValueError,
        ["source", "'payments_unregistered'", "'general'", "'auth'", "'db'", "'aikit'"],
    ),
    "unknown-relevancy": (
        {"event_type": "info", "id": "x", "relevancy": "urgent"},
        ValueError,
        ["relevancy", "'urgent'", "'low'", "'medium'", "'high'"],
    ),
    "empty-id": ({"event_type": "info", "id": ""}, ValueError, ["id", "''", "non-empty"]),
    "blank-id": ({"event_type": "info", "id": "   "}, ValueError, ["id", "'   '"]),
    "whitespace-id": (
        {"event_type": "info", "id": "  \t"},
        ValueError,
        ["id", repr("  \t"), "non-empty"],
    ),
    "int-id": ({"event_type": "info", "id": 42}, TypeError, ["id", "42", "str"]),
    "long-description-not-str": (
        {"event_type": "info", "id": "x", "long_description": 123},
        TypeError,
        ["long_description", "123", "str"],
    ),
}


def run_children(process_class: str, n: int) -> str:
    """Script text: run ``work(i)`` in ``n`` child processes of ``process_class``
    (``ctx.Process``, ``billiard.Process``), wait for them (bounded) and print
    ``EXITCODES [...]``. Append it to a script that defines ``work``."""
    return f"""
if __name__ == "__main__":
    import json
    procs = [{process_class}(target=work, args=(i,)) for i in range({n})]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    print("EXITCODES " + json.dumps([p.exitcode for p in procs]), flush=True)
"""


def unique_name() -> str:
    """A logger name no other test uses."""
    return f"tlog_{uuid.uuid4().hex[:10]}"


def release(handler: PostHogHandler, *loggers: logging.Logger) -> None:
    """Detach the handler from the loggers, shut its delivery down and close it."""
    for logger in loggers:
        logger.removeHandler(handler)
    handler.analytics.shutdown(timeout=2)
    handler.close()


def deliver(handler: PostHogHandler, server: CaptureServer, n: int) -> list[dict[str, Any]]:
    """Flush the handler and return exactly the ``n`` events the server received."""
    handler.flush(timeout=5)
    events = server.wait_for(n)
    assert len(events) == n, [e["event"] for e in events]
    return events


def by_marker(events: Iterable[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """The events by their ``marker`` property, which each event has its own of."""
    events = list(events)
    marked = {e["properties"]["marker"]: e for e in events}
    assert len(marked) == len(events), [e["properties"]["marker"] for e in events]
    return marked


def is_personless(event: dict[str, Any]) -> bool:
    uuid.UUID(event["distinct_id"])  # the SDK's anonymous form: a random uuid
    return event["properties"].get("$process_person_profile") is False


def assert_raises_naming(
    exc: type[Exception] | tuple[type[Exception], ...],
    fragments: Iterable[str],
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> BaseException:
    """``call(*args, **kwargs)`` raises ``exc`` with every fragment in its message."""
    with pytest.raises(exc) as raised:
        call(*args, **kwargs)
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return raised.value
