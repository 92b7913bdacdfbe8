"""What a snapshot costs to hold in the delivery buffer, in bytes, and its long strings
cut on the caller's thread before it is held.

The estimate is cheap on purpose (it runs for every event): on the caller, the
length of a record's message and text, or of a ``capture_event``'s strings (a
bounded look into containers), and a fixed cost for the rest; on the worker,
once an event is cut, the size of its properties replaces a smaller estimate (a
record's ``extra`` values are measured there). Strings are cut to what
`_engine.outgoing` would cut them to anyway, with the same marker, so the worker's walk
leaves them as they are.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from .. import _diagnostics
from .outgoing import MAX_STRING_CHARS

SNAPSHOT_BYTES = 1024
"""What one snapshot costs beyond its strings (its dict of attributes, the tuple)."""

# A cut string keeps this many characters and gets the walk's marker, staying under
# MAX_STRING_CHARS in all: the worker's walk then finds nothing to cut.
_KEPT = MAX_STRING_CHARS - 64
_CONTAINER_ITEMS = 100  # items of a container looked at, at each level
_CONTAINER_DEPTH = 3


def cut(text: str) -> str:
    """``text`` cut to `MAX_STRING_CHARS` with the walk's marker (if it is longer)."""
    if len(text) <= MAX_STRING_CHARS:
        return text
    _diagnostics.report_once(
        "truncated",  # the walk's own report: one line, whichever cuts first
        f"string properties are cut at {MAX_STRING_CHARS} characters, at any depth, so"
        " that an event stays under PostHog's size limit (and its memory bounded while"
        f" it waits); a value of {len(text)} characters was cut so. Reported once.",
    )
    return f"{text[:_KEPT]}... [truncated {len(text) - _KEPT} characters]"


def size_of(value: Any, depth: int = 0) -> int:
    """A bounded estimate of the bytes ``value``'s strings take (0 for scalars). Only
    the built-in containers are looked into, so no user code runs on the caller's
    thread; one that cannot be read (changed by another thread) counts 0 here: the
    worker's walk measures and marks it."""
    try:
        return _size_of(value, depth)
    except Exception:
        return 0


def _size_of(value: Any, depth: int) -> int:
    kind = value.__class__
    if kind is str or kind is bytes or kind is bytearray:
        return len(value)
    if depth >= _CONTAINER_DEPTH:
        return 0
    if kind is dict:
        items = itertools.islice(value.items(), _CONTAINER_ITEMS)
        return sum(_size_of(k, depth + 1) + _size_of(v, depth + 1) for k, v in items)
    if kind in _SEQUENCES:
        items = itertools.islice(value, _CONTAINER_ITEMS)
        return sum(_size_of(item, depth + 1) for item in items)
    return 0


_SEQUENCES = (list, tuple, set, frozenset)


def cut_values(values: dict[Any, Any], into: dict[Any, Any] | None = None) -> int:
    """Cut the long strings among ``values`` (a dict the caller owns), in place or in
    ``into``; the bytes its values hold."""
    target = values if into is None else into
    size = 0
    for key, value in values.items():
        if value.__class__ is str:
            if len(value) > MAX_STRING_CHARS:
                target[key] = value = cut(value)
            size += len(value)
        elif not isinstance(value, (int, float)) and value is not None:
            size += size_of(value)
    return size


#: How many attributes a plain `logging.LogRecord` has: a record's ``extra`` keys are
#: set after them, so they come last in its ``__dict__``.
PLAIN_RECORD_ATTRS = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)


def last_values_size(values: dict[Any, Any], count: int) -> int:
    """The bytes the last ``count`` of ``values`` hold (a record's extras: read from
    the end, the record's own attributes are not looked at); long strings among
    them are cut in place (a dict the caller owns)."""
    size = 0
    for value in reversed(values.values()):
        kind = value.__class__
        if kind is str:
            if len(value) > MAX_STRING_CHARS:
                keys = list(values)[-count:]
                return cut_values({key: values[key] for key in keys}, values)
            size += len(value)
        elif kind is not int and kind is not float and kind is not bool and value is not None:
            size += size_of(value)
        count -= 1
        if not count:
            break
    return size


def values_size(values: Mapping[Any, Any]) -> int:
    """The bytes ``values`` hold, estimated: an event's properties, measured on the
    worker once they are cut (strings first: they are most of them)."""
    size = 0
    for value in values.values():
        kind = value.__class__
        if kind is str:
            size += len(value)
        elif kind is not int and kind is not float and kind is not bool and value is not None:
            size += size_of(value)
    return size
