"""JSON-safe property values, through python-json-logger's encoder defaults.

posthog's own ``clean()`` turns values it does not know (exceptions, arbitrary
objects) into None, so values are made safe before they reach the SDK.
"""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.defaults import unknown_default
from pythonjsonlogger.json import JsonEncoder

_encoder = JsonEncoder()
_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 20


def json_safe(value: Any, _depth: int = 0) -> Any:
    """Return ``value`` with everything JSON cannot hold turned into JSON values.

    Dates become ISO strings, enums their value, dataclasses dicts, exceptions,
    UUIDs, Decimals, sets and other objects strings: python-json-logger's defaults.
    """
    if isinstance(value, _SCALARS):
        return value
    if _depth >= _MAX_DEPTH:
        return unknown_default(value)  # a cycle or absurd nesting: give up as a string
    if isinstance(value, dict):
        return {str(k): json_safe(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, _depth + 1) for v in value]
    return json_safe(_encoder.default(value), _depth + 1)
