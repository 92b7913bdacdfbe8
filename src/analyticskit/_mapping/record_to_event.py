"""Where a log record becomes an event: the mapping table, row by row.

`RecordMapper.snapshot` runs on the caller's thread and reads only what cannot
wait (the formatted message, the traceback, the caller's context);
`RecordMapper.build` runs on the delivery worker. Bad values in ``extra`` fall
back to the default and are reported once on stderr; nothing here raises into
a log call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Any, NamedTuple
from uuid import uuid4

from pythonjsonlogger.core import RESERVED_ATTRS

from .. import _diagnostics, context
from .._engine.held import PLAIN_RECORD_ATTRS, SNAPSHOT_BYTES, cut, last_values_size
from .._engine.outgoing import MAX_STRING_CHARS
from .._validate import choice_problem, describe, distinct_id_problem, text_problem, user_id
from .._volume.control import DEDUPE_MAX_CHARS, RecordVolume, RepeatTable, Window
from ..events import (
    EVENT_TYPES,
    MAX_ID_CHARS,
    RELEVANCIES,
    EventData,
    EventType,
    Relevancy,
    registered_sources,
)
from ..stats import DropReason
from . import event_ids as _event_ids
from .levels import default_event_type, default_relevancy, level_name
from .message import BeforeSend, Message, make_message

# Extra keys that fill EventData fields instead of becoming properties.
_EXTRA_EVENT_TYPE = "event_type"
_EXTRA_RELEVANCY = "relevancy"
_EXTRA_IDS = ("id", "event_id")
_EXTRA_LONG_DESCRIPTION = ("long_description",)
_EXTRA_SOURCE = "source"
_EXTRA_USERS = ("uid", "user_id")
# Extra keys that send a record to a lane whatever its level (True) or keep it out
# (False); read by the handler, never properties.
EXTRA_TO_EVENTS = "posthog_event"
EXTRA_TO_LOGS = "posthog_logs"
# Extra keys that make a record an event regardless of ``event_level``.
EXTRA_EVENT_KEYS: tuple[str, ...] = (*_EXTRA_IDS, _EXTRA_EVENT_TYPE)

# python-json-logger's list misses taskName before Python 3.12.
_RESERVED: frozenset[str] = frozenset(RESERVED_ATTRS) | {"taskName"}
#: LogRecord's own attribute names: never extra keys (the other front-ends rename such keys).
RESERVED = _RESERVED

_formatter = logging.Formatter()
_caller = context.snapshot
_new_snapshot = tuple.__new__
_LogRecord = logging.LogRecord


@dataclass(frozen=True, slots=True)
class LevelRule:
    """A ``level_map`` entry: what one level maps to, where it differs from the default."""

    event_type: EventType | None = None
    relevancy: Relevancy | None = None


_NO_RULE = LevelRule()
_ABSENT = object()  # an extra key a record does not have

DEFAULT_MAX_EVENT_NAMES = 1000
"""Distinct event names one handler makes before new ones are folded: an
application's log call sites at INFO and above number in the hundreds even in a
large one, so only data in a name (or a bug) reaches this; and PostHog's event
list is of little use past it."""
FOLDED_ID = "foldedId"
"""The property holding the id a record would have had, where its name was folded."""


class EventNames:
    """The distinct event ids one front-end has sent; past ``limit``, a new id is
    folded into one per logger and level (``myapp_db_other_warning``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.seen: set[str] = set()
        #: Records whose name was folded.
        self.folded = 0

    def folded_id(self, event_id: str, logger: str, level: str, admit: bool) -> str | None:
        """The id to send instead of ``event_id``, or None to send it; ``admit``
        counts a new id among the distinct ones (the events lane's build does)."""
        seen = self.seen
        if event_id in seen:
            return None
        if len(seen) < self.limit:
            if admit:
                seen.add(event_id)
            return None
        return f"{_event_ids.from_logger(logger)}_other_{_event_ids.from_logger(str(level))}"


class RecordSnapshot(NamedTuple):
    """What the handler reads on the caller's thread; the rest is done on the worker.

    A tuple, made with ``tuple.__new__`` on the caller's path: a third of the cost
    of a dataclass's ``__init__``.
    """

    mapper: RecordMapper
    attrs: dict[str, Any]
    source: str
    message: str
    text: str
    exception: BaseException | None
    caller: context.CallerContext
    #: A summary of records held back as duplicates (`with_repeats`): never held back.
    summary: bool = False
    #: The bytes it holds, estimated (its long strings cut already, `_engine.held`).
    size: int = SNAPSHOT_BYTES
    #: The de-duplication window this record opened on the caller's thread; None:
    #: not asked there (the worker asks); False: another front-end's record (the
    #: worker asks by its message); True: the caller decided it goes out.
    window: Window | bool | None = None

    def to_message(self) -> Message | DropReason:
        """The event for this record, or why the volume control holds it back."""
        mapper = self.mapper
        return mapper.held_back(self, mapper.volumes[0]) or mapper.build(self)

    def undersized(self) -> None:
        """The worker found this record's event far larger than `size`: its mapper
        measures the extras of the records that follow on the caller's thread."""
        self.mapper.measure_extras = True

    def with_repeats(self, count: int, first_seen: float, last_seen: float) -> RecordSnapshot:
        """The summary of ``count`` records identical to this one, held back by
        de-duplication: this record's event, with ``repeatCount`` and when the
        first and the last repeat were logged, dated at the last."""
        attrs = {
            **self.attrs,
            "repeatCount": count,
            "firstSeen": datetime.fromtimestamp(first_seen, tz=timezone.utc),
            "lastSeen": datetime.fromtimestamp(last_seen, tz=timezone.utc),
            "created": last_seen,
        }
        return self._replace(attrs=attrs, exception=None, summary=True, window=None)


class RecordMapper:
    """Turns log records into `Message`s with one handler's options."""

    def __init__(
        self,
        level_map: Mapping[int, LevelRule],
        capture_exceptions: bool,
        before_send: BeforeSend | None = None,
        max_event_names: int = DEFAULT_MAX_EVENT_NAMES,
    ) -> None:
        self._level_map = dict(level_map)
        self._capture_exceptions = capture_exceptions
        self._before_send: tuple[BeforeSend, ...] = (before_send,) if before_send else ()
        #: Whether `snapshot` measures (and cuts) the values of a record's extra keys:
        #: from the first record whose extras the worker found large (`undersized`),
        #: not before, since it costs every record a loop.
        self.measure_extras = False
        #: The volume control of the events lane and of the logs lane, set by the
        #: front-end for the delivery each feeds: the same rules, a table each (a
        #: record in both lanes is counted in both).
        self.volumes: list[RecordVolume | None] = [None, None]
        self.names = EventNames(max_event_names)

    def held_back(self, snap: RecordSnapshot, volume: RecordVolume | None) -> DropReason | None:
        """Why ``volume`` (one lane's control) holds the record back, on that lane's
        worker before its event is built; None if it goes out."""
        window = snap.window
        if volume is None or snap.summary or window is True:
            return None
        attrs = snap.attrs

        def name() -> object:  # the rate cap's key: the id, folded as build would
            given = attrs.get("id") or attrs.get("event_id") or _event_id(snap)
            if not isinstance(given, str):
                return given
            folded = self.names.folded_id(given, attrs["name"], attrs["levelname"], False)
            return folded or given

        return volume.hold(
            attrs["name"],
            attrs["levelno"],
            attrs["created"],
            snap.message,
            attrs.get("uid") or attrs.get("user_id") or snap.caller.distinct_id,
            name,
            snap,
            window if isinstance(window, Window) else None,
            None if window is False else lambda: _repeat_key(attrs, snap.message, snap.caller),
        )

    def snapshot(
        self,
        record: logging.LogRecord,
        source: str,
        formatter: logging.Formatter | None,
        repeats: RepeatTable | None = None,
    ) -> RecordSnapshot | None:
        """Read the record on the caller's thread; None if ``repeats`` holds it back as
        a repeat of a recent record (the caller counts it), asked for a record like
        the last one (a loop's storm) at the cost of a few attribute reads for the
        others."""
        message, text = _message_and_text(record, formatter)
        # The caller's path and its named tricks, each saving a call or a lookup on
        # every record (bench: the default path's column; the storm's for the third):
        # - `_message_and_text` formats a plain record with getMessage's own code;
        # - `context.snapshot` is `EMPTY` after two context-variable reads when
        #   nothing is bound and no span is current;
        # - a record unlike the last costs the repeat check one identity test and the
        #   stores that make it the last; one like it opens its window here;
        # - `_new_snapshot` (tuple.__new__) skips the NamedTuple's own __new__;
        # - `FrontEnd._guarded_snapshot` tests the thread's busy cell before calling
        #   `_guard.enter`, and counts a repeat with `Counters.refused` directly.
        caller = _caller()
        window = None
        if repeats is not None:
            msg = record.msg
            if msg is repeats.last_msg:
                window = _caller_repeat(repeats, record, message, caller)
                if window is False:  # counted in its window
                    return None
            else:
                repeats.last_msg, repeats.last_args = msg, record.args
                repeats.last_uid = record.__dict__.get("uid")
        attrs = record.__dict__.copy()
        size = SNAPSHOT_BYTES + len(message)
        if text is not message:
            size += len(text)
        if size > _LONG:  # cut before it is held
            message, text, size = _cut_record(attrs, message, text)
        if self.measure_extras:
            extras = len(attrs) - PLAIN_RECORD_ATTRS
            if extras > 0:
                size += last_values_size(attrs, extras)
        exc_info = record.exc_info
        return _new_snapshot(
            RecordSnapshot,
            (
                self,
                attrs,
                source,
                message,
                text,
                exc_info[1] if exc_info and self._capture_exceptions else None,
                caller,
                False,
                size,
                window,
            ),
        )

    def build(self, snap: RecordSnapshot, event: bool = True) -> Message:
        """The event for one record (``event`` False: for the logs lane, whose ids
        are not event names, and are not capped)."""
        attrs = snap.attrs
        extras = _extras(attrs)
        levelno: int = attrs["levelno"]
        rule = self._level_map.get(levelno, _NO_RULE)
        event_type: EventType = _choice(
            extras.pop(_EXTRA_EVENT_TYPE, None),
            EVENT_TYPES,
            "event_type",
            rule.event_type or default_event_type(levelno),
        )
        relevancy: Relevancy = _choice(
            extras.pop(_EXTRA_RELEVANCY, None),
            RELEVANCIES,
            "relevancy",
            rule.relevancy or default_relevancy(levelno),
        )
        source: str = _choice(
            extras.pop(_EXTRA_SOURCE, None), registered_sources(), "source", snap.source
        )
        event_id = _first(extras, _EXTRA_IDS, "id", _id_problem) or _event_id(snap)
        long_description = (
            _first(extras, _EXTRA_LONG_DESCRIPTION, "long_description", text_problem) or snap.text
        )
        user_id = _first(extras, _EXTRA_USERS, "uid", _user_problem)
        properties: dict[str, Any] = {
            "level": level_name(levelno, attrs["levelname"]),
            "logger": attrs["name"],
            "module": attrs["module"],
            "function": attrs["funcName"],
            "line": attrs["lineno"],
        }
        properties.update(extras)
        names = self.names
        folded = event and names.folded_id(event_id, attrs["name"], attrs["levelname"], True)
        if folded:
            properties[FOLDED_ID] = event_id
            event_id = folded
            names.folded += 1
            _diagnostics.report_once(
                "names-folded",
                f"a handler made {names.limit} distinct event names (max_event_names):"
                " each new one is sent as one per logger and level"
                f" ('<logger>_other_<level>'), its id in the property {FOLDED_ID!r}"
                " (counted in stats().names_folded). Reported once.",
            )
        data = EventData(
            event_type=event_type,
            id=event_id,
            source=source,
            long_description=long_description,
            relevancy=relevancy,
        )
        return make_message(
            data,
            distinct_id=None if user_id is None else str(user_id),
            properties=properties,
            caller=snap.caller,
            timestamp=datetime.fromtimestamp(attrs["created"], tz=timezone.utc),
            # Only an $exception's link needs the uuid now; otherwise the SDK makes it.
            uuid=str(uuid4()) if snap.exception is not None else None,
            exception=snap.exception,
            before_send=self._before_send,
        )


_LONG = SNAPSHOT_BYTES + MAX_STRING_CHARS


def _cut_record(attrs: dict[str, Any], message: str, text: str) -> tuple[str, str, int]:
    """A record with a long message or text, cut before it is held: the message, the
    text, the record's own strings (its template, traceback and stack), and its args
    (the worker reads them only as a flag: the message has them formatted in)."""
    whole = message
    message = cut(message)
    text = message if text is whole else cut(text)
    size = SNAPSHOT_BYTES + len(message) + (0 if text is message else len(text))
    for key in ("msg", "exc_text", "stack_info", "message"):
        value = attrs.get(key)
        if value is whole:
            attrs[key] = message
        elif value.__class__ is str and len(value) > MAX_STRING_CHARS:
            attrs[key] = value = cut(value)
            size += len(value)
    if attrs.get("args"):
        attrs["args"] = ("[formatted into the message]",)
    return message, text, size


def _extras(attrs: dict[Any, Any]) -> dict[str, Any]:
    """A record's extra keys, but the lane switches (`EXTRA_TO_EVENTS`, `EXTRA_TO_LOGS`)."""
    try:
        extras = {k: v for k, v in attrs.items() if k not in _RESERVED and not k.startswith("_")}
    except (AttributeError, TypeError):  # a key that is not a str (extra={1: ...})
        extras = _extras_with_odd_keys(attrs)
    extras.pop(EXTRA_TO_EVENTS, None)
    extras.pop(EXTRA_TO_LOGS, None)
    return extras


def _extras_with_odd_keys(attrs: dict[Any, Any]) -> dict[str, Any]:
    """The extra keys of a record where some key is not a str: those turned into one
    (``1`` -> ``"1"``), those whose ``__str__`` raises left out (reported once)."""
    extras: dict[str, Any] = {}
    for key, value in attrs.items():
        if not isinstance(key, str):
            try:
                key = str(key)
            except Exception as error:
                _diagnostics.report_once(
                    "extra-key",
                    f"a log record's extra key could not be made a str ({error!r});"
                    " that key was left out, the event kept. Reported once.",
                )
                continue
        if key not in _RESERVED and not key.startswith("_"):
            extras[key] = value
    return extras


def _caller_repeat(
    repeats: RepeatTable, record: logging.LogRecord, message: str, caller: context.CallerContext
) -> Window | bool | None:
    """The caller's check of a record with the last one's template: False if it repeats
    a recent record (counted in its window), else the window it opens, or None (not
    keyed here: the worker asks). An exact repeat of the record keyed last (a loop's
    storm) is counted without a key of its own being made and hashed."""
    attrs = record.__dict__
    try:
        args, uid = record.args, attrs.get("uid")
        if args != repeats.last_args or uid != repeats.last_uid:
            repeats.last_args, repeats.last_uid = args, uid
            return None
        last = repeats.last
        if (
            last is not None
            and _is_key_of(last[0], attrs, message, caller)
            and repeats.again(last[1], record.created)
        ):
            return False
        key = _repeat_key(attrs, message, caller)
        return None if key is None else (repeats.seen_last(key, record.created) or False)
    except Exception:  # an argument's own __eq__; unhashable: a list among the extras
        return None


def _is_key_of(
    key: tuple[Any, ...], attrs: dict[str, Any], message: str, caller: context.CallerContext
) -> bool:
    """Whether `_repeat_key` would give this record ``key``, compared part by part."""
    name, levelno, keyed_message, extras, user, exc_type = key
    if (
        message != keyed_message
        or attrs["name"] != name
        or attrs["levelno"] != levelno
        or len(attrs) - PLAIN_RECORD_ATTRS != len(extras)
    ):
        return False
    for extra, value in extras:
        if attrs.get(extra, _ABSENT) != value:
            return False
    exc_info = attrs["exc_info"]
    return (exc_info[0] if exc_info else None) is exc_type and user == (
        None if caller is context.EMPTY else (caller.distinct_id, caller.session_id)
    )


def _repeat_key(
    attrs: dict[str, Any], message: str, caller: context.CallerContext
) -> tuple[Any, ...] | None:
    """What makes a record identical to another: the same logger, level, message,
    exception type, extra keys and values, and caller's user and session (a key
    that may not hash: an extra value may be a list). None for a message too long
    to keep."""
    if len(message) > DEDUPE_MAX_CHARS:
        return None
    extras: tuple[Any, ...] = ()
    count = len(attrs) - PLAIN_RECORD_ATTRS
    if count > 0:
        # Read from the end (the extras come last), last first: islice from the
        # start would step over the record's own attributes one by one.
        extras = tuple(islice(reversed(attrs.items()), count))
        if "asctime" in attrs:  # another handler's formatter ran first: not the record's
            extras = tuple(item for item in extras if item[0] != "asctime")
    exc_info = attrs["exc_info"]
    return (
        attrs["name"],
        attrs["levelno"],
        message,
        extras,
        None if caller is context.EMPTY else (caller.distinct_id, caller.session_id),
        exc_info[0] if exc_info else None,
    )


def _event_id(snap: RecordSnapshot) -> str:
    """The id from the message template, else from the formatted message with its
    data and secrets taken out, else from the logger's name (`_mapping.event_ids`)."""
    attrs = snap.attrs
    return (
        _event_ids.from_template(attrs["msg"], bool(attrs.get("args")))
        or _event_ids.from_message(snap.message)
        or _event_ids.from_logger(attrs["name"])
    )


def _message_and_text(
    record: logging.LogRecord, formatter: logging.Formatter | None
) -> tuple[str, str]:
    """The record's message, and its long description (the same str when the record
    has neither a formatter, a traceback nor a stack). A message that cannot be
    formatted (``log.info("%d", "x")``) is both: its raw template, reported once."""
    try:
        msg, args = record.msg, record.args
        message = (
            (msg % args if args else msg)  # getMessage's own code, without its call
            if msg.__class__ is str and record.__class__ is _LogRecord
            else record.getMessage()  # a message object, or a record class's own
        )
    except Exception as error:
        message = _raw_message(record, error)
        return message, message
    if formatter is None and not record.exc_info and not record.stack_info:
        return message, message
    return message, _text(record, message, formatter)


def _text(record: logging.LogRecord, message: str, formatter: logging.Formatter | None) -> str:
    """The long description: the handler's formatter's output, else the message with
    the traceback and stack when the record has them."""
    if formatter is not None:
        return formatter.format(record)
    text = message
    if record.exc_info:
        text += "\n" + (record.exc_text or _formatter.formatException(record.exc_info))
    if record.stack_info:
        text += "\n" + _formatter.formatStack(record.stack_info)
    return text


def _raw_message(record: logging.LogRecord, error: Exception) -> str:
    _diagnostics.report_once(
        "unformattable",
        f"a record of logger {record.name!r} could not be formatted ({type(error).__name__});"
        " it is sent with its raw template and arguments. Reported once.",
    )
    try:
        template = str(record.msg)
    except Exception:
        template = f"<unprintable {type(record.msg).__name__} message>"
    return f"{template} (args: {describe(record.args)})" if record.args else template


def _id_problem(field: str, value: object) -> Exception | None:
    return text_problem(field, value, max_chars=MAX_ID_CHARS)


def _user_problem(field: str, value: object) -> Exception | None:
    return distinct_id_problem(field, user_id(value))


def _report_bad_extra(field: str, value: object, problem: Exception) -> None:
    _diagnostics.report_once(
        f"extra-{field}",
        f"log record extra {field}={describe(value)} is refused ({problem});"
        " the default is used. Reported once.",
    )


def _choice(value: Any, allowed: Any, field: str, default: Any) -> Any:
    if value is None:
        return default
    problem = choice_problem(field, value, allowed)
    if problem is None:
        return value
    _report_bad_extra(field, value, problem)
    return default


def _first(
    extras: dict[str, Any],
    keys: tuple[str, ...],
    field: str,
    problem_of: Callable[[str, object], Exception | None],
) -> Any:
    """The first good value among ``keys`` (all popped from ``extras``); bad ones are
    reported once and skipped."""
    found: Any = None
    for key in keys:
        value = extras.pop(key, None)
        if value is None or found is not None:
            continue
        problem = problem_of(field, value)
        if problem is None:
            found = value
        else:
            _report_bad_extra(field, value, problem)
    return found
