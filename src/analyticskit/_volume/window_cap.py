"""The logs lane's rate cap, as PostHog's SDK logs specification defines it
("Rate capping"): at most ``max_logs`` logs per tumbling window of ``window``
seconds, counted after ``before_send`` (a log it drops uses no budget); past it,
logs are dropped (counted ``rate_limited``) until the window rolls over, with one
warning per window.

The default, 50,000 logs per 10 s (5,000 a second on average, bursts of 50,000),
is a guard against a runaway loop, not a budget: logs are the lane for volume
(billed per GB, kept 14 days), so a busy server's thousands of records a second
go through; what the cap stops is a process logging tens of thousands a second
for minutes, about 15 GB an hour at 1 KB a log, which no reader wants. It runs on
the lane's delivery worker, never on the caller's thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from .. import _diagnostics
from .._validate import check, positive_problem

DEFAULT_MAX_LOGS = 50_000
DEFAULT_WINDOW = 10.0  # seconds


@dataclass(frozen=True)
class CapRule:
    """``max_logs`` per tumbling window of ``window`` seconds."""

    max_logs: int = DEFAULT_MAX_LOGS
    window: float = DEFAULT_WINDOW


def parse_cap(field: str, value: object) -> CapRule | None:
    """``True``/``None`` (the default rule), ``False`` (off), or a mapping
    ``{"max_logs": ..., "window": ...}``; a zero ``max_logs`` or ``window`` is off,
    as the specification says."""
    if value is None or value is True:
        return CapRule()
    if value is False:
        return None
    if not isinstance(value, Mapping) or not set(value) <= {"max_logs", "window"}:
        raise TypeError(
            f"{field} must be True, False, None or a mapping with 'max_logs' and/or"
            f" 'window', got {value!r}"
        )
    max_logs = value.get("max_logs", DEFAULT_MAX_LOGS)
    window = value.get("window", DEFAULT_WINDOW)
    if max_logs == 0 or window == 0:
        return None
    check(positive_problem(f"{field}['max_logs']", max_logs, int))
    check(positive_problem(f"{field}['window']", window, float))
    return CapRule(max_logs=max_logs, window=float(window))


class WindowCap:
    """One lane's tumbling window (on the monotonic clock, which never jumps back)."""

    def __init__(self, rule: CapRule, noun: str = "logs") -> None:
        self.rule = rule
        self._noun = noun
        self._start = time.monotonic()
        self._count = 0
        self._warned = False

    def allow(self) -> bool:
        """Whether one more item goes out in the current window."""
        now = time.monotonic()
        rule = self.rule
        if now - self._start >= rule.window:
            self._start, self._count, self._warned = now, 0, False
        if self._count < rule.max_logs:
            self._count += 1
            return True
        if not self._warned:
            self._warned = True
            _diagnostics.report(
                f"more than {rule.max_logs} {self._noun} in {rule.window:g} s: the rest of"
                " this window is dropped (counted as rate_limited); one such line a window."
            )
        return False
