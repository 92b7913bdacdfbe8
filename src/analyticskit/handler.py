"""`PostHogHandler`: stdlib log records become AnalyticsKit events; `install` in one call.

The handler adapts `logging.Handler`; the record's path is its `FrontEnd`'s
(`FrontEnd.emit_record`; structlog's and loguru's front-ends have one too): the
guards first (records from ignored loggers, records emitted on the SDK's or this
library's threads, and records emitted while an emit is already running on the
thread are dropped and counted), then a snapshot of the record on the caller's
thread; the delivery worker builds the event (`_mapping.record_to_event`) and
hands it to the SDK.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from re import Pattern
from typing import Any

import posthog

from . import _diagnostics, _noise
from ._front_end import FrontEnd
from ._handler_options import parse_options
from ._mapping.levels import SUCCESS, level_number
from ._mapping.message import BeforeSend
from ._mapping.record_to_event import DEFAULT_MAX_EVENT_NAMES
from ._options import FRONT_END_OPTIONS, given_options, with_options
from ._root_watch import RootWatch
from ._volume.control import DEFAULT_DEDUPE_WINDOW
from .analytics import Analytics
from .sinks import Sink
from .stats import Stats

__all__ = ["SUCCESS", "PostHogHandler", "install"]

_install_lock = threading.Lock()


class PostHogHandler(logging.Handler):
    """A `logging.Handler` that turns records into AnalyticsKit events in PostHog.

    Every argument is a plain value, so the handler can be built by
    `logging.config.dictConfig` (``"class": "analyticskit.PostHogHandler"``).

    Args:
        level: the handler's level, as an int or a name (``"INFO"``).
        (The options, as `analyticskit._options` declares them, are listed here.)

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
        max_queued_bytes: int | None = None,
        shutdown_timeout: float | None = None,
        scrub: bool | None = None,
        scrub_keys: Iterable[str] | None = None,
        scrub_patterns: Iterable[str | Pattern[str]] | None = None,
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
        logs_endpoint: str | None = None,
        logs_rate_cap: bool | Mapping[str, float] | None = None,
        max_event_names: int = DEFAULT_MAX_EVENT_NAMES,
    ) -> None:
        # Everything is checked before logging.Handler.__init__ registers the
        # handler for logging.shutdown(): a half-built handler there would break
        # every later dictConfig() and the flush of other handlers at exit.
        options = parse_options(level, given_options(locals()))
        self._front = FrontEnd(options)
        self._closing: threading.Thread | None = None
        super().__init__(options.level)
        _noise.attach(self)  # an integration is on: frameworks' noise is not events

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
        try:
            self._front.emit_record(record, self.formatter)
        except Exception:
            self.handleError(record)

    def handle(self, record: logging.LogRecord) -> bool:
        """Filter and emit without the handler's lock: emit only appends to a deque.

        So a formatter set with `setFormatter` may run on several threads at once
        (stdlib formatters keep no state between calls; a formatter of your own
        that does must hold a lock of its own)."""
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
        """The counters of the `Analytics` object this handler delivers through
        (``names_folded``: this handler's)."""
        return self._front.stats()


PostHogHandler.__doc__ = with_options(PostHogHandler.__doc__, FRONT_END_OPTIONS, "handler")


def install(level: int | str = logging.INFO, **options: Any) -> PostHogHandler:
    """Attach one `PostHogHandler` to the root logger, and return it. Idempotent.

    Called again with the same arguments, it returns the handler it attached. Called
    with other arguments, it raises `ValueError` rather than apply some of them: detach
    the handler first (``logging.getLogger().removeHandler(handler)``). If the root
    logger has a `PostHogHandler` that ``dictConfig`` put there, it is returned with
    ``level`` applied; options are refused there too. The root logger's level is
    lowered to ``level`` if it is higher, so records at ``level`` reach the handler
    (and to ``event_level`` or ``logs_level``, given lower). If the root logger had
    no handler at all, `logging` printed warnings and errors on stderr through
    ``logging.lastResort``; that handler is attached to the root logger too, so the
    console shows what it showed.

    If the handler is later removed from the root logger (a ``dictConfig``, a
    ``basicConfig(force=True)``, a framework's takeover) while records go through
    it, one line on stderr says so, naming the likely cause.
    """
    root = logging.getLogger()
    arguments = (level, dict(options))
    number = _lowest_level(level, options)
    with _install_lock:  # two threads installing at once still attach one handler
        present = [h for h in root.handlers if isinstance(h, PostHogHandler)]
        if present:
            handler = _reuse(present[0], arguments, number)
        else:
            handler = _attach(root, arguments, number, options)
        if root.level > number:
            root.setLevel(number)
    return handler


def _lowest_level(level: int | str, options: dict[str, Any]) -> int:
    """The lowest of ``level`` and the lanes' levels; ``event_level`` set to ``level``
    in ``options`` when not given (the events lane keeps ``level``)."""
    number = level_number("level", level)
    if options.get("event_level") is None:
        options["event_level"] = number
    for name in ("event_level", "logs_level"):
        if options.get(name) is not None:
            number = min(number, level_number(name, options[name]))
    return number


def _reuse(
    handler: PostHogHandler, arguments: tuple[int | str, dict[str, Any]], number: int
) -> PostHogHandler:
    """The root logger's `PostHogHandler`, if ``arguments`` are the ones it got."""
    _check_reinstall(handler, arguments)
    if _installed is None or _installed[0] is not handler:
        handler.setLevel(number)  # dictConfig's: its lanes follow its level
    return handler


def _attach(
    root: logging.Logger,
    arguments: tuple[int | str, dict[str, Any]],
    number: int,
    options: dict[str, Any],
) -> PostHogHandler:
    """A new `PostHogHandler` on the root logger (with `logging.lastResort` if the root
    logger had no handler), watched for its removal."""
    global _installed
    handler = PostHogHandler(number, **options)
    if not root.handlers and logging.lastResort is not None:
        root.addHandler(logging.lastResort)
    root.addHandler(handler)
    watch = RootWatch(handler, lambda h: isinstance(h, PostHogHandler))
    handler.analytics.delivery.add_ticker(watch.check)
    _installed = (handler, arguments, watch)
    return handler


#: The handler `install` attached, the arguments it was given, and its watch.
_installed: tuple[PostHogHandler, tuple[int | str, dict[str, Any]], RootWatch] | None = None


def installed_handler() -> PostHogHandler | None:
    """The handler `install` attached last (it may have been detached since)."""
    return None if _installed is None else _installed[0]


def _check_reinstall(handler: PostHogHandler, arguments: tuple[int | str, dict[str, Any]]) -> None:
    """Refuse an `install` call that would apply only part of its arguments."""
    level, options = arguments
    if _installed is not None and _installed[0] is handler:
        earlier_level, earlier = _installed[1]
        same_level = level_number("level", earlier_level) == level_number("level", level)
        if same_level and earlier == options:
            return
        changed = sorted(
            {k for k in {*earlier, *options} if earlier.get(k) != options.get(k)}
            | (set() if same_level else {"level"})
        )
        raise ValueError(
            f"install() was already called with other arguments ({', '.join(changed)} differ);"
            " it applies none of them to the handler it attached: remove that handler first"
            " (logging.getLogger().removeHandler(handler)) to install another"
        )
    if options:
        raise ValueError(
            "install() found a PostHogHandler on the root logger that it did not attach"
            f" (from dictConfig?) and cannot apply {', '.join(sorted(options))} to it:"
            " configure that handler where it is built, or remove it first"
        )
