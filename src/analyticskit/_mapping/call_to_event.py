"""Where a ``capture_event`` call becomes an event: checked and snapshot on the
caller's thread, built into a `Message` on the delivery worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

from .. import context
from .._engine import held as _held
from .._engine.outgoing import MAX_STRING_CHARS
from .._validate import check, describe, distinct_id_problem, user_id
from ..events import EventData
from .message import Message, make_message


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """One ``capture_event`` call, as the caller made it."""

    data: EventData
    distinct_id: str | None
    properties: dict[str, Any]
    caller: context.CallerContext
    timestamp: datetime
    uuid: str
    #: The bytes it holds, estimated (its long strings cut already).
    size: int = _held.SNAPSHOT_BYTES

    def to_message(self) -> Message:
        """The event for this call."""
        return make_message(
            self.data,
            distinct_id=self.distinct_id,
            properties=self.properties,
            caller=self.caller,
            timestamp=self.timestamp,
            uuid=self.uuid,
        )


def snapshot_call(
    data: EventData | Mapping[str, Any],
    from_user_id: str | int | None,
    properties: Mapping[str, Any] | None,
) -> CallSnapshot:
    """Check a ``capture_event`` call's arguments and take its snapshot.

    Raises TypeError or ValueError naming the argument, the value and what is allowed.
    """
    if isinstance(data, Mapping):
        data = EventData.from_dict(data)
    elif not isinstance(data, EventData):
        raise TypeError(
            f"data must be an EventData or a mapping, got {type(data).__name__} {describe(data)}"
        )
    distinct_id = None if from_user_id is None else user_id(from_user_id)
    if distinct_id is not None:
        check(distinct_id_problem("from_user_id", distinct_id))
    if properties is None:
        props: dict[str, Any] = {}
    elif isinstance(properties, Mapping):
        props = dict(properties)
    else:
        raise TypeError(
            "properties must be a mapping or None,"
            f" got {type(properties).__name__} {describe(properties)}"
        )
    size = _held.SNAPSHOT_BYTES + _held.cut_values(props)
    description = data.long_description
    if description is not None:
        if len(description) > MAX_STRING_CHARS:
            data = replace(data, long_description=_held.cut(description))
        size += len(data.long_description or "")
    return CallSnapshot(
        data,
        distinct_id,  # type: ignore[arg-type]  # checked: a str
        props,
        context.snapshot(),
        datetime.now(timezone.utc),
        str(uuid4()),
        size,
    )
