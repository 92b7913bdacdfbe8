"""Where volume is held back, on the delivery worker and before any event is built:
a rate cap per event name, de-duplication of identical records, and sampling.

Everything held back is counted under its own reason (``rate_limited``,
``deduplicated``, ``sampled``) and summed up on stderr at most once a minute.
The tables are bounded in entries and in the size of their keys.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._validate import check, positive_problem
from .stats import DropReason

DEFAULT_BURST = 100
DEFAULT_PER_SECOND = 5.0
DEFAULT_DEDUPE_WINDOW = 1.0  # seconds
_TABLE_SIZE = 4096  # keys per table; the table is cleared when full
_MAX_KEY_CHARS = 512  # longer texts are keyed by their first characters and length
# A longer message is never held as a duplicate: the summary keeps the first record
# of its window in memory, and the table must stay small.
_DEDUPE_MAX_CHARS = 8192


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


def _key_part(value: Any) -> Any:
    """``value`` as part of a table key: short, and hashable."""
    if isinstance(value, str):
        return table_key(value)
    return value if isinstance(value, (int, type(None))) else type(value).__name__


class RateLimiter:
    """Token buckets by key; safe to share between threads (`capture_event`'s callers)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[Any, list[float]] = {}  # key: [tokens, last refill]
        self._lock = threading.Lock()

    def allow(self, key: Any, now: float | None = None) -> bool:
        """Take a token for ``key`` at ``now`` (default: the clock's time); False when
        its bucket is empty. A time earlier than the bucket's last refill adds nothing."""
        if now is None:
            now = self._clock()
        with self._lock:
            return self._take(key, now)

    def _take(self, key: Any, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _TABLE_SIZE:
                self._buckets.clear()
            self._buckets[key] = [self.limit.burst - 1.0, now]
            return True
        elapsed = max(0.0, now - bucket[1])
        tokens = min(self.limit.burst, bucket[0] + elapsed * self.limit.per_second)
        bucket[1] = max(now, bucket[1])
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True


@dataclass
class Window:
    """A de-duplication window, opened at ``opened`` by a record that went out
    (``sample``): the records identical to it until ``window`` seconds later."""

    opened: float
    sample: Any
    count: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0


class Deduplicator:
    """Holds back records identical to one sent within ``window`` seconds; at the
    window's end, one summary event says how many (``repeatCount``)."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._open: dict[Any, Window] = {}
        self._ended: list[Window] = []  # replaced by a new window before `due` saw them

    def repeat(self, key: Any, created: float) -> bool:
        """True if a window is open for ``key`` at ``created`` (the record's time): the
        record is counted in it and held back. Else the record may open one (`open`)."""
        seen = self._open.get(key)
        if seen is None or created - seen.opened >= self.window:
            return False
        if not seen.count:
            seen.first_seen = created
        seen.count += 1
        seen.last_seen = created
        return True

    def open(self, key: Any, created: float, sample: Any) -> None:
        """``key``'s record (``sample``) goes out: it opens a window (replacing an
        ended one)."""
        if len(self._open) >= _TABLE_SIZE:  # full: windows with repeats end early
            self._ended.extend(seen for seen in self._open.values() if seen.count)
            self._open = {}
        ended = self._open.get(key)
        if ended is not None and ended.count:
            self._ended.append(ended)
        self._open[key] = Window(created, sample)

    def due(self, now: float, everything: bool) -> list[Window]:
        """The windows that ended at ``now`` (all of them with ``everything``) with
        repeats held; each is forgotten, so a summary is made once."""
        ended = [
            key
            for key, seen in self._open.items()
            if everything or now - seen.opened >= self.window
        ]
        windows = self._ended + [self._open.pop(key) for key in ended]
        self._ended = []
        return [seen for seen in windows if seen.count]


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


class RecordVolume:
    """A front-end's volume control over log records, decided on the delivery
    worker before the event is built: sampling, then de-duplication of identical
    messages, then the rate cap per event name (the logger, the level and the
    event id). Records are timed by when they were logged, not when the worker
    sees them. One lock: the events and the logs lanes' workers, and a flush,
    may ask at once."""

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
        self._lock = threading.Lock()

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

    @property
    def summarizes(self) -> bool:
        """Whether held-back duplicates are summed up in events (`due`)."""
        return self._dedupe is not None

    def hold(
        self,
        name: str,
        levelno: int,
        created: float,
        message: str,
        user: object,
        event_id: Callable[[], object],
        sample: Any,
    ) -> DropReason | None:
        """Why the record of logger ``name`` at ``levelno``, logged at ``created``, is
        held back, or None: it goes out as ``sample`` (which opens its
        de-duplication window). ``message``: its text; ``user``: whom it is
        attributed to; ``event_id()``: its event id, asked only when the rate cap
        needs it."""
        with self._lock:
            if self._sampler is not None and not self._sampler.keep(name, levelno):
                return "sampled"
            dedupe = self._dedupe
            key = None
            if dedupe is not None and len(message) <= _DEDUPE_MAX_CHARS:
                # Identical: the same logger, level and message, for the same user.
                key = (name, levelno, table_key(message), _key_part(user))
                if dedupe.repeat(key, created):
                    return "deduplicated"
            if self._rate is not None and not self._rate.allow(
                (name, levelno, _key_part(event_id())), created
            ):
                return "rate_limited"
            if key is not None and dedupe is not None:
                dedupe.open(key, created, sample)
            return None

    def due(self, everything: bool) -> list[Window]:
        """Windows that ended with repeats held back (all of them with ``everything``)."""
        if self._dedupe is None:
            return []
        with self._lock:
            return self._dedupe.due(time.time(), everything)
