"""The message a sink delivers, and the snapshot each door queues to make one.

A `Snapshot` is taken on the caller's thread (`_call_to_event` for
``capture_event``, `_record_to_event` for log records); the delivery worker
turns it into a `Message` with its ``to_message``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from . import _diagnostics
from ._json import json_safe
from .context import CallerContext
from .events import EventData

# The posthog SDK silently drops an event over 900 KiB, and PostHog rejects one
# over 1 MB; a giant message or traceback should cost its tail, not the event.
MAX_STRING_CHARS = 64 * 1024


def _truncate(key: str, value: str) -> str:
    cut = len(value) - MAX_STRING_CHARS
    _diagnostics.report_once(
        "truncated",
        f"property {key!r} had {len(value)} characters; string properties are cut"
        f" at {MAX_STRING_CHARS} so that the event stays under PostHog's size limit."
        " Reported once.",
    )
    return f"{value[:MAX_STRING_CHARS]}... [truncated {cut} characters]"


@dataclass(frozen=True, slots=True)
class Message:
    """One event, ready for a sink. ``distinct_id`` None means personless; ``uuid``
    None lets the SDK make one (where nobody needs to know it in advance)."""

    name: str
    distinct_id: str | None
    properties: dict[str, Any]
    timestamp: datetime
    uuid: str | None
    exception: BaseException | None = None


class Snapshot(Protocol):
    """What a door puts in the delivery buffer."""

    def to_message(self) -> Message:
        """The event, built on the delivery worker's thread."""
        ...


def make_message(
    data: EventData,
    *,
    distinct_id: str | None,
    properties: Mapping[str, Any],
    caller: CallerContext,
    timestamp: datetime,
    uuid: str | None,
    exception: BaseException | None = None,
) -> Message:
    """Merge properties, lowest precedence first: posthog context tags, the given
    properties (made JSON-safe), then the EventData's wire properties. String
    values longer than `MAX_STRING_CHARS` are cut (and reported once)."""
    props: dict[str, Any] = json_safe(caller.tags) if caller.tags else {}
    if caller.session_id:
        props["$session_id"] = caller.session_id
    for key, value in properties.items():
        props[str(key)] = json_safe(value)
    props.update(data.wire_properties())
    for key, value in props.items():
        if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
            props[key] = _truncate(key, value)
    return Message(
        name=data.event_name,
        distinct_id=distinct_id or caller.distinct_id,
        properties=props,
        timestamp=timestamp,
        uuid=uuid,
        exception=exception,
    )
