"""The caller's side every logging front-end shares: routing, guards, counting, enqueueing.

`PostHogHandler` (stdlib), `analyticskit.structlog.PostHogProcessor` and
`analyticskit.loguru_sink` each read their own record into a `RecordSnapshot`
whose ``attrs`` have the `logging.LogRecord` keys `RecordMapper.build` reads;
everything else (the source by logger-name prefix, include/exclude, the
recursion guards, the room check, the drop counters) is `FrontEnd.emit`, so the
three map records to events by one set of rules.
"""

from __future__ import annotations

import fnmatch
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from . import _guard, context
from ._delivery import Delivery
from ._handler_options import HandlerOptions, parse_options
from ._message import Message, Snapshot
from ._record_to_event import RESERVED, RecordMapper, RecordSnapshot
from .analytics import Analytics, get_analytics
from .stats import DropReason, Stats

_ROUTE_CACHE_SIZE = 4096
_formatter = logging.Formatter()

Record = TypeVar("Record")
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
}
# Not here: the volume caps (rate_limit, dedupe_window, sampling), which read the
# stdlib's LogRecord; structlog and loguru records are not capped yet.


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
        summaries: Callable[[bool], list[Snapshot]] | None = None,
    ) -> None:
        self.options = options
        self.mapper = RecordMapper(
            options.level_rules, options.capture_exceptions, options.before_send
        )
        #: A bound method polled by the delivery worker for summary events
        #: (the handler's de-duplication), registered with the delivery in use.
        self.summaries = summaries
        self._ticking: object = None
        self.routes: dict[str, str | _Skip] = {}
        own = options.connection.own
        # None: the shared default, looked up on each record, so that a later
        # analyticskit.configure() applies to this front-end too.
        self.given_analytics = Analytics(**own) if own else options.connection.analytics
        self.owns_analytics = bool(own)

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this front-end delivers through."""
        return self.given_analytics or get_analytics()

    def route(self, name: str) -> str | _Skip:
        """The source for a logger's records, or why they are dropped (cached per name)."""
        options = self.options
        route: str | _Skip
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

    def emit(
        self,
        name: str,
        snapshot: Callable[[Record, str], Snapshot | DropReason],
        record: Record,
        lane: Delivery | None = None,
    ) -> None:
        """Route ``record`` of logger ``name``, check the guards and the room, and queue
        ``snapshot(record, source)`` (which may instead say why the record is held
        back). What is not queued is counted as dropped; an exception is counted
        (``invalid``) and raised for the front-end to report. ``lane``: another
        delivery than the events' (the logs lane)."""
        delivery = None
        try:
            delivery = lane or (self.given_analytics or get_analytics()).delivery
            route = self.routes.get(name) or self.route(name)
            if isinstance(route, _Skip):
                delivery.drop(route.reason)
                return
            refusal = delivery.refusal()
            if refusal is not None:  # full or closed: skip the snapshot
                delivery.drop(refusal)
                return
            if not _guard.enter():
                delivery.drop("recursion")
                return
            try:
                self._queue(delivery, snapshot(record, route), lane)
            finally:
                _guard.leave()
        except Exception:
            if delivery is not None:
                delivery.drop("invalid")
            raise

    def _queue(
        self, delivery: Delivery, item: Snapshot | DropReason, lane: Delivery | None
    ) -> None:
        """Queue ``item``, or count why it was held back."""
        if isinstance(item, str):
            delivery.drop(item)
            return
        if self.summaries is not None and lane is None and self._ticking is not delivery:
            self._ticking = delivery  # summaries are polled by the delivery in use
            delivery.add_ticker(self.summaries)
        delivery.enqueue(item)

    def foreign_snapshot(
        self,
        convert: Convert,
        record: Any,
        levelno: int,
        name: str,
        created: float,
        source: str,
        exc_info: ExcInfo | None,
    ) -> ForeignSnapshot:
        """The snapshot of a record another logging library made, taken on the caller's
        thread: ``record`` (a copy the caller will not change) waits for the worker,
        where ``convert`` reads it (`ForeignSnapshot.to_message`)."""
        return ForeignSnapshot(
            self, convert, record, levelno, name, created, source, exc_info, context.snapshot()
        )


class OtherFrontEnd:
    """What the structlog processor and the loguru sink share: options parsed as
    `PostHogHandler`'s, a `FrontEnd`, and the delivery's flush and counters."""

    def __init__(self, level: object, options: Mapping[str, Any]) -> None:
        parsed = parse_front_end_options(level, options)
        self._front = FrontEnd(parsed)
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


# What a front-end's record gives the worker: its extra keys (a dict of its own), its
# origin (msg, module, funcName, lineno: the template and where it was logged), the
# message, and the traceback text when it comes formatted already.
Origin = tuple[object, object, object, object]
Convert = Callable[[Any], tuple[dict[str, Any], Origin, str, str | None]]


@dataclass(slots=True)
class ForeignSnapshot:
    """A structlog or loguru record as the caller's thread left it; on the worker it
    becomes the `RecordSnapshot` the stdlib handler makes, and its event."""

    front: FrontEnd
    convert: Convert
    record: Any
    levelno: int
    name: str
    created: float
    source: str
    exc_info: ExcInfo | None
    caller: context.CallerContext

    def to_message(self) -> Message:
        """The event, built on the delivery worker's thread."""
        attrs, (msg, module, function, line), message, traceback = self.convert(self.record)
        for key in RESERVED.intersection(attrs):
            attrs[f"{key}_"] = attrs.pop(key)  # a key named like a LogRecord attribute
        attrs.update(
            msg=msg,
            args=(),
            module=module,
            funcName=function,
            lineno=line,
            levelno=self.levelno,
            levelname=logging.getLevelName(self.levelno),
            name=self.name,
            created=self.created,
        )
        exc_info = self.exc_info
        if exc_info is not None and traceback is None:
            traceback = _formatter.formatException(exc_info)
        text = f"{message}\n{traceback}" if traceback else message
        capture = exc_info is not None and self.front.options.capture_exceptions
        exception = exc_info[1] if capture and exc_info is not None else None
        mapper = self.front.mapper
        return mapper.build(
            RecordSnapshot(mapper, attrs, self.source, message, text, exception, self.caller)
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
