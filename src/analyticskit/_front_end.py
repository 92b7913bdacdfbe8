"""The caller's side every logging front-end shares: routing, guards, counting, enqueueing.

`PostHogHandler` (stdlib), `analyticskit.structlog.PostHogProcessor` and
`analyticskit.loguru_sink` each read their own record into a `RecordSnapshot`
whose ``attrs`` have the `logging.LogRecord` keys `RecordMapper.build` reads
(the other two on the worker, through `ForeignRecord`). The source by
logger-name prefix and include/exclude are `FrontEnd.routes` and
`FrontEnd.source`; the volume control is the front-end's, fresh for each
delivery it feeds (`FrontEnd.watch`), decided on the worker (and, for
`PostHogHandler`, for a repeat of the last record or while the buffer backs up,
on the caller); so the three map records to events by one set of rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import logging
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NamedTuple

from . import _diagnostics, _guard, context
from ._engine.delivery import Delivery
from ._handler_options import HandlerOptions, parse_options
from ._mapping.message import Message, Snapshot
from ._mapping.record_to_event import (
    EXTRA_EVENT_KEYS,
    EXTRA_TO_EVENTS,
    EXTRA_TO_LOGS,
    RESERVED,
    RecordMapper,
    RecordSnapshot,
)
from ._mapping.record_to_log import LogSnapshot
from ._volume.control import RecordVolume, RepeatTable, volume_overrides
from .analytics import Analytics, get_analytics
from .stats import DropReason, Stats

_ROUTE_CACHE_SIZE = 4096
_NEVER = 1 << 62  # above every level: the logs lane's level while it is off
_formatter = logging.Formatter()

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class _Skip:
    """A cached routing decision to drop a logger's records, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: DropReason) -> None:
        self.reason: DropReason = reason


_SKIP_RECURSION = _Skip("recursion")
_SKIP_FILTERED = _Skip("filtered")


def _flag(extra: Mapping[str, Any], key: str) -> bool | None:
    """A lane flag in a record's ``extra`` (None: not given); one whose truth cannot be
    told (its ``__bool__`` raises) is ignored, and reported once."""
    value = extra.get(key)
    if value is None:
        return None
    try:
        return bool(value)
    except Exception as error:
        _diagnostics.report_once(
            f"extra-{key}",
            f"a log record's extra {key} has no truth value ({error!r}); it is ignored."
            " Reported once.",
        )
        return None


