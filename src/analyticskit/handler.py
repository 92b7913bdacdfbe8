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

from . import _diagnostics, _guard, context
from ._record_to_event import SUCCESS, LevelRule, RecordMapper, RecordSnapshot
from .analytics import Analytics, get_analytics
from .events import EVENT_TYPES, RELEVANCIES, registered_sources
from .stats import DropReason, Stats

__all__ = ["SUCCESS", "PostHogHandler", "install"]

logging.addLevelName(SUCCESS, "SUCCESS")

_ROUTE_CACHE_SIZE = 4096
_formatter = logging.Formatter()
_install_lock = threading.Lock()


class _Skip:
    """A cached routing decision to drop a logger's records, and why."""

    __slots__ = ("reason",)

    def __init__(self, reason: DropReason) -> None:
        self.reason: DropReason = reason


_SKIP_RECURSION = _Skip("recursion")
_SKIP_FILTERED = _Skip("filtered")


def _plain(value: Any) -> Any:
    """Resolve dictConfig's converting containers (and ``()`` factories) to plain values."""
    if isinstance(value, Mapping):
        configurator = getattr(value, "configurator", None)
        if "()" in value and configurator is not None:
            return configurator.configure_custom(value)
        return {key: _plain(value[key]) for key in value}
    if isinstance(value, (list, tuple)):
        return [_plain(value[i]) for i in range(len(value))]
    return value


