"""Where a log record becomes a PostHog log: the attributes of the logs lane.

The handler's `RecordSnapshot` (taken once on the caller's thread) feeds both
lanes. On the delivery worker `to_log` builds the record's event with the same
`RecordMapper` as the events lane (so ``extra`` is read, checked and filtered
the same way), then flattens it into a `LogMessage`: the message as body,
severity, code location, exception, and every property as a string attribute
(PostHog indexes string attributes).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ._levels import level_name
from ._message import Message
from ._outgoing import MAX_STRING_CHARS
from ._record_to_event import RecordSnapshot
from .stats import DropReason

# Extra keys that make a record an event regardless of ``event_level``.
EXTRA_EVENT_KEYS: tuple[str, ...] = ("id", "event_id", "event_type")

# Event properties that are fields of the log itself, or renamed, not copied.
_NOT_ATTRIBUTES = frozenset({"longDescription", "level", "logger", "module", "function", "line"})
_SESSION_PROPERTY = "$session_id"
DISTINCT_ID_ATTRIBUTE = "posthogDistinctId"
SESSION_ID_ATTRIBUTE = "sessionId"

# OpenTelemetry severity numbers at the stdlib levels (TRACE, DEBUG, INFO, WARN,
# ERROR, FATAL); a level between two (SUCCESS, 25) takes the next number up.
_SEVERITIES: tuple[tuple[int, int], ...] = (
    (logging.DEBUG, 5),
    (logging.INFO, 9),
    (logging.WARNING, 13),
    (logging.ERROR, 17),
    (logging.CRITICAL, 21),
)

_formatter = logging.Formatter()


@dataclass(frozen=True, slots=True)
class LogMessage(Message):
    """One log, ready for a logs sink: the event fields plus the log's own."""

    body: str = ""
    severity_text: str = ""
    severity_number: int = 0
    scope: str = ""


@dataclass(slots=True)
class LogSnapshot:
    """What the logs lane queues: the handler's snapshot of the record, shared."""

    record: RecordSnapshot

    def to_message(self) -> Message | DropReason:
        """The log for this record, built on the delivery worker; or why the volume
        control holds it back (as in the events lane)."""
        record = self.record
        return record.mapper.held_back(record, record.mapper.volumes[1]) or to_log(record)


def severity_number(levelno: int) -> int:
    """The OpenTelemetry severity number of a stdlib level (1, TRACE, below DEBUG)."""
    number = 1
    for level, severity in _SEVERITIES:
        if levelno == level:
            return severity
        if levelno > level:
            number = severity + 1
    return min(number, 24)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_STRING_CHARS else text[:MAX_STRING_CHARS] + "... [truncated]"


def log_attributes(message: LogMessage) -> dict[str, Any]:
    """The attributes a log leaves with, the session id under PostHog Logs' name."""
    attributes = dict(message.properties)
    session = attributes.pop(_SESSION_PROPERTY, None)
    if session is not None:
        attributes[SESSION_ID_ATTRIBUTE] = session
    return attributes


def to_log(snap: RecordSnapshot) -> LogMessage:
    """The log for one record: the event the events lane would build, flattened."""
    event = snap.mapper.build(snap)
    attrs = snap.attrs
    attributes: dict[str, Any] = {
        "logger.name": attrs["name"],
        "code.file.path": attrs["pathname"],
        "code.function.name": attrs["funcName"],
        "code.line.number": str(attrs["lineno"]),
    }
    exc_info = attrs.get("exc_info")
    if exc_info and exc_info[1] is not None:
        attributes["exception.type"] = type(exc_info[1]).__qualname__
        attributes["exception.message"] = _text(str(exc_info[1]))
        attributes["exception.stacktrace"] = _text(
            attrs.get("exc_text") or _formatter.formatException(exc_info)
        )
    for key, value in event.properties.items():
        # $session_id keeps its PostHog name through the outgoing filters (which
        # leave PostHog's own keys alone); `log_attributes` renames it.
        if key not in _NOT_ATTRIBUTES and value is not None:
            attributes[key] = _text(value)
    if event.distinct_id is not None:
        attributes[DISTINCT_ID_ATTRIBUTE] = event.distinct_id
    levelno: int = attrs["levelno"]
    return LogMessage(
        name="$log",
        distinct_id=event.distinct_id,
        properties=attributes,
        timestamp=event.timestamp,
        uuid=None,
        before_send=event.before_send,
        body=_text(snap.message),
        severity_text=level_name(levelno, attrs["levelname"]),
        severity_number=severity_number(levelno),
        scope=attrs["name"],
    )
