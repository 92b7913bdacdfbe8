"""What a snapshot costs to hold in the delivery buffer, in bytes, and its long strings
cut on the caller's thread before it is held.

The estimate is cheap on purpose (it runs for every record): the length of each
string at the top of the snapshot, a bounded look into containers, and a fixed
cost for the rest. Strings are cut to what `_outgoing` would cut them to anyway,
with the same marker, so the worker's walk leaves them as they are.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from . import _diagnostics
from ._outgoing import MAX_STRING_CHARS

SNAPSHOT_BYTES = 1024
"""What one snapshot costs beyond its strings (its dict of attributes, the tuple)."""

# A cut string keeps this many characters and gets the walk's marker, staying under
# MAX_STRING_CHARS in all: the worker's walk then finds nothing to cut.
_KEPT = MAX_STRING_CHARS - 64
_CONTAINER_ITEMS = 100  # items of a container looked at, at each level
_CONTAINER_DEPTH = 3

#: How many attributes a plain `logging.LogRecord` has: a record's ``extra`` keys, set
#: after them, come after them in its ``__dict__``.
PLAIN_RECORD_ATTRS = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)


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
    """A bounded estimate of the bytes ``value``'s strings take (0 for scalars)."""
    if value.__class__ is str or isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if depth >= _CONTAINER_DEPTH:
        return 0
    if isinstance(value, Mapping):
        items = itertools.islice(value.items(), _CONTAINER_ITEMS)
        return sum(size_of(k, depth + 1) + size_of(v, depth + 1) for k, v in items)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = itertools.islice(value, _CONTAINER_ITEMS)
        return sum(size_of(item, depth + 1) for item in items)
    return 0


def cut_values(values: dict[Any, Any], start: int = 0) -> int:
    """Cut the long strings among ``values``' items from the ``start``-th on (a dict
    the caller owns, changed in place); the bytes those items hold."""
    size = 0
    items = values.items() if start == 0 else itertools.islice(values.items(), start, None)
    for key, value in items:
        if value.__class__ is str:
            if len(value) > MAX_STRING_CHARS:
                values[key] = value = cut(value)
            size += len(value)
        elif not isinstance(value, (int, float)) and value is not None:
            size += size_of(value)
    return size
