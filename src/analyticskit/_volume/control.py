"""Where volume is held back: exact repeats of a recent record, recognised on the
caller's thread before anything is queued (`RepeatTable`), then, on the delivery
worker before any event is built, sampling and a rate cap per event name and user
(`RecordCaps`).

The rate cap is aimed at storms, not at traffic: its key is the event (logger,
level, event id) and the user, personless records sharing one key per event, so
a thousand users' orders each take their own bucket. Records at WARNING and above
get a tighter cap than the rest.

Everything held back is counted under its own reason (``rate_limited``,
``deduplicated``, ``sampled``) and summed up on stderr at most once a minute, and
at shutdown. The tables are bounded in entries and in the size of their keys.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from .._mapping.levels import level_number
from .._validate import check, positive_problem
from ..stats import DropReason

#: `capture_event`'s cap when asked for with ``rate_limit=True``, per event name; and
#: the values a record cap mapping leaves out.
DEFAULT_BURST = 100
DEFAULT_PER_SECOND = 5.0
DEFAULT_DEDUPE_WINDOW = 1.0  # seconds
TABLE_SIZE = 4096  # keys per table
_MAX_KEY_CHARS = 512  # longer texts are keyed by their first characters and length
# A longer message is never held as a duplicate: the summary keeps the first record
# of its window in memory, and the table must stay small.
DEDUPE_MAX_CHARS = 8192


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per key: ``burst`` at once, then ``per_second`` on average.
    The first occurrence of a key is always let through."""

    burst: int = DEFAULT_BURST
    per_second: float = DEFAULT_PER_SECOND


#: The records' default caps, per event and user: WARNING and above (storms of
#: errors), and below (business events: orders, page views).
ERROR_CAP = RateLimit(burst=100, per_second=5.0)
INFO_CAP = RateLimit(burst=1000, per_second=20.0)


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


@dataclass(frozen=True)
class LevelCaps:
    """One logger's caps by level, highest level first: a record takes the cap of
    the highest level listed at or below its own (None: not capped)."""

    by_level: tuple[tuple[int, RateLimit | None], ...]

    def cap(self, levelno: int) -> RateLimit | None:
        for level, cap in self.by_level:
            if levelno >= level:
                return cap
        return None


DEFAULT_LEVEL_CAPS = LevelCaps(((logging.WARNING, ERROR_CAP), (logging.NOTSET, INFO_CAP)))


@dataclass(frozen=True)
class RecordCaps:
    """The log records' rate caps by logger name (longest prefix, on dotted
    boundaries; ``""`` covers every logger), then by level."""

    by_logger: tuple[tuple[str, LevelCaps], ...]  # longest prefix first

    def cap(self, logger: str, levelno: int) -> RateLimit | None:
        for prefix, caps in self.by_logger:
            if not prefix or logger == prefix or logger.startswith(prefix + "."):
                return caps.cap(levelno)
        return DEFAULT_LEVEL_CAPS.cap(levelno)


def _is_level(key: object) -> bool:
    if isinstance(key, int) and not isinstance(key, bool):
        return True
    return isinstance(key, str) and key.isupper() and isinstance(logging.getLevelName(key), int)


def _level_caps(field_name: str, value: object) -> LevelCaps:
    """One logger's caps: True/None (the defaults), False (off), a cap mapping (every
    level), or a mapping of level names to True, False or a cap mapping."""
    if value is True or value is None:
        return DEFAULT_LEVEL_CAPS
    if value is False:
        return LevelCaps(((logging.NOTSET, None),))
    if _is_by_level(value):
        return _caps_by_level(field_name, cast(Mapping[object, object], value))
    cap = parse_rate_limit(field_name, value, None)
    return LevelCaps(((logging.NOTSET, cap),))


def _is_by_level(value: object) -> bool:
    """Whether ``value`` is a non-empty mapping of level names (or numbers)."""
    return isinstance(value, Mapping) and bool(value) and all(_is_level(key) for key in value)


def _caps_by_level(field_name: str, value: Mapping[object, object]) -> LevelCaps:
    """A mapping of levels to caps; the levels below the lowest given keep the defaults."""
    given = sorted(
        (_level_cap(field_name, key, cap) for key, cap in value.items()),
        key=lambda item: -item[0],
    )
    lowest = given[-1][0]
    below = tuple(entry for entry in DEFAULT_LEVEL_CAPS.by_level if entry[0] < lowest)
    return LevelCaps(tuple(given) + below)


