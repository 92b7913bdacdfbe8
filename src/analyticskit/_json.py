"""One event, one line of strict JSON (the local sink's output).

(Property values are made JSON-safe, with python-json-logger's defaults, by
`_engine.outgoing` before any sink sees them.)
"""

from __future__ import annotations

import re
from typing import Any

from pythonjsonlogger.json import JsonEncoder

# One line per event whatever it holds: JSON escapes "\n" and "\r", but writes these
# raw, and str.splitlines() (and many log shippers) split records on them.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_LINE_BREAK = re.compile("[\u0085\u2028\u2029]")
_line_encoder = JsonEncoder(ensure_ascii=False, allow_nan=False)


def json_line(value: Any) -> str:
    """``value`` as one line of strict JSON: no bare NaN or Infinity (ValueError), and
    no character that `str.splitlines` treats as a line break left unescaped."""
    return _LINE_BREAK.sub(lambda m: _LINE_BREAKS[m.group()], _line_encoder.encode(value))
