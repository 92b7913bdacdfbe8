"""The caller's side every logging front-end shares: routing, guards, counting, enqueueing.

`PostHogHandler` (stdlib), `analyticskit.structlog.PostHogProcessor` and
`analyticskit.loguru_sink` each read their own record into a `RecordSnapshot`
whose ``attrs`` have the `logging.LogRecord` keys `RecordMapper.build` reads
(the other two on the worker, through `ForeignRecord`). The source by
logger-name prefix and include/exclude are `FrontEnd.routes` and
`FrontEnd.source`; the volume control is the front-end's, fresh for each
delivery it feeds (`FrontEnd.watch`): repeats are held on the caller, the caps
on the worker; so the three map records to events by one set of rules.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from . import _diagnostics, _guard, context
from ._delivery import Delivery
from ._handler_options import HandlerOptions, parse_options
from ._message import Message, Snapshot
from ._record_to_event import RESERVED, RecordMapper, RecordSnapshot
from ._record_to_log import LogSnapshot
from ._volume import DEFAULT_DEDUPE_WINDOW, RecordVolume, volume_overrides
from .analytics import Analytics, get_analytics
from .stats import DropReason, Stats

_ROUTE_CACHE_SIZE = 4096
_formatter = logging.Formatter()

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# The options every front-end takes, with the defaults PostHogHandler has.
OPTION_DEFAULTS: Mapping[str, Any] = {
    "api_key": None,
    "host": None,
    "client": None,
    "analytics": None,
    "sources": None,
    "default_source": "general",
    "level_map": None,
    "include": None,
    "exclude": None,
    "ignore_loggers": None,
    "capture_exceptions": False,
    "max_queued": None,
    "shutdown_timeout": None,
    "scrub": None,
    "scrub_keys": None,
    "scrub_patterns": None,
    "before_send": None,
    "rate_limit": True,
    "dedupe_window": DEFAULT_DEDUPE_WINDOW,
    "sample_levels": None,
    "sample_loggers": None,
}


class _Skip:
    """A cached routing decision to drop a logger's records, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: DropReason) -> None:
        self.reason: DropReason = reason


_SKIP_RECURSION = _Skip("recursion")
_SKIP_FILTERED = _Skip("filtered")


def _name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    # A plain name matches the logger and its children; a glob uses fnmatch.
    return any(
        fnmatch.fnmatchcase(name, p) if any(c in p for c in "*?[") else _guard.matches(name, (p,))
        for p in patterns
    )


def parse_front_end_options(level: object, options: Mapping[str, Any]) -> HandlerOptions:
    """`parse_options` for a front-end given the handler's keyword options as a mapping;
    an unknown option is a TypeError naming it and the known ones."""
    unknown = sorted(set(options) - set(OPTION_DEFAULTS))
    if unknown:
        raise TypeError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTION_DEFAULTS))}"
        )
    return parse_options(level=level, **{**OPTION_DEFAULTS, **options})