def _level_cap(field_name: str, key: object, cap: object) -> tuple[int, RateLimit | None]:
    """One level's entry: its number, and its cap (True or None: the default's)."""
    where = f"{field_name}[{key!r}]"
    if cap is True or cap is None:
        return level_number(where, key), DEFAULT_LEVEL_CAPS.cap(level_number(field_name, key))
    return level_number(where, key), parse_rate_limit(where, cap, None)


def parse_record_caps(field_name: str, value: object) -> RecordCaps | None:
    """A front-end's ``rate_limit``: True or None (the defaults), False (off), one
    logger's caps (see `_level_caps`) for every logger, or a mapping of logger
    names (``""``: every other logger) to such caps. A logger no name covers keeps
    the defaults."""
    if value is False:
        return None
    if value is True or value is None:
        return RecordCaps((("", DEFAULT_LEVEL_CAPS),))
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{field_name} must be True, False, None, a mapping with 'burst' and/or"
            " 'per_second', a mapping of level names to caps, or a mapping of logger"
            f" names to caps, got {value!r}"
        )
    if _is_one_logger(value):
        return RecordCaps((("", _level_caps(field_name, value)),))
    return _caps_by_logger(field_name, value)


def _is_one_logger(value: Mapping[object, object]) -> bool:
    """Whether ``value`` is one logger's caps (a cap, or caps by level), not caps by
    logger name."""
    if not value:
        return False
    return set(value) <= {"burst", "per_second"} or ("" not in value and _is_by_level(value))


def _caps_by_logger(field_name: str, value: Mapping[object, object]) -> RecordCaps:
    """A mapping of logger names to one logger's caps, the longest names first."""
    by_logger = []
    for name, caps in value.items():
        if not isinstance(name, str):
            raise TypeError(f"{field_name} keys must be logger names, got {name!r}")
        by_logger.append((name, _level_caps(f"{field_name}[{name!r}]", caps)))
    by_logger.sort(key=lambda item: -len(item[0]))
    return RecordCaps(tuple(by_logger))


def table_key(text: str) -> str:
    """A key for a text that holds at most `_MAX_KEY_CHARS` of it in memory."""
    return text if len(text) <= _MAX_KEY_CHARS else f"{text[:_MAX_KEY_CHARS]}...{len(text)}"


def _key_part(value: Any) -> Any:
    """``value`` as part of a table key: short, and hashable."""
    if isinstance(value, str):
        return table_key(value)
    return value if isinstance(value, (int, type(None))) else type(value).__name__