def _level_number(level: object) -> int:
    """A level given as an int or a name (any case), as an int."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if not isinstance(level, str):
        raise TypeError(f"a log level must be an int or a level name, got {level!r}")
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}")
    return number


def _level_rules(level_map: Mapping[Any, Any]) -> dict[int, LevelRule]:
    rules: dict[int, LevelRule] = {}
    for level, rule in level_map.items():
        if isinstance(rule, str):
            rule = {"event_type": rule}
        if not isinstance(rule, Mapping) or not set(rule) <= {"event_type", "relevancy"}:
            raise ValueError(
                f"level_map[{level!r}] must be an event type or a mapping with 'event_type'"
                f" and/or 'relevancy', got {rule!r}"
            )
        event_type, relevancy = rule.get("event_type"), rule.get("relevancy")
        if event_type is not None and event_type not in EVENT_TYPES:
            raise ValueError(
                f"level_map[{level!r}] event_type={event_type!r} is not allowed;"
                f" allowed: {', '.join(EVENT_TYPES)}"
            )
        if relevancy is not None and relevancy not in RELEVANCIES:
            raise ValueError(
                f"level_map[{level!r}] relevancy={relevancy!r} is not allowed;"
                f" allowed: {', '.join(RELEVANCIES)}"
            )
        rules[_level_number(level)] = LevelRule(event_type=event_type, relevancy=relevancy)
    return rules


def _check_source(what: str, source: object) -> str:
    allowed = registered_sources()
    if not isinstance(source, str) or source not in allowed:
        raise ValueError(
            f"{what}={source!r} is not a known source; allowed: {', '.join(sorted(allowed))}"
            " (add more with analyticskit.register_source before configuring logging)"
        )
    return source


def _patterns(what: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable) or not all(isinstance(p, str) and p for p in value):
        raise TypeError(f"{what} must be a list of logger names or patterns, got {value!r}")
    return tuple(value)


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

    .. versionadded:: 0.1.0
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
    ) -> None:
        # Everything is checked before logging.Handler.__init__ registers the
        # handler for logging.shutdown(): a half-built handler there would break
        # every later dictConfig() and the flush of other handlers at exit.
        number = _level_number(level)
        sources = _plain(sources) or {}
        if not isinstance(sources, Mapping):
            raise TypeError(
                f"sources must be a mapping of logger prefix to source, got {sources!r}"
            )
        self._sources = {
            str(prefix): _check_source(f"sources[{prefix!r}]", src)
            for prefix, src in sources.items()
        }
        self._default_source = _check_source("default_source", default_source)
        level_map = _plain(level_map) or {}
        if not isinstance(level_map, Mapping):
            raise TypeError(f"level_map must be a mapping of level to rule, got {level_map!r}")
        self._mapper = RecordMapper(_level_rules(level_map))
        self._include = _patterns("include", _plain(include))
        self._exclude = _patterns("exclude", _plain(exclude))
        self._ignored = _guard.IGNORED_LOGGERS + _patterns("ignore_loggers", _plain(ignore_loggers))
        if not isinstance(capture_exceptions, bool):
            raise TypeError(f"capture_exceptions must be a bool, got {capture_exceptions!r}")
        self.capture_exceptions = capture_exceptions
        self._routes: dict[str, str | _Skip] = {}
        self._closing: threading.Thread | None = None

        own_args = (api_key, host, client, max_queued, shutdown_timeout)
        if analytics is not None:
            if not isinstance(analytics, Analytics):
                raise TypeError(
                    f"analytics must be an analyticskit.Analytics, got {type(analytics).__name__}"
                )
            if any(arg is not None for arg in own_args):
                raise ValueError("give either analytics or api_key/host/client/limits, not both")
            self._analytics: Analytics | None = analytics
            self._owns_analytics = False
        elif any(arg is not None for arg in own_args):
            limits: dict[str, Any] = {}
            if max_queued is not None:
                limits["max_queued"] = max_queued
            if shutdown_timeout is not None:
                limits["shutdown_timeout"] = shutdown_timeout
            self._analytics = Analytics(api_key=api_key, host=host, client=_plain(client), **limits)
            self._owns_analytics = True
        else:
            # None: the shared default, looked up on each record, so that a
            # later analyticskit.configure() applies to this handler too.
            self._analytics, self._owns_analytics = None, False
        super().__init__(number)

    @property
    def analytics(self) -> Analytics:
        """The `Analytics` object this handler delivers through."""
        return self._analytics or get_analytics()

    def _route(self, name: str) -> str | _Skip:
        """The source for a logger's records, or why they are dropped (cached per name)."""
        route: str | _Skip
        if _guard.matches(name, self._ignored):
            route = _SKIP_RECURSION
        elif (self._include and not _name_matches(name, self._include)) or (
            self._exclude and _name_matches(name, self._exclude)
        ):
            route = _SKIP_FILTERED
        else:
            prefixes = [p for p in self._sources if _guard.matches(name, (p,))]
            route = self._sources[max(prefixes, key=len)] if prefixes else self._default_source
        if len(self._routes) >= _ROUTE_CACHE_SIZE:
            self._routes.clear()
        self._routes[name] = route
        return route

    def emit(self, record: logging.LogRecord) -> None:
        """Snapshot the record for the delivery worker. Never raises into the caller."""
        try:
            delivery = (self._analytics or get_analytics())._delivery
            route = self._routes.get(record.name) or self._route(record.name)
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
                delivery.enqueue(self._mapper.build, self._snapshot(record, route))
            finally:
                _guard.leave()
        except Exception:
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: emit only appends to a deque."""
        rv = self.filter(record)
        if isinstance(rv, logging.LogRecord):  # Python 3.12+: a filter may return a record
            record = rv
        if rv:
            self.emit(record)
        return bool(rv)

    def _snapshot(self, record: logging.LogRecord, source: str) -> RecordSnapshot:
        if self.formatter is not None:
            text = self.format(record)
        else:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + (record.exc_text or _formatter.formatException(record.exc_info))
            if record.stack_info:
                text += "\n" + _formatter.formatStack(record.stack_info)
        exception = record.exc_info[1] if self.capture_exceptions and record.exc_info else None
        return RecordSnapshot(record.__dict__.copy(), source, text, exception, context.snapshot())

    def flush(self, timeout: float | None = None) -> None:
        """Without a timeout, ask for delivery soon and return at once (what `logging`
        calls, so ``dictConfig`` and ``logging.shutdown`` never wait on the network);
        with one, wait up to ``timeout`` seconds for delivery."""
        if timeout is None:
            self.analytics._delivery.wake()
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


def install(level: int | str = logging.INFO, **options: Any) -> PostHogHandler:
    """Attach one `PostHogHandler` to the root logger, and return it. Idempotent.

    If the root logger already has a `PostHogHandler` (from an earlier call or
    from ``dictConfig``), that one is returned with ``level`` applied and
    ``options`` are ignored, so events are never sent twice. The root logger's
    level is lowered to ``level`` if it is higher, so records at ``level`` reach
    the handler.

    .. versionadded:: 0.1.0
    """
    root = logging.getLogger()
    number = _level_number(level)
    with _install_lock:  # two threads installing at once still attach one handler
        present = [h for h in root.handlers if isinstance(h, PostHogHandler)]
        if present:
            handler = present[0]
            handler.setLevel(number)
        else:
            handler = PostHogHandler(number, **options)
            root.addHandler(handler)
        if root.level > number:
            root.setLevel(number)
    return handler
