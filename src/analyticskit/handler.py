"""`PostHogHandler`: stdlib log records become AnalyticsKit events; `install` in one call.

The guards come first in `PostHogHandler.emit`: records from ignored loggers,
records emitted on the SDK's or this library's threads, and records emitted
while an emit is already running on the thread are dropped and counted. On the
caller's thread the handler only snapshots the record; the delivery worker
builds the event (`_record_to_event`) and hands it to the SDK.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import posthog

from . import _diagnostics, _guard
from ._delivery import Delivery
from ._front_end import FrontEnd
from ._handler_options import parse_options
from ._levels import SUCCESS, level_number
from ._message import BeforeSend
from ._record_to_event import EXTRA_TO_EVENTS, EXTRA_TO_LOGS
from ._record_to_log import EXTRA_EVENT_KEYS, LogSnapshot
from ._volume import DEFAULT_DEDUPE_WINDOW
from .analytics import Analytics, get_analytics
from .sinks import Sink
from .stats import Stats

__all__ = ["SUCCESS", "PostHogHandler", "install"]

_install_lock = threading.Lock()
_NEVER = 1 << 62  # above every level: the logs lane's level while it is off


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
        max_queued, shutdown_timeout, scrub, scrub_keys, scrub_patterns: as for
            `Analytics`; given without a connection argument, they too give the
            handler its own delivery.
        before_send: ``hook(event) -> event | None`` for this handler's events,
            run on the worker before the `Analytics` object's own (see there).
        rate_limit: a cap per event and user (personless records share one key
            per event), on by default: ``True`` (from WARNING up 100 at once,
            then 5 a second; below, 1,000 at once, then 20 a second), ``False``,
            one cap ``{"burst": ..., "per_second": ...}``, caps by level name
            (``{"ERROR": {...}, "INFO": True}``), or by logger name, ``""`` for
            the others (``{"myapp.orders": False, "": True}``).
        dedupe_window: seconds within which records identical to one logged are
            held back and summed up in one event with ``repeatCount`` at the
            window's end (default 1.0; 0 turns it off).
        sample_levels, sample_loggers: sampling rates by level name or logger
            (prefix), e.g. ``{"DEBUG": 0.1}``; off unless set.
        sink: deliver to this `Sink` (through a delivery of the handler's own,
            closed with it) instead of PostHog; not with ``api_key``, ``host``,
            ``client`` or ``analytics``.
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
        scrub: bool | None = None,
        scrub_keys: Iterable[str] | None = None,
        scrub_patterns: Iterable[str] | None = None,
        before_send: BeforeSend | None = None,
        rate_limit: bool | Mapping[str, Any] | None = True,
        dedupe_window: float | None = DEFAULT_DEDUPE_WINDOW,
        sample_levels: Mapping[str, float] | None = None,
        sample_loggers: Mapping[str, float] | None = None,
        sink: Sink | None = None,
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
            scrub=scrub,
            scrub_keys=scrub_keys,
            scrub_patterns=scrub_patterns,
            before_send=before_send,
            rate_limit=rate_limit,
            dedupe_window=dedupe_window,
            sample_levels=sample_levels,
            sample_loggers=sample_loggers,
            sink=sink,
            event_level=event_level,
            logs_level=logs_level,
            service_name=service_name,
            service_version=service_version,
            environment=environment,
        )
        self._front = FrontEnd(options)
        self._closing: threading.Thread | None = None
        self._event_level = options.event_level
        self._logs_level = options.logs_level if options.logs_level is not None else _NEVER
        self._events_only = options.logs_level is None
        given = self._front.given_analytics
        if given is not None and options.logs_level is not None:
            given.enable_logs(**(options.logs_resource or {}))
        super().__init__(options.level)

    @property
    def capture_exceptions(self) -> bool:
        """Whether records' exceptions also go to PostHog Error Tracking."""
        return self._front.options.capture_exceptions

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this handler delivers through."""
        return self._front.analytics

    def emit(self, record: logging.LogRecord) -> None:
        """Snapshot the record once for the delivery worker of each lane it goes to
        (what a lane refuses is counted there). Never raises into the caller; a
        record that fails here is counted as dropped (``invalid``)."""
        front = self._front
        try:
            logs: Delivery | None = None
            if (
                self._events_only
                and record.levelno >= self._event_level
                and EXTRA_TO_EVENTS not in record.__dict__
            ):  # the logs lane is off, and nothing forces a lane: an event
                events: Delivery | None = front.given_events or get_analytics().delivery
            else:
                events, logs = self._lanes(record)
                if events is None and logs is None:
                    return
            lane = events or logs
            assert lane is not None
            source = front.routes.get(record.name)
            if not isinstance(source, str):  # a logger not seen yet, or skipped
                source = front.source(record.name, lane)
                if source is None:
                    return
            watched = front.watched
            if events is not None and watched[0] is not events:
                front.watch(events, 0)
            if logs is not None and watched[1] is not logs:
                front.watch(logs, 1)
            busy = _guard.STATE.busy
            if busy[0] is False:
                busy[0] = True
            elif not _guard.enter():  # a record logged while this thread emits, or ours
                lane.drop("recursion")
                return
            try:
                repeats = None
                if (
                    logs is None
                    and events is not None
                    and len(events.buffered) >= events.backed_up_at
                ):
                    # A storm fills the buffer faster than the worker holds its
                    # repeats back: they are counted here instead (events lane only).
                    volume = front.mapper.volumes[0]
                    repeats = volume.repeats if volume else None
                item = front.mapper.snapshot(record, source, self.formatter, repeats)
            except Exception:
                lane.drop("invalid")
                raise
            finally:
                busy[0] = False
            if item is None:  # a repeat of a recent record, counted in its window
                lane.drop("deduplicated")
                return
            if events is not None:
                events.submit(item)
            if logs is not None:
                logs.submit(LogSnapshot(item))
        except Exception:
            self.handleError(record)

    def _lanes(self, record: logging.LogRecord) -> tuple[Delivery | None, Delivery | None]:
        """The deliveries of the lanes the record goes to (None: not that lane). When
        the events lane is full or closed, the record goes to the logs lane alone."""
        levelno = record.levelno
        to_events = levelno >= self._event_level
        to_logs = levelno >= self._logs_level
        extra = record.__dict__
        forced = extra.get(EXTRA_TO_EVENTS)
        if forced is not None:
            to_events = bool(forced)
        elif not to_events:
            to_events = any(extra.get(key) is not None for key in EXTRA_EVENT_KEYS)
        forced = extra.get(EXTRA_TO_LOGS)
        if forced is not None:
            to_logs = bool(forced) and self._logs_level != _NEVER
        analytics = self._front.analytics
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

    def _enable_logs(self, analytics: Analytics) -> Delivery:
        """The shared instance's logs lane, turned on at its first log (it may have
        been replaced by `configure` since this handler was built)."""
        return analytics.enable_logs(**(self._front.options.logs_resource or {}))

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: emit only appends to a deque."""
        if not self.filters:
            self.emit(record)
            return True
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
            if self._front.owns_analytics and self._closing is None:
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