class RateLimiter:
    """Token buckets by key; safe to share between threads (`capture_event`'s callers).
    A bucket that has filled up again is forgotten when the table is full."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[Any, list[Any]] = {}  # key: [tokens, last refill, limit]
        self._lock = threading.Lock()

    def allow(self, key: Any, now: float | None = None, limit: RateLimit | None = None) -> bool:
        """Take a token for ``key`` at ``now`` (default: the clock's time) from a
        bucket of ``limit`` (default: the limiter's); False when it is empty. A time
        earlier than the bucket's last refill adds nothing."""
        if now is None:
            now = self._clock()
        with self._lock:
            return self._take(key, now, limit or self.limit)

    def _take(self, key: Any, now: float, limit: RateLimit) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= TABLE_SIZE:
                self._forget_full(now)
            self._buckets[key] = [limit.burst - 1.0, now, limit]
            return True
        elapsed = max(0.0, now - bucket[1])
        tokens = min(limit.burst, bucket[0] + elapsed * limit.per_second)
        bucket[1] = max(now, bucket[1])
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True

    def _forget_full(self, now: float) -> None:
        """Forget the buckets that are full again (a new one would be the same); if
        most are still draining, all of them (the table stays bounded)."""
        buckets = self._buckets
        full = [
            key
            for key, (tokens, last, limit) in buckets.items()
            if tokens + max(0.0, now - last) * limit.per_second >= limit.burst
        ]
        for key in full:
            del buckets[key]
        if len(buckets) > TABLE_SIZE // 2:
            buckets.clear()


class Window:
    """A de-duplication window, opened at ``opened`` by a record (``sample`` once the
    worker let it go out): the records identical to it until the window ends."""

    __slots__ = ("closed", "count", "decided", "first_seen", "last_seen", "opened", "sample")

    def __init__(self, opened: float) -> None:
        self.opened = opened
        self.count = 0
        #: Out of the table: no repeat is counted in it any more (`RepeatTable.again`).
        self.closed = False
        #: The worker has decided the opening record's fate; ``sample`` is the
        #: record when it went out (else None: its repeats are counted, not summed up).
        self.decided = False
        self.sample: Any = None
        self.first_seen: float  # when the first and the last repeat were logged
        self.last_seen: float


class RepeatTable:
    """Records identical to a recent one, counted in its window and held back; at the
    window's end one summary event says how many (``repeatCount``). Asked on the
    caller's thread for a record like the last one (and for every record while
    the buffer backs up), so that a storm never fills the buffer, and on the
    worker for the others. One lock: the callers' threads and the
    worker."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._open: dict[Any, Window] = {}
        self._ended: list[Window] = []  # replaced by a new window before `due` saw them
        #: The last record's template, arguments and user: a record like it is asked
        #: for on the caller's thread (no lock: a race only costs or saves a look).
        self.last_msg: object = None
        self.last_args: object = None
        self.last_uid: object = None
        #: The key the caller made last and its window: an exact repeat of that
        #: record (a loop's storm) is counted by `again`, without a key of its own.
        self.last: tuple[Any, Window] | None = None
        self._lock = threading.Lock()

    def seen(self, key: Any, created: float) -> Window | None:
        """None if ``key``'s record, logged at ``created``, repeats one whose window is
        open (it is counted there); else the window the record opens."""
        lock = self._lock
        lock.acquire()
        try:
            window, opened = self._look(key, created)
        finally:
            lock.release()
        return window if opened else None

    def seen_last(self, key: Any, created: float) -> Window | None:
        """`seen`, for the caller's record: its key and window become `last`."""
        lock = self._lock
        lock.acquire()
        try:
            window, opened = self._look(key, created)
            self.last = (key, window)
        finally:
            lock.release()
        return window if opened else None

    def again(self, window: Window, created: float) -> bool:
        """Count a record identical to ``window``'s (`last`'s) in it, if it is still
        open at ``created``; False if it is not (ask `seen_last`)."""
        lock = self._lock
        lock.acquire()
        try:
            if window.closed or created - window.opened >= self.window:
                return False
            _count(window, created)
            return True
        finally:
            lock.release()

    def _look(self, key: Any, created: float) -> tuple[Window, bool]:
        """``key``'s open window and False, the record counted in it; or the window
        it opens and True (under the lock)."""
        seen = self._open.get(key)
        if seen is not None and created - seen.opened < self.window:
            _count(seen, created)
            return seen, False
        return self._open_window(key, seen, created), True

    def _open_window(self, key: Any, ended: Window | None, created: float) -> Window:
        """A new window for ``key`` (under the lock); the one it replaces, ``ended``,
        kept for its summary if it held repeats."""
        if ended is not None:
            ended.closed = True
            if ended.count:
                self._ended.append(ended)
        elif len(self._open) >= TABLE_SIZE:  # full: windows with repeats end early
            for open_window in self._open.values():
                open_window.closed = True
            self._ended.extend(w for w in self._open.values() if w.count)
            self._open = {}
        window = self._open[key] = Window(created)
        return window

    def _ended_keys(self, now: float, everything: bool) -> list[Any]:
        """The keys of the open windows decided and ended at ``now`` (all with
        ``everything``)."""
        return [
            key
            for key, seen in self._open.items()
            if seen.decided and (everything or now - seen.opened >= self.window)
        ]

    @staticmethod
    def decide(window: Window, sample: Any) -> None:
        """The worker's decision on ``window``'s opening record: ``sample`` went out
        (None: it was held back). No lock: `due` reads ``decided`` first."""
        window.sample = sample
        window.decided = True

    def due(self, now: float, everything: bool) -> list[Window]:
        """The windows that ended at ``now`` (all of them with ``everything``), decided,
        with repeats held and a record sent; each is forgotten, so a summary is made
        once."""
        with self._lock:
            ended = self._ended_keys(now, everything)
            windows = self._ended + [self._open.pop(key) for key in ended]
            for window in windows:
                window.closed = True
            self._ended = [seen for seen in windows if not seen.decided]
        return [seen for seen in windows if seen.count and seen.sample is not None]


def _count(window: Window, created: float) -> None:
    """One more repeat in ``window``, logged at ``created`` (under the table's lock)."""
    if not window.count:
        window.first_seen = window.last_seen = created
    elif created > window.last_seen:
        window.last_seen = created
    elif created < window.first_seen:  # buffered before the caller's check
        window.first_seen = created
    window.count += 1


def _seen(
    repeats: RepeatTable,
    key: Callable[[], Any] | None,
    name: str,
    levelno: int,
    message: str,
    user: object,
    created: float,
) -> Window | None:
    """`RepeatTable.seen` for a record, by ``key()``, or, if that is None or cannot be
    hashed, by its logger, level, message and user."""
    try:
        identical = key and key()
        if identical is None:
            raise TypeError  # keyed by the message
        return repeats.seen(identical, created)
    except Exception:  # unhashable: a list among the extras, a value's __hash__
        return repeats.seen((name, levelno, table_key(message), _key_part(user)), created)


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
            if len(self._rates) >= TABLE_SIZE:
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
    """A front-end's volume control over one lane's log records: exact repeats held
    on the caller (`repeats`); then, on the delivery worker before the event is
    built, sampling and the rate cap per event and user. Records are timed by when
    they were logged, not when the worker sees them. One lock for the worker's
    part: the events and the logs lanes' workers, and a flush, may ask at once."""

    def __init__(
        self,
        caps: RecordCaps | None,
        dedupe_window: float,
        sample_levels: Mapping[int, float],
        sample_loggers: Mapping[str, float],
    ) -> None:
        self._caps = caps
        self._rate = RateLimiter(ERROR_CAP) if caps else None
        self._cap_of: dict[tuple[str, int], RateLimit | None] = {}
        #: The caller's table of recent records; None with de-duplication off.
        self.repeats = RepeatTable(dedupe_window) if dedupe_window > 0 else None
        self._sampler = (
            Sampler(sample_levels, sample_loggers) if (sample_levels or sample_loggers) else None
        )
        self._lock = threading.Lock()

    @staticmethod
    def create(
        caps: RecordCaps | None,
        dedupe_window: float,
        sample_levels: Mapping[int, float],
        sample_loggers: Mapping[str, float],
    ) -> RecordVolume | None:
        """A `RecordVolume`, or None when every control is off."""
        if caps is None and dedupe_window <= 0 and not sample_levels and not sample_loggers:
            return None
        return RecordVolume(caps, dedupe_window, sample_levels, sample_loggers)

    @property
    def summarizes(self) -> bool:
        """Whether held-back duplicates are summed up in events (`due`)."""
        return self.repeats is not None

    def hold(
        self,
        name: str,
        levelno: int,
        created: float,
        message: str,
        user: object,
        event_id: Callable[[], object],
        sample: Any,
        window: Window | None,
        key: Callable[[], Any] | None,
    ) -> DropReason | None:
        """Why the record of logger ``name`` at ``levelno``, logged at ``created``, is
        held back, or None: it goes out as ``sample``. ``window``: the one it opened
        on the caller; else it is looked for here, by ``key()`` (what makes records
        identical), or, if that is None or cannot be hashed, by the same logger,
        level and ``message`` (the text) for the same ``user`` (whom it is
        attributed to). ``event_id()``: its event id, asked only when the rate cap
        needs it."""
        repeats = self.repeats
        if window is None and repeats is not None and len(message) <= DEDUPE_MAX_CHARS:
            window = _seen(repeats, key, name, levelno, message, user, created)
            if window is None:
                return "deduplicated"
        reason = self._decide(name, levelno, created, user, event_id)
        if window is not None and repeats is not None:
            repeats.decide(window, None if reason else sample)
        return reason

    def _decide(
        self, name: str, levelno: int, created: float, user: object, event_id: Callable[[], object]
    ) -> DropReason | None:
        with self._lock:
            if self._sampler is not None and not self._sampler.keep(name, levelno):
                return "sampled"
            if self._rate is not None:
                cap = self._cap(name, levelno)
                if cap is not None and not self._rate.allow(
                    (name, levelno, _key_part(event_id()), _key_part(user)), created, cap
                ):
                    return "rate_limited"
            return None

    def _cap(self, name: str, levelno: int) -> RateLimit | None:
        try:
            return self._cap_of[(name, levelno)]
        except KeyError:
            assert self._caps is not None
            cap = self._caps.cap(name, levelno)
            if len(self._cap_of) >= TABLE_SIZE:
                self._cap_of.clear()
            self._cap_of[(name, levelno)] = cap
            return cap

    def due(self, everything: bool) -> list[Window]:
        """Windows that ended with repeats held back (all of them with ``everything``)."""
        if self.repeats is None:
            return []
        return self.repeats.due(time.time(), everything)


# Volume options set for one delivery (each test's `capture_events`), over the
# front-ends' own: ``rate_limit`` (a `RecordCaps` or None) and ``dedupe_window``.
_OVERRIDES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def override_volume(delivery: Any, **options: Any) -> None:
    """Have the front-ends feeding ``delivery`` use these volume ``options`` instead
    of their own (checked by the caller)."""
    _OVERRIDES[delivery] = options


def volume_overrides(delivery: Any) -> Mapping[str, Any]:
    """The volume options set for ``delivery`` (`override_volume`), else none."""
    return _OVERRIDES.get(delivery, {})
