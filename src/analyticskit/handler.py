"""`PostHogHandler`: stdlib log records become AnalyticsKit events; `install` in one call.

The guards come first in `PostHogHandler.emit`: records from ignored loggers,
records emitted on the SDK's or this library's threads, and records emitted
while an emit is already running on the thread are dropped and counted. On the
caller's thread the handler only snapshots the record; the delivery worker
builds the event (`_record_to_event`) and hands it to the SDK.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import posthog

from . import _diagnostics, _guard
from ._delivery import Delivery
from ._handler_options import parse_options
from ._levels import SUCCESS, level_number
from ._record_to_event import EXTRA_TO_EVENTS, EXTRA_TO_LOGS, RecordMapper
from ._record_to_log import LogSnapshot
from .analytics import Analytics, get_analytics
from .stats import DropReason, Stats

__all__ = ["SUCCESS", "PostHogHandler", "install"]

_ROUTE_CACHE_SIZE = 4096
_install_lock = threading.Lock()


class _Skip:
    """A cached routing decision to drop a logger's records, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: DropReason) -> None:
        self.reason: DropReason = reason


_SKIP_RECURSION = _Skip("recursion")
_SKIP_FILTERED = _Skip("filtered")
_NEVER = 1 << 62  # above every level
_EVENT_EXTRAS = ("id", "event_id", "event_type")


def _name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    # A plain name matches the logger and its children; a glob uses fnmatch.
    return any(
        fnmatch.fnmatchcase(name, p) if any(c in p for c in "*?[") else _guard.matches(name, (p,))
        for p in patterns
    )


