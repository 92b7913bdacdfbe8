"""One way to check a value: TypeError for a wrong type, ValueError for a wrong value.

Every message names the field, the value and what is allowed. Each check comes
as ``x_problem(...)``, which returns the error without raising, and the explicit
API raises it (``check(...)``), while the mapping of log records reports it once
and falls back to a default: one rule, two policies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

MAX_DISTINCT_ID = 200
"""PostHog refuses a distinct id longer than this (and with it the whole batch)."""

_MAX_SHOWN = 200  # characters of a value shown in a message


def describe(value: object) -> str:
    """``repr(value)`` for a message, shortened; never raises, whatever the value."""
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__} object with a failing __repr__>"
    if len(text) > _MAX_SHOWN:
        return f"{text[:_MAX_SHOWN]}... ({len(text)} characters)"
    return text


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in sorted(values))


def check(problem: Exception | None) -> None:
    """Raise ``problem`` if there is one."""
    if problem is not None:
        raise problem


def choice_problem(field: str, value: object, allowed: Iterable[str]) -> Exception | None:
    """``value`` must be one of the strings ``allowed``."""
    if isinstance(value, str) and value in allowed:
        return None
    kind = TypeError if not isinstance(value, str) else ValueError
    return kind(f"{field}={describe(value)} is not allowed; allowed: {_allowed(allowed)}")


def text_problem(field: str, value: object, max_chars: int | None = None) -> Exception | None:
    """``value`` must be a str with something other than white space in it (and at
    most ``max_chars`` characters)."""
    if not isinstance(value, str):
        return TypeError(
            f"{field} must be a non-empty str, got {type(value).__name__} {describe(value)}"
        )
    if not value.strip():
        return ValueError(f"{field} must be a non-empty str, got {describe(value)}")
    if max_chars is not None and len(value) > max_chars:
        return ValueError(
            f"{field} must have at most {max_chars} characters, got {describe(value)}"
        )
    return None


def distinct_id_problem(field: str, value: object) -> Exception | None:
    """A PostHog distinct id: a non-blank str of at most `MAX_DISTINCT_ID` characters
    (PostHog refuses longer ones, and the whole batch with them)."""
    return text_problem(field, value, max_chars=MAX_DISTINCT_ID)


def user_id(value: object) -> object:
    """A user id as both doors take it: an int (Django's ``user.pk``, never a bool)
    in its string form; anything else as given, for `distinct_id_problem`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def optional_text_problem(field: str, value: object) -> Exception | None:
    """None, or any str."""
    if value is None or isinstance(value, str):
        return None
    return TypeError(f"{field} must be a str or None, got {type(value).__name__} {describe(value)}")


def positive_problem(field: str, value: object, kind: type[int] | type[float]) -> Exception | None:
    """A positive, finite number (an int where ``kind`` is int); never a bool."""
    ok_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types):
        return TypeError(
            f"{field} must be a positive, finite {kind.__name__},"
            f" got {type(value).__name__} {describe(value)}"
        )
    if not math.isfinite(value) or value <= 0:  # NaN, inf: no deadline
        return ValueError(
            f"{field} must be a positive, finite {kind.__name__}, got {describe(value)}"
        )
    return None


def bool_problem(field: str, value: object) -> Exception | None:
    """True or False, not a truthy stand-in (``"false"`` is truthy)."""
    if isinstance(value, bool):
        return None
    return TypeError(f"{field} must be a bool, got {type(value).__name__} {describe(value)}")
