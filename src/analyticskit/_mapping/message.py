"""The message a sink delivers, and the snapshot each door queues to make one.

A `Snapshot` is taken on the caller's thread (`_mapping.call_to_event` for
``capture_event``, `_mapping.record_to_event` for log records); the delivery worker
turns it into a `Message` with its ``to_message`` (or learns there why it is
held back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ..context import CallerContext, span_ids
from ..events import EventData
from ..stats import DropReason

BeforeSend = Callable[[dict[str, Any]], "dict[str, Any] | None"]
"""A ``before_send`` hook: the event as a dict (``event``, ``distinct_id``,
``properties``, ``timestamp``, ``uuid``), returned changed, or None to drop it."""


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
    before_send: tuple[BeforeSend, ...] = ()  # the front-end's own hooks, run first
    #: The OpenTelemetry span current on the caller: (trace id, span id), or None.
    trace: tuple[int, int] | None = None


class Snapshot(Protocol):
    """What a door puts in the delivery buffer."""

    def to_message(self) -> Message | DropReason:
        """The event, built on the delivery worker's thread; or why it is held back
        (a front-end's volume control, decided there too)."""
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
    before_send: tuple[BeforeSend, ...] = (),
) -> Message:
    """Merge properties, lowest precedence first: posthog context tags, the given
    properties, then the EventData's wire properties. (`_engine.outgoing` makes them
    JSON-safe, scrubs and caps them before the event leaves.)"""
    props: dict[Any, Any] = dict(caller.tags) if caller.tags else {}
    if caller.session_id:
        props["$session_id"] = caller.session_id
    props.update(properties)
    props.update(data.wire_properties())
    return Message(
        name=data.event_name,
        distinct_id=distinct_id or caller.distinct_id,
        properties=props,
        timestamp=timestamp,
        uuid=uuid,
        exception=exception,
        before_send=before_send,
        trace=None if caller.span is None else span_ids(caller.span),
    )
