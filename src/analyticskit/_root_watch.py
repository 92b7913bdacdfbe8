"""Saying so when the handler `install` attached leaves the root logger.

A later ``logging.config.dictConfig`` or ``logging.basicConfig(force=True)`` closes
and removes the root logger's handlers; a framework may replace them (Celery's worker
does, without closing them). Records logged from then on never reach PostHog, and
nothing in `logging` says so. The delivery worker looks on each of its passes (every
half second at least, while it runs): a handler missing from the root logger, with no
other `PostHogHandler` there, for a second or more, is reported once on stderr (at
once at flush and shutdown if it was closed: a reconfiguration, not a removeHandler()).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from . import _diagnostics

#: Seconds the handler must stay detached before it is reported: a framework that
#: replaces the root logger's handlers and puts ours back (Celery with
#: `analyticskit.integrations.celery.setup`) is not a loss.
GRACE = 1.0


class RootWatch:
    """Watches one handler; `check` is a delivery ticker (it queues nothing)."""

    def __init__(self, handler: logging.Handler, is_ours: Callable[[object], bool]) -> None:
        self._handler = handler  # held: once removed, nothing else may hold it
        self._is_ours = is_ours
        self._since: float | None = None
        self.reported = False

    def check(self, everything: bool) -> list[Any]:
        handler = self._handler
        if self.reported:
            return []
        root = logging.getLogger()
        if any(self._is_ours(h) for h in root.handlers):
            self._since = None
            return []
        now = time.monotonic()
        if self._since is None:
            self._since = now
        if now - self._since >= GRACE or (everything and _closed(handler)):
            self.reported = True
            _diagnostics.report(_message(handler))
        return []


def _closed(handler: logging.Handler) -> bool:
    return bool(getattr(handler, "_closed", False))


def _message(handler: logging.Handler) -> str:
    if _closed(handler):
        cause = (
            "closed and removed, most likely by logging.config.dictConfig() (Django applies"
            " LOGGING with it) or logging.basicConfig(force=True) after install()"
        )
    else:
        cause = (
            "removed without being closed, most likely by a framework that replaced the"
            " root logger's handlers (Celery's worker does: call"
            " analyticskit.integrations.celery.setup()) or by removeHandler()"
        )
    return (
        f"the PostHogHandler attached by install() was {cause}; records logged from now"
        " on are not sent to PostHog. Call install() after that configuration, or put"
        ' the handler in it ("class": "analyticskit.PostHogHandler").'
    )
