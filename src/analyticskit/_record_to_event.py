"""Where a log record becomes an event: SPEC.md's mapping table, row by row.

Runs on the delivery worker thread, from the snapshot the handler took on the
caller's thread. Bad values in ``extra`` fall back to the default and are
reported once on stderr; nothing here raises into a log call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import uuid4

from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra

from . import _diagnostics
from ._message import Message, make_message
from .context import CallerContext
from .events import RELEVANCIES, EventData, EventType, Relevancy, registered_sources

SUCCESS = 25
"""The ``SUCCESS`` log level, between INFO and WARNING: records at it become ``success`` events."""

# Extra keys that fill EventData fields instead of becoming properties.
_EXTRA_EVENT_TYPE = "event_type"
_EXTRA_RELEVANCY = "relevancy"
_EXTRA_IDS = ("id", "event_id")
_EXTRA_LONG_DESCRIPTION = "long_description"
_EXTRA_SOURCE = "source"
_EXTRA_USERS = ("uid", "user_id")

# python-json-logger's list misses taskName before Python 3.12.
_RESERVED: frozenset[str] = frozenset(RESERVED_ATTRS) | {"taskName"}

_PRINTF = r"%(?:\([^)]*\))?[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]"
_OTHER = (
    r"\{[^{}]*\}"  # str.format style
    r"|\$\{?\w+\}?"  # string.Template style
)
_PLACEHOLDER = re.compile(_PRINTF + "|" + _OTHER)
# Without args the stdlib does not %-format the message: a "%" there is text
# ("95% slower" must not lose "% s" as if it were a placeholder).
_PLACEHOLDER_NO_ARGS = re.compile(_OTHER)
_NON_WORD = re.compile(r"\W+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_MAX_ID = 64
_SLUG_CACHE_SIZE = 4096
_slugs: dict[tuple[str, bool], str] = {}


def slug(template: object, has_args: bool = True) -> str:
    """The event id derived from a message template: placeholders removed, snake_case.

    ``"could not fetch user %s"`` gives ``could_not_fetch_user``; a non-string
    message (``log.error(exc)``) gives its type's name (``value_error``). Prose
    camelCase is not split ("iOS", "OAuth"): ``"fetchAllUsers"`` gives ``fetchallusers``.
    ``has_args`` False (a record without args) keeps ``%`` signs as text.
    """
    if not isinstance(template, str):
        template = _CAMEL.sub("_", type(template).__name__)
    key = (template, has_args)
    cached = _slugs.get(key)
    if cached is not None:
        return cached
    placeholder = _PLACEHOLDER if has_args else _PLACEHOLDER_NO_ARGS
    words = _NON_WORD.sub("_", placeholder.sub(" ", template).lower()).strip("_")
    if len(words) > _MAX_ID:
        words = words[:_MAX_ID].rsplit("_", 1)[0] or words[:_MAX_ID]
    result = words.replace("__", "_") or "log"
    if len(_slugs) >= _SLUG_CACHE_SIZE:
        _slugs.clear()
    _slugs[key] = result
    return result


def default_event_type(levelno: int) -> EventType:
    """``error`` for ERROR and above, ``success`` for SUCCESS, ``info`` otherwise."""
    if levelno >= logging.ERROR:
        return "error"
    return "success" if levelno == SUCCESS else "info"


def default_relevancy(levelno: int) -> Relevancy:
    """``low`` for DEBUG and below, ``high`` from WARNING up, ``medium`` between."""
    if levelno <= logging.DEBUG:
        return "low"
    return "high" if levelno >= logging.WARNING else "medium"


def _record_view(attrs: dict[str, Any]) -> logging.LogRecord:
    """A LogRecord over the attributes copied on the caller's thread (no __init__ cost)."""
    view = logging.LogRecord.__new__(logging.LogRecord)
    view.__dict__ = attrs
    return view


@dataclass(slots=True)
class RecordSnapshot:
    """What the handler reads on the caller's thread; the rest is done on the worker."""

    attrs: dict[str, Any]
    source: str
    text: str
    exception: BaseException | None
    caller: CallerContext


@dataclass(frozen=True, slots=True)
class LevelRule:
    """A ``level_map`` entry: what one level maps to, where it differs from the default."""

    event_type: EventType | None = None
    relevancy: Relevancy | None = None


class RecordMapper:
    """Turns `RecordSnapshot`s into `Message`s with one handler's options."""

    def __init__(self, level_map: Mapping[int, LevelRule]) -> None:
        self._level_map = dict(level_map)

    def build(self, snap: RecordSnapshot) -> Message:
        """The event for one record."""
        attrs = snap.attrs
        extras: dict[str, Any] = merge_record_extra(_record_view(attrs), {}, _RESERVED)
        levelno: int = attrs["levelno"]
        rule = self._level_map.get(levelno, _NO_RULE)
        event_type: EventType = _choice(
            extras.pop(_EXTRA_EVENT_TYPE, None),
            ("info", "error", "success"),
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
        event_id = _first_text(extras, _EXTRA_IDS, "id") or slug(
            attrs["msg"], bool(attrs.get("args"))
        )
        long_description = (
            _first_text(extras, (_EXTRA_LONG_DESCRIPTION,), "long_description") or snap.text
        )
        user_id = _first_user(extras)
        properties: dict[str, Any] = {
            "level": attrs["levelname"],
            "logger": attrs["name"],
            "module": attrs["module"],
            "function": attrs["funcName"],
            "line": attrs["lineno"],
        }
        properties.update(extras)
        data = EventData(
            event_type=event_type,
            id=event_id,
            source=source,
            long_description=long_description,
            relevancy=relevancy,
        )
        return make_message(
            data,
            distinct_id=user_id,
            properties=properties,
            caller=snap.caller,
            timestamp=datetime.fromtimestamp(attrs["created"], tz=timezone.utc),
            # Only an $exception's link needs the uuid now; otherwise the SDK makes it.
            uuid=str(uuid4()) if snap.exception is not None else None,
            exception=snap.exception,
        )


_NO_RULE = LevelRule()


def _bad_extra(field: str, value: object, allowed: str) -> None:
    _diagnostics.report_once(
        f"extra-{field}",
        f"log record extra {field}={value!r} is not allowed ({allowed}); the default is used."
        " Reported once.",
    )


def _choice(value: Any, allowed: Any, field: str, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str) and value in allowed:
        return value
    _bad_extra(field, value, "allowed: " + ", ".join(sorted(allowed)))
    return default


def _first_text(extras: dict[str, Any], keys: tuple[str, ...], field: str) -> str | None:
    found: str | None = None
    for key in keys:
        value = extras.pop(key, None)
        if value is None or found is not None:
            continue
        if isinstance(value, str) and value.strip():
            found = value
        else:
            _bad_extra(field, value, "a non-empty str")
    return found


def _first_user(extras: dict[str, Any]) -> str | None:
    found: str | None = None
    for key in _EXTRA_USERS:
        value = extras.pop(key, None)
        if value is None or found is not None:
            continue
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value):
            found = str(value)
        else:
            _bad_extra("uid", value, "a non-empty str or an int")
    return found
