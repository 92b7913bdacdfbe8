"""Where a log record becomes a PostHog log: the attributes of the logs lane.

The handler's `RecordSnapshot` (taken once on the caller's thread) feeds both
lanes. On the delivery worker `to_log` builds the record's event with the same
`RecordMapper` as the events lane (so ``extra`` is read, checked and filtered
the same way), then flattens it into a `LogMessage`: the message as body, its
template, severity, code location, exception, the caller's span, and every
property as an attribute typed as PostHog's SDK logs specification encodes them
(str, bool, int as int64, finite float; the rest as JSON text), beside the
specification's context attributes ``posthogDistinctId`` and ``sessionId``,
which a key of the user's own overrides.

``feature_flags``, the specification's third context attribute, is left out: a
browser or an app has one user whose flags the SDK already holds, a server has
a user per request and no flags in hand, and evaluating them for each log would
cost a request to PostHog (or a local evaluation) per user on the logging path.
An application that has them can set ``feature_flags`` in ``extra``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

from .._engine.outgoing import MAX_STRING_CHARS
from ..stats import DropReason
from .levels import level_name
from .message import Message
from .record_to_event import RecordSnapshot

# Event properties that are fields of the log itself, or renamed, not copied.
_NOT_ATTRIBUTES = frozenset({"longDescription", "level", "logger", "module", "function", "line"})
_SESSION_PROPERTY = "$session_id"
DISTINCT_ID_ATTRIBUTE = "posthogDistinctId"
SESSION_ID_ATTRIBUTE = "sessionId"
#: The record's message before formatting (``"paid %s"``), when it has arguments:
#: PostHog can group logs by pattern with it.
TEMPLATE_ATTRIBUTE = "messageTemplate"
_INT64 = range(-(2**63), 2**63)

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


def _attribute(value: Any) -> Any:
    """A property as an OTLP attribute value, as the specification encodes them: an
    int as int64 (larger ones as text), a non-finite float as "NaN", "Infinity" or
    "-Infinity", lists and mappings as JSON text."""
    if isinstance(value, (bool, str)):
        return value if isinstance(value, bool) else _text(value)
    if isinstance(value, int):
        return value if value in _INT64 else str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return _text(value)


def log_attributes(message: LogMessage) -> dict[str, Any]:
    """The attributes a log leaves with, the session id under PostHog Logs' name
    (unless the user set ``sessionId`` themselves)."""
    attributes = dict(message.properties)
    session = attributes.pop(_SESSION_PROPERTY, None)
    if session:
        attributes.setdefault(SESSION_ID_ATTRIBUTE, session)
    return attributes


def to_log(snap: RecordSnapshot) -> LogMessage:
    """The log for one record: the event the events lane would build, flattened."""
    event = snap.mapper.build(snap, event=False)
    attrs = snap.attrs
    attributes = _record_attributes(attrs)
    _add_properties(attributes, event.properties)
    if event.distinct_id is not None:
        attributes.setdefault(DISTINCT_ID_ATTRIBUTE, event.distinct_id)
    levelno: int = attrs["levelno"]
    return LogMessage(
        name="$log",
        distinct_id=event.distinct_id,
        properties=attributes,
        timestamp=event.timestamp,
        uuid=None,
        before_send=event.before_send,
        trace=event.trace,
        body=_text(snap.message),
        severity_text=level_name(levelno, attrs["levelname"]),
        severity_number=severity_number(levelno),
    )


def _record_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """The record's own attributes: where it was logged, its template, its exception."""
    attributes: dict[str, Any] = {
        "logger.name": attrs["name"],
        "code.file.path": attrs["pathname"],
        "code.function.name": attrs["funcName"],
        "code.line.number": attrs["lineno"],
    }
    if attrs.get("args") and isinstance(attrs["msg"], str):
        attributes[TEMPLATE_ATTRIBUTE] = _text(attrs["msg"])
    exc_info = attrs.get("exc_info")
    if exc_info and exc_info[1] is not None:
        attributes["exception.type"] = type(exc_info[1]).__qualname__
        attributes["exception.message"] = _text(str(exc_info[1]))
        attributes["exception.stacktrace"] = _text(
            attrs.get("exc_text") or _formatter.formatException(exc_info)
        )
    return attributes


def _add_properties(attributes: dict[str, Any], properties: dict[str, Any]) -> None:
    """The event's properties as attributes, but those that are the log's own fields."""
    if properties.get(SESSION_ID_ATTRIBUTE):
        # The user's own sessionId wins, and is the replay session PostHog means by
        # it, not a secret: it travels as $session_id, as the context's does.
        properties = {**properties, _SESSION_PROPERTY: properties[SESSION_ID_ATTRIBUTE]}
        del properties[SESSION_ID_ATTRIBUTE]
    for key, value in properties.items():
        # $session_id keeps its PostHog name through the outgoing filters (which
        # leave PostHog's own keys alone); `log_attributes` renames it.
        if key not in _NOT_ATTRIBUTES and value is not None:
            attributes[key] = _attribute(value)
