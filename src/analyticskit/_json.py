"""JSON-safe property values, through python-json-logger's encoder defaults.

posthog's own ``clean()`` turns values it does not know (exceptions, arbitrary
objects) into None, so values are made safe before they reach the SDK.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pythonjsonlogger.defaults import unknown_default
from pythonjsonlogger.json import JsonEncoder

_encoder = JsonEncoder()
# One line per event whatever it holds: JSON escapes "\n" and "\r", but writes these
# raw, and str.splitlines() (and many log shippers) split records on them.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK = re.compile("[\u0085\u2028\u2029]")
_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 20


def json_safe(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` with everything JSON cannot hold turned into JSON values.

    NaN and infinities become None (JSON null, as the posthog SDK sends them).
    Dates become ISO strings, enums their value, dataclasses dicts, exceptions,
    UUIDs, Decimals, sets and other objects strings: python-json-logger's defaults.
    """
    if isinstance(value, _SCALARS):
        if isinstance(value, float) and not math.isfinite(value):
            return None  # JSON has no NaN or Infinity; the posthog SDK sends null too
        return value
    if _depth >= _MAX_DEPTH:
        return unknown_default(value)  # a cycle or absurd nesting: give up as a string
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in value]
    return json_safe(_encoder.default(value), _depth + 1)


_line_encoder = JsonEncoder(ensure_ascii=False, allow_nan=False)


def json_line(value: Any) -> str:
    """``value`` as one line of strict JSON: no bare NaN or Infinity (ValueError), and
    no character that `str.splitlines` treats as a line break left unescaped."""
    return _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], _line_encoder.encode(value))
