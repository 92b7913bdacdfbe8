"""analyticskit: BackendKit's AnalyticsKit for Python, delivered to PostHog.

Two doors lead in: `capture_event` (the original ``Analytics.captureEvent``) and
`PostHogHandler`, which turns stdlib log records into the same events; so do
`analyticskit.structlog.PostHogProcessor` and `loguru_sink` (optional extras).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from ._engine.lifecycle import shutdown_on_sigterm
from ._mapping.message import Message
from .analytics import (
    Analytics,
    capture_event,
    configure,
    flush,
    get_analytics,
    shutdown,
    stats,
)
from .config import Settings
from .context import bind_user, current_user, reset_user, user
from .events import (
    DEFAULT_SOURCES,
    EVENT_TYPES,
    RELEVANCIES,
    EventData,
    EventType,
    Relevancy,
    Source,
    register_source,
    registered_sources,
)
from .handler import SUCCESS, PostHogHandler, install
from .sinks import LocalSink, LossReport, PostHogSink, Sink
from .stats import DROP_REASONS, DropReason, Stats

if TYPE_CHECKING:
    from . import structlog as structlog
    from ._loguru import LoguruSink, loguru_sink

# Names whose modules import an optional extra: loaded on first use, never by the core.
_LAZY = {"loguru_sink": "._loguru", "LoguruSink": "._loguru", "structlog": ".structlog"}


def __getattr__(name: str) -> Any:
    """`loguru_sink`, `LoguruSink` and the `structlog` module, imported on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    loaded = import_module(module, __name__)
    return loaded if module == f".{name}" else getattr(loaded, name)


try:
    __version__ = version("analyticskit-posthog")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_SOURCES",
    "DROP_REASONS",
    "EVENT_TYPES",
    "RELEVANCIES",
    "SUCCESS",
    "Analytics",
    "DropReason",
    "EventData",
    "EventType",
    "LocalSink",
    "LoguruSink",
    "LossReport",
    "Message",
    "PostHogHandler",
    "PostHogSink",
    "Relevancy",
    "Settings",
    "Sink",
    "Source",
    "Stats",
    "bind_user",
    "capture_event",
    "configure",
    "current_user",
    "flush",
    "get_analytics",
    "install",
    "loguru_sink",
    "register_source",
    "registered_sources",
    "reset_user",
    "shutdown",
    "shutdown_on_sigterm",
    "stats",
    "user",
]
