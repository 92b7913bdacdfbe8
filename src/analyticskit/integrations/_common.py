"""What the framework integrations share."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from .. import _noise
from .._engine import lifecycle as _lifecycle
from ..handler import PostHogHandler


def missing(package: str, module: str) -> str:
    """The message of the `ImportError` of ``module`` when ``package`` is not installed."""
    return f"{module} needs {package}, which is not installed here: pip install {package}"


def posthog_handlers() -> list[PostHogHandler]:
    """The `PostHogHandler`s attached to any logger now, root's first."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        x for x in list(logging.root.manager.loggerDict.values()) if isinstance(x, logging.Logger)
    ]
    found: list[PostHogHandler] = []
    for logger in loggers:
        found += [h for h in logger.handlers if isinstance(h, PostHogHandler) and h not in found]
    return found


def turn_on() -> None:
    """What every integration does first: frameworks' noise is not events from now on."""
    _noise.turn_on(posthog_handlers())


def report_exception(logger: str, message: str, error: BaseException) -> None:
    """One error record of ``error`` (with its traceback), in the caller's context (its
    user), handed to the root logger's `PostHogHandler`s only: the server prints the
    traceback on the console itself."""
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None] = (
        type(error),
        error,
        error.__traceback__,
    )
    record = logging.getLogger(logger).makeRecord(
        logger, logging.ERROR, "(unknown file)", 0, message, (), exc_info
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PostHogHandler) and record.levelno >= handler.level:
            handler.handle(record)


def deliver_queued() -> None:
    """Deliver what is queued, each engine within its exit deadline; they stay usable."""
    _lifecycle.flush_all()


def deliver_at_sigterm() -> None:
    """`analyticskit.shutdown_on_sigterm` when called on the main thread (a development
    server keeps SIGTERM's default action, which skips every exit hook); elsewhere
    nothing (a server of threads has its own stop)."""
    if threading.current_thread() is threading.main_thread():
        _lifecycle.shutdown_on_sigterm()
