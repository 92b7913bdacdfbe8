"""Where volume is held back, on the caller's thread and before any event is built:
a rate cap per event name, de-duplication of identical records, and sampling.

Everything held back is counted by the caller under its own reason
(``rate_limited``, ``deduplicated``, ``sampled``), and summed up on stderr at
most once a minute. The tables are bounded in entries and in the size of their keys.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import _diagnostics
from ._validate import check, positive_problem
from .context import current_user
from .stats import DropReason

DEFAULT_BURST = 100
DEFAULT_PER_SECOND = 5.0
DEFAULT_DEDUPE_WINDOW = 1.0  # seconds
_TABLE_SIZE = 4096  # keys per table; the table is cleared when full
_MAX_KEY_CHARS = 512  # longer texts are keyed by their first characters and length
# A longer message is never held as a duplicate: the summary keeps the first record
# of its window in memory, and the table must stay small.
_DEDUPE_MAX_CHARS = 8192
_REPORT_EVERY = 60.0  # seconds between two summary lines on stderr


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per key: ``burst`` at once, then ``per_second`` on average.
    The first occurrence of a key is always let through."""

    burst: int = DEFAULT_BURST
    per_second: float = DEFAULT_PER_SECOND


def parse_rate_limit(field_name: str, value: object, default: RateLimit | None) -> RateLimit | None:
    """``True`` (the defaults), ``False`` (off), ``None`` (``default``), or a mapping
    ``{"burst": ..., "per_second": ...}``."""
    if value is True:
        return RateLimit()
    if value is False or value is None:
        return None if value is False else default
    if isinstance(value, RateLimit):
        return value
    if not isinstance(value, Mapping) or not set(value) <= {"burst", "per_second"}:
        raise TypeError(
            f"{field_name} must be True, False, None or a mapping with 'burst' and/or"
            f" 'per_second', got {value!r}"
        )
    burst = value.get("burst", DEFAULT_BURST)
    per_second = value.get("per_second", DEFAULT_PER_SECOND)
    check(positive_problem(f"{field_name}['burst']", burst, int))
    check(positive_problem(f"{field_name}['per_second']", per_second, float))
    return RateLimit(burst=burst, per_second=float(per_second))


def table_key(text: str) -> str:
    """A key for a text that holds at most `_MAX_KEY_CHARS` of it in memory."""
    return text if len(text) <= _MAX_KEY_CHARS else f"{text[:_MAX_KEY_CHARS]}...{len(text)}"


class RateLimiter:
    """Token buckets by key."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[Any, list[float]] = {}  # key: [tokens, last refill]

    def allow(self, key: Any) -> bool:
        """Take a token for ``key``; False when its bucket is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _TABLE_SIZE:
                self._buckets.clear()
            self._buckets[key] = [self.limit.burst - 1.0, now]
            return True
        tokens = min(self.limit.burst, bucket[0] + (now - bucket[1]) * self.limit.per_second)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True


@dataclass
class _Repeats:
    """Records identical to one sent, within its window."""

    first_sent: float
    sample: Any  # what the summary is built from (the first record's snapshot)
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0


@dataclass
class Deduplicator:
    """Holds back records identical to one sent within ``window`` seconds; at the
    window's end, one summary event says how many (``repeatCount``)."""

    window: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[Any, _Repeats] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def repeat(self, key: Any, wall_time: float) -> bool:
        """True if ``key`` was sent within the window (the record is held back);
        else the record is the first of a new window, and goes out."""
        now = self.clock()
        with self._lock:
            seen = self._seen.get(key)
            if seen is None or now - seen.first_sent >= self.window:
                return False
            if not seen.count:
                seen.first_seen = wall_time
            seen.count += 1
            seen.last_seen = wall_time
            return True

    def sent(self, key: Any, sample: Any) -> None:
        """``key``'s record went out now: a new window starts."""
        with self._lock:
            if len(self._seen) >= _TABLE_SIZE:
                self._seen = {k: v for k, v in self._seen.items() if v.count}
            self._seen[key] = _Repeats(self.clock(), sample)

    def due(self, everything: bool) -> list[_Repeats]:
        """The windows that ended (all of them with ``everything``) with repeats held;
        each is forgotten, so a summary is made once."""
        now = self.clock()
        with self._lock:
            ended = [
                (key, seen)
                for key, seen in self._seen.items()
                if everything or now - seen.first_sent >= self.window
            ]
            for key, _ in ended:
                del self._seen[key]
        return [seen for _, seen in ended if seen.count]


class Sampler:
    """Keeps a record with the probability set for its level or logger (longest prefix)."""

    def __init__(self, by_level: Mapping[int, float], by_logger: Mapping[str, float]) -> None:
        self._by_level = dict(by_level)
        self._by_logger = sorted(by_logger.items(), key=lambda item: -len(item[0]))
        self._rates: dict[tuple[str, int], float] = {}

    def keep(self, logger: str, levelno: int) -> bool:
        rate = self._rates.get((logger, levelno))
        if rate is None:
            rate = 1.0
            for prefix, prefix_rate in self._by_logger:
                if logger == prefix or logger.startswith(prefix + "."):
                    rate = prefix_rate
                    break
            else:
                rate = self._by_level.get(levelno, 1.0)
            if len(self._rates) >= _TABLE_SIZE:
                self._rates.clear()
            self._rates[(logger, levelno)] = rate
        return rate >= 1.0 or random.random() < rate