def _name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    # A plain name matches the logger and its children; a glob uses fnmatch.
    return any(
        fnmatch.fnmatchcase(name, p) if any(c in p for c in "*?[") else _guard.matches(name, (p,))
        for p in patterns
    )


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
            options.level_rules,
            options.capture_exceptions,
            options.before_send,
            options.max_event_names,
        )
        #: The deliveries of the events and of the logs lane that poll this
        #: front-end's de-duplication summaries (`watch`).
        self.watched: list[Delivery | None] = [None, None]
        #: The events lane's table of recent records, asked on the caller's thread.
        self.repeats: RepeatTable | None = None
        self._summaries: list[_Summaries | None] = [None, None]  # what the deliveries poll
        self._watch_lock = threading.RLock()  # a record logged inside a watch may watch
        #: The source of each logger name seen whose records are not skipped.
        self.routes: dict[str, str] = {}
        self._skipped: dict[str, _Skip] = {}
        own = options.connection.own
        # None: the shared default, looked up on each record, so that a later
        # analyticskit.configure() applies to this front-end too.
        self.given_analytics = Analytics(**own) if own else options.connection.analytics
        self.owns_analytics = bool(own)
        #: The given Analytics object's events delivery (its for good), else None: the
        #: shared default's, looked up on each record (`get_analytics`).
        self.given_events = None if self.given_analytics is None else self.given_analytics.delivery
        self.event_level = options.event_level
        self.logs_level = _NEVER if options.logs_level is None else options.logs_level
        #: The logs lane is off: a record at ``event_level`` that forces no lane is an event.
        self.events_only = options.logs_level is None
        if self.given_analytics is not None and options.logs_level is not None:
            self.given_analytics.enable_logs(**(options.logs_resource or {}))

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this front-end delivers through."""
        return self.given_analytics or get_analytics()

    def lanes(
        self, levelno: int, extra: Mapping[str, Any]
    ) -> tuple[Delivery | None, Delivery | None]:
        """The deliveries of the lanes a record of ``levelno`` with ``extra`` goes to
        (None: not that lane). When the events lane is full or closed, the record goes
        to the logs lane alone."""
        to_events, to_logs = self._wanted(levelno, extra)
        analytics = self.analytics
        events = analytics.delivery if to_events else None
        if not to_logs:
            return events, None
        logs = analytics.logs_delivery or self._enable_logs(analytics)
        if events is not None:
            refusal = events.refusal()
            if refusal is not None:  # the events lane is full or closed: logs only
                events.drop(refusal)
                events = None
        return events, logs

    def _wanted(self, levelno: int, extra: Mapping[str, Any]) -> tuple[bool, bool]:
        """Whether a record goes to the events lane and to the logs lane: by its level,
        unless ``extra`` forces a lane (a lane that is off stays off)."""
        to_events = levelno >= self.event_level
        to_logs = levelno >= self.logs_level
        forced = _flag(extra, EXTRA_TO_EVENTS)
        if forced is not None:
            to_events = forced
        elif not to_events:
            to_events = any(extra.get(key) is not None for key in EXTRA_EVENT_KEYS)
        forced = _flag(extra, EXTRA_TO_LOGS)
        if forced is not None:
            to_logs = forced and self.logs_level != _NEVER
        return to_events, to_logs

    def _enable_logs(self, analytics: Analytics) -> Delivery:
        """The shared instance's logs lane, turned on at its first log (it may have
        been replaced by `configure` since this front-end was built). Turned on
        already with another service, it is used as it is, and that is reported."""
        resource = self.options.logs_resource or {}
        try:
            return analytics.enable_logs(**resource)
        except ValueError as error:
            _diagnostics.report_once(f"logs-resource-{id(self)}", f"{error}. Reported once.")
            return analytics.enable_logs()

    def route(self, name: str) -> str | _Skip:
        """The source for a logger's records, or why they are dropped (cached per name:
        sources in `routes`, so that the front-ends' lookup is one ``get``; skips
        apart)."""
        route = self.routes.get(name) or self._skipped.get(name)
        if route is not None:
            return route
        route = _route(self.options, name)
        if len(self.routes) + len(self._skipped) >= _ROUTE_CACHE_SIZE:
            self.routes.clear()
            self._skipped.clear()
        if isinstance(route, _Skip):
            self._skipped[name] = route
        else:
            self.routes[name] = route
        return route

    def source(self, name: str, delivery: Delivery) -> str | None:
        """The source of a record of logger ``name``; None if the logger's records are
        skipped (counted as dropped in ``delivery``). Front-ends look in `routes`
        first, and call this for a name not there or skipped. What this raises (a
        logger name that is not a str) is counted ``invalid`` first."""
        try:
            route = self.route(name)
        except Exception:
            delivery.drop("invalid")
            raise
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
                # The rate cap guards events; logs have their lane's own cap.
                None if lane else override.get("rate_limit", options.rate_limit),
                override.get("dedupe_window", options.dedupe_window),
                options.sample_levels,
                options.sample_loggers,
            )
            self.mapper.volumes[lane] = volume
            if not lane:
                self.repeats = volume.repeats if volume else None
            # The previous delivery's poll ends with the volume it read (held weakly).
            self._summaries[lane] = None
            if volume is not None and volume.summarizes:
                summaries = self._summaries[lane] = _Summaries(volume, lane)
                delivery.add_ticker(summaries.due)
            self.watched[lane] = delivery

    def stats(self) -> Stats:
        """The counters of the `Analytics` object in use, with this front-end's
        ``names_folded``."""
        return dataclasses.replace(self.analytics.stats(), names_folded=self.mapper.names.folded)

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

    def emit_record(self, record: logging.LogRecord, formatter: logging.Formatter | None) -> None:
        """Snapshot a stdlib record once for the delivery worker of each lane it goes
        to (what a lane refuses is counted there). What this raises was counted as
        dropped (``invalid``); `PostHogHandler.emit` reports it through ``handleError``."""
        if not (
            self.events_only
            and record.levelno >= self.event_level
            and EXTRA_TO_EVENTS not in record.__dict__
        ):  # the logs lane is on, or the record's extra may force a lane
            self._emit_to_lanes(record, formatter)
            return
        events = self.given_events or get_analytics().delivery
        source = self.routes.get(record.name)
        if source is None:  # a logger not seen yet, or skipped
            source = self.source(record.name, events)
            if source is None:
                return
        item = self._guarded_snapshot(record, source, formatter, events, None, events)
        if item is not None:
            events.submit(item, item.size)

    def _emit_to_lanes(
        self, record: logging.LogRecord, formatter: logging.Formatter | None
    ) -> None:
        """`emit_record` with the logs lane on, or for a record whose extra forces a lane."""
        extra = record.__dict__
        events, logs = self.lanes(record.levelno, extra)
        lane = events or logs
        if lane is None:
            if EXTRA_TO_EVENTS in extra or EXTRA_TO_LOGS in extra:
                # Kept out of both lanes by its extra: counted, not silent.
                (self.given_events or get_analytics().delivery).drop("filtered")
            return
        source = self.source(record.name, lane)
        if source is None:
            return
        item = self._guarded_snapshot(record, source, formatter, events, logs, lane)
        if item is None:
            return
        if events is not None:
            events.submit(item, item.size)
        if logs is not None:
            logs.submit(LogSnapshot(item), item.size)

    def _guarded_snapshot(
        self,
        record: logging.LogRecord,
        source: str,
        formatter: logging.Formatter | None,
        events: Delivery | None,
        logs: Delivery | None,
        lane: Delivery,
    ) -> RecordSnapshot | None:
        """The snapshot of a record of ``source`` for ``events`` and ``logs`` (``lane``:
        the first of them); None if it is not queued (counted in ``lane``). First, the
        recursion guard: a record logged while this thread emits (from a signal
        handler or a __del__), or on a library thread, is counted before anything
        that may wait for a lock (the worker may log so while it holds one; the
        route lookups before it take none)."""
        busy = _guard.STATE.busy
        if busy[0] is False:
            busy[0] = True
        elif not _guard.enter():  # re-entry, or one of the library's threads
            lane.drop("recursion")
            return None
        try:
            watched = self.watched
            if watched[0] is not events or watched[1] is not logs:
                self._watch_lanes(events, logs)
            # Repeats of the last record are held back here, before they take room in
            # the buffer (the events lane alone: with both lanes, each lane's worker does).
            repeats = self.repeats if logs is None else None
            item = self.mapper.snapshot(record, source, formatter, repeats)
            if item is None:  # a repeat of a recent record, counted in its window
                # Delivery.drop's own body, without its call: a storm pays this per record.
                lane.counters.refused("deduplicated")
            elif repeats is not None and len(lane.buffered) >= lane.backed_up_at:
                return self._backed_up(item, lane)
            return item
        except Exception:
            lane.drop("invalid")
            raise
        finally:
            busy[0] = False

    def _watch_lanes(self, events: Delivery | None, logs: Delivery | None) -> None:
        """`watch` each of the two deliveries given that is not watched yet."""
        if events is not None and self.watched[0] is not events:
            self.watch(events, 0)
        if logs is not None and self.watched[1] is not logs:
            self.watch(logs, 1)

    def _backed_up(self, item: RecordSnapshot, events: Delivery) -> RecordSnapshot | None:
        """``item`` while the events buffer backs up (a flood outruns the worker): the
        volume control decides here, so that what it holds takes no room (None:
        held back, counted)."""
        reason = self.mapper.held_back(item, self.mapper.volumes[0])
        if reason is not None:
            events.drop(reason)
            return None
        return item._replace(window=True)

    def emit_foreign(self, record: Any, levelno: int, extra: Mapping[str, Any]) -> None:
        """Queue the record of another logging library, of level ``levelno`` and with
        ``extra`` keys, for the lanes it goes to: ``record`` is a copy the caller
        will not change, read on the worker by ``convert`` (its logger's route too).
        What is not queued is counted. Nothing here runs the application's code, so
        the recursion guard is only checked: records of the library's own threads,
        or logged from inside an emit, are dropped."""
        if self.events_only and levelno >= self.event_level and EXTRA_TO_EVENTS not in extra:
            events: Delivery | None = self.given_events or get_analytics().delivery
            logs: Delivery | None = None
        else:
            events, logs = self.lanes(levelno, extra)
        lane = events or logs
        if lane is None:
            return
        busy = _guard.STATE.busy[0]  # None on a thread's first record: _guard.busy() decides
        if busy or (busy is None and _guard.busy()):
            lane.drop("recursion")
            return
        caller = context.snapshot()
        self.queue(events, 0, ForeignSnapshot(self, record, caller))
        self.queue(logs, 1, ForeignSnapshot(self, record, caller, to_logs=True))

    def queue(self, delivery: Delivery | None, lane: int, item: Snapshot) -> None:
        """Submit ``item`` to ``delivery``, the lane's (0: events, 1: logs), if any;
        the delivery polls this front-end's summaries from then on (`watch`)."""
        if delivery is not None:
            if self.watched[lane] is not delivery:
                self.watch(delivery, lane)
            delivery.submit(item)


def _route(options: HandlerOptions, name: str) -> str | _Skip:
    """`FrontEnd.route`'s answer, uncached."""
    if _guard.matches(name, options.ignored):
        return _SKIP_RECURSION
    if _filtered_out(options, name):
        return _SKIP_FILTERED
    prefixes = [p for p in options.sources if _guard.matches(name, (p,))]
    return options.sources[max(prefixes, key=len)] if prefixes else options.default_source


def _filtered_out(options: HandlerOptions, name: str) -> bool:
    """Whether logger ``name`` is outside ``include`` or inside ``exclude``."""
    if options.include and not _name_matches(name, options.include):
        return True
    return bool(options.exclude) and _name_matches(name, options.exclude)


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
        parsed = parse_options(level, options)
        self._front = FrontEnd(parsed, convert)
        #: The lowest level either lane takes: a record below it is not read at all.
        self._level = min(
            parsed.event_level,
            parsed.level if parsed.logs_level is None else parsed.logs_level,
        )

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this front-end delivers through."""
        return self._front.analytics

    def stats(self) -> Stats:
        """The counters of the `Analytics` object this front-end delivers through
        (``names_folded``: this front-end's)."""
        return self._front.stats()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for what was captured to be delivered."""
        return self._front.analytics.flush(timeout)


class ForeignRecord(NamedTuple):
    """What another library's record gives the worker, read there by the front-end's
    ``convert``: its extra keys, its origin (the message template, module,
    function, line and file), the message, the traceback text when it comes
    formatted already, its level, logger name, time and exception."""

    extras: dict[str, Any]
    msg: object
    module: object
    function: object
    line: object
    path: object
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
    #: For the logs lane (a log), else the events lane (an event).
    to_logs: bool = False

    def to_message(self) -> Message | DropReason:
        """The event or log, built on the delivery worker's thread; or why it is
        dropped (its logger is skipped) or held back."""
        snapshot = self.snapshot()
        if isinstance(snapshot, str):
            return snapshot
        return LogSnapshot(snapshot).to_message() if self.to_logs else snapshot.to_message()

    def snapshot(self) -> RecordSnapshot | DropReason:
        """The `RecordSnapshot` the stdlib handler makes of such a record; or why it
        is dropped (its logger is skipped)."""
        front = self.front
        assert front.convert is not None
        record = front.convert(self.record)
        source = front.route(record.name)
        if isinstance(source, _Skip):
            return source.reason
        attrs = dict(record.extras)  # each lane converts the record: a dict of its own
        for key in RESERVED.intersection(attrs):
            attrs[f"{key}_"] = attrs.pop(key)  # a key named like a LogRecord attribute
        attrs.update(
            msg=record.msg,
            args=(),
            module=record.module,
            funcName=record.function,
            lineno=record.line,
            pathname=record.path,
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
        return RecordSnapshot(
            front.mapper, attrs, source, message, text, exception, self.caller, False, False
        )


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