class PostHogHandler(logging.Handler):
    """A `logging.Handler` that turns records into AnalyticsKit events in PostHog.

    Every argument is a plain value, so the handler can be built by
    `logging.config.dictConfig` (``"class": "analyticskit.PostHogHandler"``).

    Args:
        level: the handler's level, as an int or a name (``"INFO"``).
        api_key, host: build this handler its own delivery (and posthog client,
            shut down by `close`). Default: the shared `analyticskit` instance.
        client: a ``posthog.Posthog`` to deliver through (``ext://`` or a ``()``
            factory in dictConfig); it is flushed, never shut down.
        analytics: an `Analytics` object to deliver through.
        sources: logger-name prefix to source, e.g. ``{"myapp.auth": "auth"}``;
            matched on dotted boundaries, the longest prefix wins.
        default_source: the source of records no prefix matches (``general``).
        level_map: per-level overrides, e.g. ``{"WARNING": {"relevancy": "medium"}}``
            or ``{"WARNING": "error"}`` (the event type).
        include, exclude: logger names (a name covers its children) or globs;
            records outside ``include`` or inside ``exclude`` are dropped and counted.
        ignore_loggers: more logger names whose records never become events,
            added to the SDK's and this library's own.
        capture_exceptions: also send records' exceptions to PostHog Error
            Tracking (one ``$exception`` each, linked by ``exception_uuid``).
        max_queued, shutdown_timeout: as for `Analytics`; given without a
            connection argument, they too give the handler its own delivery.
        event_level: records at or above it become events (default: ``level``).
        logs_level: records at or above it also go to PostHog Logs (default:
            None, off). Needs the ``analyticskit-posthog[logs]`` extra.
        service_name, service_version, environment: the logs' ``service.name``
            (default ``OTEL_SERVICE_NAME``, else the program's name),
            ``service.version`` and ``deployment.environment``.

    A record's ``extra`` can force a lane: ``posthog_event`` / ``posthog_logs``
    True sends it there whatever its level, False keeps it out; an ``id``,
    ``event_id`` or ``event_type`` makes it an event whatever its level. The
    handler's own level still comes first: records below it never reach it.

    Raises:
        TypeError, ValueError: a bad option, naming it, its value and what is allowed.
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        api_key: str | None = None,
        host: str | None = None,
        client: posthog.Posthog | None = None,
        analytics: Analytics | None = None,
        sources: Mapping[str, str] | None = None,
        default_source: str = "general",
        level_map: Mapping[Any, Any] | None = None,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        ignore_loggers: Iterable[str] | None = None,
        capture_exceptions: bool = False,
        max_queued: int | None = None,
        shutdown_timeout: float | None = None,
        event_level: int | str | None = None,
        logs_level: int | str | None = None,
        service_name: str | None = None,
        service_version: str | None = None,
        environment: str | None = None,
    ) -> None:
        # Everything is checked before logging.Handler.__init__ registers the
        # handler for logging.shutdown(): a half-built handler there would break
        # every later dictConfig() and the flush of other handlers at exit.
        options = parse_options(
            level=level,
            api_key=api_key,
            host=host,
            client=client,
            analytics=analytics,
            sources=sources,
            default_source=default_source,
            level_map=level_map,
            include=include,
            exclude=exclude,
            ignore_loggers=ignore_loggers,
            capture_exceptions=capture_exceptions,
            max_queued=max_queued,
            shutdown_timeout=shutdown_timeout,
            event_level=event_level,
            logs_level=logs_level,
            service_name=service_name,
            service_version=service_version,
            environment=environment,
        )
        self._options = options
        self._mapper = RecordMapper(options.level_rules, options.capture_exceptions)
        self._routes: dict[str, str | _Skip] = {}
        self._closing: threading.Thread | None = None
        own = options.connection.own
        # None: the shared default, looked up on each record, so that a later
        # analyticskit.configure() applies to this handler too.
        self._analytics = Analytics(**own) if own else options.connection.analytics
        self._owns_analytics = bool(own)
        self._event_level = options.event_level
        # No logs lane: a level no record reaches.
        self._logs_level = options.logs_level if options.logs_level is not None else _NEVER
        if self._analytics is not None and options.logs_level is not None:
            self._analytics.enable_logs(**(options.logs_resource or {}))
        super().__init__(options.level)

    @property
    def capture_exceptions(self) -> bool:
        """Whether records' exceptions also go to PostHog Error Tracking."""
        return self._options.capture_exceptions

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this handler delivers through."""
        return self._analytics or get_analytics()

    def _route(self, name: str) -> str | _Skip:
        """The source for a logger's records, or why they are dropped (cached per name)."""
        options = self._options
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
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
        self._routes[name] = route
        return route

    def emit(self, record: logging.LogRecord) -> None:
        """Snapshot the record for the delivery worker of each lane it goes to. Never
        raises into the caller; a record that fails here is counted as dropped
        (``invalid``)."""
        events = logs = None
        try:
            analytics = self._analytics or get_analytics()
            to_events, to_logs = self._lanes(record)
            events = analytics.delivery if to_events else None
            if to_logs:
                logs = analytics.logs_delivery or self._enable_logs(analytics)
            if events is None and logs is None:
                return
            route = self._routes.get(record.name) or self._route(record.name)
            if isinstance(route, _Skip):
                _drop(events, logs, route.reason)
                return
            events, logs = _accepting(events), _accepting(logs)
            if events is None and logs is None:  # full or closed: skip the snapshot
                return
            if not _guard.enter():
                _drop(events, logs, "recursion")
                return
            try:
                snapshot = self._mapper.snapshot(record, route, self.formatter)
                if events is not None:
                    events.enqueue(snapshot)
                if logs is not None:
                    logs.enqueue(LogSnapshot(snapshot))
            finally:
                _guard.leave()
        except Exception:
            _drop(events, logs, "invalid")
            self.handleError(record)

    def _lanes(self, record: logging.LogRecord) -> tuple[bool, bool]:
        """Whether the record goes to the events lane and to the logs lane."""
        levelno = record.levelno
        to_events = levelno >= self._event_level
        to_logs = levelno >= self._logs_level
        extra = record.__dict__
        forced = extra.get(EXTRA_TO_EVENTS)
        if forced is not None:
            to_events = bool(forced)
        elif not to_events:
            to_events = any(extra.get(key) is not None for key in _EVENT_EXTRAS)
        forced = extra.get(EXTRA_TO_LOGS)
        if forced is not None:
            to_logs = bool(forced) and self._options.logs_level is not None
        return to_events, to_logs

    def _enable_logs(self, analytics: Analytics) -> Delivery:
        """The shared instance's logs lane, turned on at its first log (it may have
        been replaced by `configure` since this handler was built)."""
        return analytics.enable_logs(**(self._options.logs_resource or {}))

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: emit only appends to a deque."""
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may return a record
            record = rv
        if rv:
            self.emit(record)
        return bool(rv)

    def flush(self, timeout: float | None = None) -> None:
        """Without a timeout, ask for delivery soon and return at once (what `logging`
        calls, so ``dictConfig`` and ``logging.shutdown`` never wait on the network);
        with one, wait up to ``timeout`` seconds for delivery."""
        if timeout is None:
            self.analytics.delivery.wake()
        else:
            self.analytics.flush(timeout)

    def close(self) -> None:
        """Detach. A handler that owns its delivery shuts it down on a background
        thread, within its deadline, so ``dictConfig`` is never stalled; the
        interpreter waits for that thread at exit."""
        try:
            if self._owns_analytics and self._closing is None:
                self._closing = threading.Thread(
                    target=self.analytics.shutdown, name="analyticskit-close", daemon=False
                )
                try:
                    self._closing.start()
                except RuntimeError:
                    # No new thread at interpreter exit (Python 3.12+), where
                    # logging.shutdown() closes handlers; the Analytics object's
                    # own exit hook has run by then, so this returns at once.
                    self.analytics.shutdown()
        except Exception as error:
            # Raised into logging.shutdown(), it would skip the other handlers.
            _diagnostics.report(f"closing a PostHogHandler failed: {error!r}")
        finally:
            super().close()

    def stats(self) -> Stats:
        """The counters of the `Analytics` object this handler delivers through."""
        return self.analytics.stats()


def _accepting(delivery: Delivery | None) -> Delivery | None:
    """``delivery`` if it takes a record now, else None (the refusal counted)."""
    if delivery is None:
        return None
    refusal = delivery.refusal()
    if refusal is None:
        return delivery
    delivery.drop(refusal)
    return None


def _drop(events: Delivery | None, logs: Delivery | None, reason: DropReason) -> None:
    """Count one record dropped for ``reason`` in each lane it was going to."""
    for delivery in (events, logs):
        if delivery is not None:
            delivery.drop(reason)


def install(level: int | str = logging.INFO, **options: Any) -> PostHogHandler:
    """Attach one `PostHogHandler` to the root logger, and return it. Idempotent.

    If the root logger already has a `PostHogHandler` (from an earlier call or
    from ``dictConfig``), that one is returned with ``level`` applied and
    ``options`` are ignored, so events are never sent twice. The root logger's
    level is lowered to ``level`` if it is higher, so records at ``level`` reach
    the handler (and to ``event_level`` or ``logs_level``, given lower). If the
    root logger had no handler at all, `logging` printed
    warnings and errors on stderr through ``logging.lastResort``; that handler
    is attached to the root logger too, so the console shows what it showed.
    """
    root = logging.getLogger()
    number = level_number("level", level)
    if options.get("event_level") is None:
        options["event_level"] = number  # the events lane keeps ``level``
    for name in ("event_level", "logs_level"):
        if options.get(name) is not None:
            number = min(number, level_number(name, options[name]))
    with _install_lock:  # two threads installing at once still attach one handler
        present = [h for h in root.handlers if isinstance(h, PostHogHandler)]
        if present:
            handler = present[0]
            handler.setLevel(number)
        else:
            handler = PostHogHandler(number, **options)
            if not root.handlers and logging.lastResort is not None:
                root.addHandler(logging.lastResort)
            root.addHandler(handler)
        if root.level > number:
            root.setLevel(number)
    return handler