def parse_rates(field_name: str, value: object) -> dict[Any, float]:
    """A mapping of names to sampling rates between 0 and 1."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field_name} must be a mapping of names to rates, got {value!r}")
    rates: dict[Any, float] = {}
    for name, rate in value.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise TypeError(f"{field_name}[{name!r}] must be a number, got {rate!r}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{field_name}[{name!r}]={rate!r} must be between 0 and 1")
        rates[name] = float(rate)
    return rates


class HeldBackReport:
    """One line on stderr, at most once a minute, summing up what was held back."""

    def __init__(self) -> None:
        self._counts: dict[DropReason, int] = {}
        self._last = 0.0

    def add(self, reason: DropReason) -> None:
        self._counts[reason] = self._counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last >= _REPORT_EVERY:
            self._last = now
            counts, self._counts = self._counts, {}
            summary = ", ".join(f"{reason}={count}" for reason, count in sorted(counts.items()))
            _diagnostics.report(
                f"held back log records to cap PostHog volume: {summary}"
                f" (at most one such line a minute; stats() has the totals)."
            )


class RecordVolume:
    """A handler's volume control over log records: sampling, then de-duplication of
    identical messages, then the rate cap per event name (the logger, the level,
    the message template and an explicit ``id``: what the event name derives from)."""

    def __init__(
        self,
        rate_limit: RateLimit | None,
        dedupe_window: float,
        sample_levels: Mapping[int, float],
        sample_loggers: Mapping[str, float],
    ) -> None:
        self._rate = RateLimiter(rate_limit) if rate_limit else None
        self._dedupe = Deduplicator(dedupe_window) if dedupe_window > 0 else None
        self._sampler = (
            Sampler(sample_levels, sample_loggers) if (sample_levels or sample_loggers) else None
        )
        self.report = HeldBackReport()

    @staticmethod
    def create(
        rate_limit: RateLimit | None,
        dedupe_window: float,
        sample_levels: Mapping[int, float],
        sample_loggers: Mapping[str, float],
    ) -> RecordVolume | None:
        """A `RecordVolume`, or None when every control is off."""
        if rate_limit is None and dedupe_window <= 0 and not sample_levels and not sample_loggers:
            return None
        return RecordVolume(rate_limit, dedupe_window, sample_levels, sample_loggers)

    def hold(self, record: Any, message: str | None) -> DropReason | None:
        """Why ``record`` is held back, or None. ``message``: its formatted text
        (None if it cannot be formatted: it is then never a duplicate)."""
        if self._sampler is not None and not self._sampler.keep(record.name, record.levelno):
            return self._held("sampled")
        if (
            self._dedupe is not None
            and message is not None
            and len(message) <= _DEDUPE_MAX_CHARS
            and self._dedupe.repeat(_dedupe_key(record, message), record.created)
        ):
            return self._held("deduplicated")
        if self._rate is not None:
            msg = record.msg
            template = table_key(msg) if isinstance(msg, str) else type(msg).__name__
            extra_id = record.__dict__.get("id") or record.__dict__.get("event_id")
            key = (record.name, record.levelno, template, _key_part(extra_id))
            if not self._rate.allow(key):
                return self._held("rate_limited")
        return None

    def sent(self, record: Any, message: str | None, snapshot: Any) -> None:
        """``record`` goes out as ``snapshot``: its de-duplication window starts."""
        if self._dedupe is not None and message is not None and len(message) <= _DEDUPE_MAX_CHARS:
            self._dedupe.sent(_dedupe_key(record, message), snapshot)

    def due(self, everything: bool) -> list[tuple[Any, int, float, float]]:
        """Windows that ended with repeats: (the first record's snapshot, how many
        repeats, when the first and the last repeat were logged)."""
        if self._dedupe is None:
            return []
        return [
            (seen.sample, seen.count, seen.first_seen, seen.last_seen)
            for seen in self._dedupe.due(everything)
        ]

    def _held(self, reason: DropReason) -> DropReason:
        self.report.add(reason)
        return reason


def _dedupe_key(record: Any, message: str) -> tuple[str, int, str, Any]:
    # Identical: the same logger, level and message, for the same user.
    attrs = record.__dict__
    user = attrs.get("uid") or attrs.get("user_id") or current_user()
    return (record.name, record.levelno, table_key(message), _key_part(user))


def _key_part(value: Any) -> Any:
    """``value`` as part of a table key: short, and hashable."""
    if isinstance(value, str):
        return table_key(value)
    return value if isinstance(value, (int, type(None))) else type(value).__name__