class FrontEnd:
    """One front-end's options, routes and delivery: the caller's side of `emit`."""

    def __init__(
        self,
        options: HandlerOptions,
        convert: Convert | None = None,
    ) -> None:
        self.options = options
        #: Reads another library's records on the worker (`emit_foreign`).
        self.convert = convert
        self.mapper = RecordMapper(
            options.level_rules, options.capture_exceptions, options.before_send
        )
        #: The deliveries of the events and of the logs lane that poll this
        #: front-end's de-duplication summaries (`watch`).
        self.watched: list[Delivery | None] = [None, None]
        self._summaries: list[_Summaries | None] = [None, None]  # what the deliveries poll
        self._watch_lock = threading.Lock()
        self.routes: dict[str, str | _Skip] = {}
        own = options.connection.own
        # None: the shared default, looked up on each record, so that a later
        # analyticskit.configure() applies to this front-end too.
        self.given_analytics = Analytics(**own) if own else options.connection.analytics
        self.owns_analytics = bool(own)
        #: The given Analytics object's events delivery (its for good), else None: the
        #: shared default's, looked up on each record (`get_analytics`).
        self.given_events = None if self.given_analytics is None else self.given_analytics.delivery

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this front-end delivers through."""
        return self.given_analytics or get_analytics()

    def route(self, name: str) -> str | _Skip:
        """The source for a logger's records, or why they are dropped (cached per name
        in `routes`)."""
        route = self.routes.get(name)
        if route is not None:
            return route
        options = self.options
        if _guard.matches(name, options.ignored):
            route = _SKIP_RECURSION
        elif (options.include and not _name_matches(name, options.include)) or (
            options.exclude and _name_matches(name, options.exclude)
        ):
            route = _SKIP_FILTERED
        else:
            prefixes = [p for p in options.sources if _guard.matches(name, (p,))]
            route = options.sources[max(prefixes, key=len)] if prefixes else options.default_source
        if len(self.routes) >= _ROUTE_CACHE_SIZE:
            self.routes.clear()
        self.routes[name] = route
        return route

    def source(self, name: str, delivery: Delivery) -> str | None:
        """The source of a record of logger ``name``; None if the logger's records are
        skipped (counted as dropped in ``delivery``). Front-ends look in `routes`
        first, and call this for a name not there or skipped."""
        route = self.route(name)
        if isinstance(route, _Skip):
            delivery.drop(route.reason)
            return None
        return route

    def watch(self, delivery: Delivery, lane: int) -> None:
        """Start ``lane``'s (0: events, 1: logs) volume control afresh for ``delivery``,
        the delivery in use, which a front-end checks against `watched` as it queues
        (the shared default may change: a new `configure`, each test's
        `capture_events`); ``delivery`` polls its de-duplication summaries."""
        with self._watch_lock:
            if self.watched[lane] is delivery:
                return
            options = self.options
            override = volume_overrides(delivery)
            volume = RecordVolume.create(
                override.get("rate_limit", options.rate_limit),
                override.get("dedupe_window", options.dedupe_window),
                options.sample_levels,
                options.sample_loggers,
            )
            self.mapper.volumes[lane] = volume
            # The previous delivery's poll ends with the volume it read (held weakly).
            self._summaries[lane] = None
            if volume is not None and volume.summarizes:
                summaries = self._summaries[lane] = _Summaries(volume, lane)
                delivery.add_ticker(summaries.due)
            self.watched[lane] = delivery

    def invalid(self, error: Exception, report_key: str, what: str) -> None:
        """A record this front-end could not queue: counted as dropped (``invalid``)
        in the events lane, and reported once on stderr."""
        with contextlib.suppress(Exception):
            (self.given_events or get_analytics().delivery).drop("invalid")
        _diagnostics.report_once(
            report_key,
            f"{what} could not queue an event ({error!r}); it is counted as dropped"
            " (invalid). Reported once.",
        )

    def emit_foreign(self, record: Any) -> None:
        """Queue the record of another logging library for the events lane: ``record``
        is a copy the caller will not change, read on the worker by ``convert``
        (its logger's route too). What is not queued is counted. Nothing here runs
        the application's code, so the recursion guard is only checked: records of
        the library's own threads, or logged from inside an emit, are dropped."""
        delivery = self.given_events or get_analytics().delivery
        if self.watched[0] is not delivery:
            self.watch(delivery, 0)
        busy = _guard.STATE.busy[0]  # None on a thread's first record: _guard.busy() decides
        if busy or (busy is None and _guard.busy()):
            delivery.drop("recursion")
            return
        delivery.submit(ForeignSnapshot(self, record, context.snapshot()))


class _Summaries:
    """What a delivery polls: the events that sum up the records one lane's volume
    control held back as duplicates, for the windows that ended (all of them with
    ``everything``)."""

    def __init__(self, volume: RecordVolume, lane: int) -> None:
        self.volume = volume
        self.lane = lane

    def due(self, everything: bool) -> list[Snapshot]:
        summaries = [
            window.sample.with_repeats(window.count, window.first_seen, window.last_seen)
            for window in self.volume.due(everything)
            if isinstance(window.sample, RecordSnapshot)
        ]
        return [LogSnapshot(summary) for summary in summaries] if self.lane else list(summaries)


class OtherFrontEnd:
    """What the structlog processor and the loguru sink share: options parsed as
    `PostHogHandler`'s, a `FrontEnd` whose ``convert`` reads their records on the
    worker, and the delivery's flush and counters."""

    def __init__(self, level: object, options: Mapping[str, Any], convert: Convert) -> None:
        parsed = parse_front_end_options(level, options)
        self._front = FrontEnd(parsed, convert)
        self._level = parsed.level

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this front-end delivers through."""
        return self._front.analytics

    def stats(self) -> Stats:
        """The counters of the `Analytics` object this front-end delivers through."""
        return self._front.analytics.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for what was captured to be delivered."""
        return self._front.analytics.flush(timeout)


class ForeignRecord(NamedTuple):
    """What another library's record gives the worker, read there by the front-end's
    ``convert``: its extra keys (a dict of its own), its origin (the message
    template, module, function and line), the message, the traceback text when it
    comes formatted already, its level, logger name, time and exception."""

    extras: dict[str, Any]
    msg: object
    module: object
    function: object
    line: object
    message: str
    traceback: str | None
    levelno: int
    name: str
    created: float
    exc_info: ExcInfo | None


Convert = Callable[[Any], ForeignRecord]


@dataclass(slots=True)
class ForeignSnapshot:
    """A structlog or loguru record as the caller's thread left it; on the worker it
    becomes the `RecordSnapshot` the stdlib handler makes, and its event."""

    front: FrontEnd
    record: Any
    caller: context.CallerContext

    def to_message(self) -> Message | DropReason:
        """The event, built on the delivery worker's thread; or why it is dropped (its
        logger is skipped) or held back."""
        front = self.front
        assert front.convert is not None
        record = front.convert(self.record)
        source = front.route(record.name)
        if isinstance(source, _Skip):
            return source.reason
        attrs = record.extras
        for key in RESERVED.intersection(attrs):
            attrs[f"{key}_"] = attrs.pop(key)  # a key named like a LogRecord attribute
        attrs.update(
            msg=record.msg,
            args=(),
            module=record.module,
            funcName=record.function,
            lineno=record.line,
            levelno=record.levelno,
            levelname=logging.getLevelName(record.levelno),
            name=record.name,
            created=record.created,
        )
        exc_info, traceback, message = record.exc_info, record.traceback, record.message
        if exc_info is not None and traceback is None:
            traceback = _formatter.formatException(exc_info)
        text = f"{message}\n{traceback}" if traceback else message
        capture = exc_info is not None and front.options.capture_exceptions
        exception = exc_info[1] if capture and exc_info is not None else None
        snapshot = RecordSnapshot(
            front.mapper, attrs, source, message, text, exception, self.caller, False, False
        )
        return snapshot.to_message()


def exc_info_of(value: object) -> ExcInfo | None:
    """An ``exc_info`` as structlog and loguru give it (True, an exception, a tuple),
    as a full tuple; None when there is none."""
    if value is True:
        value = sys.exc_info()
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return (type(value[1]), value[1], value[2])
    return None
