"""The message a sink delivers: an EventData with its identity, properties and time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._json import json_safe
from .context import CallerContext
from .events import EventData


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
    properties (made JSON-safe), then the EventData's wire properties."""
    props: dict[str, Any] = json_safe(caller.tags) if caller.tags else {}
    if caller.session_id:
        props["$session_id"] = caller.session_id
    for key, value in properties.items():
        props[str(key)] = json_safe(value)
    props.update(data.wire_properties())
    return Message(
        name=data.event_name,
        distinct_id=distinct_id or caller.distinct_id,
        properties=props,
        timestamp=timestamp,
        uuid=uuid,
        exception=exception,
    )
