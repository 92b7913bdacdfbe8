"""structlog: `PostHogProcessor` turns event dicts into the events `PostHogHandler` makes.

Needs the extra ``analyticskit-posthog[structlog]``. Put the processor in the
chain before the renderer (and after ``structlog.contextvars.merge_contextvars``,
so bound keys such as ``uid`` reach it); it passes each event dict on unchanged::

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        PostHogProcessor(level="INFO", sources={"myapp.auth": "auth"}),
        structlog.dev.ConsoleRenderer(),
    ])
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from typing import Any

from . import _extras
from ._front_end import ExcInfo, ForeignRecord, OtherFrontEnd, exc_info_of
from ._mapping.levels import level_number

_extras.require("structlog", "structlog")

__all__ = ["PostHogProcessor"]

# structlog's method names that are not logging's level names.
_METHOD_LEVELS = {
    "warn": logging.WARNING,
    "exception": logging.ERROR,
    "fatal": logging.CRITICAL,
    "msg": logging.INFO,
    "log": logging.INFO,
}
# Keys structlog's own processors add, read here rather than sent as properties.
_CONSUMED = frozenset(
    ("event", "level", "logger", "exc_info", "exception", "module", "func_name", "lineno")
)


class PostHogProcessor(OtherFrontEnd):
    """A structlog processor: each event dict at or above ``level`` becomes the
    AnalyticsKit event `analyticskit.PostHogHandler` would make of the same record.

    The id comes from the ``event`` string as a template (or from an ``id`` key);
    the ``source``, ``uid``/``user_id``, ``event_type``, ``relevancy`` and
    ``long_description`` keys act as in ``extra``; other keys become properties;
    ``exc_info`` (and ``log.exception(...)``) gives the traceback. The level is the
    event dict's ``level`` (``structlog.processors.add_log_level``), else the
    method's name; the logger name, for ``sources``, is the ``logger`` key
    (``add_logger_name``), else the wrapped logger's ``name``, else ``"structlog"``.
    ``module``, ``func_name`` and ``lineno`` (``CallsiteParameterAdder``) fill the
    origin properties when present.

    Args:
        level: the lowest level sent, as an int or a name (default ``INFO``).
        **options: those of `analyticskit.PostHogHandler` (``sources``,
            ``default_source``, ``level_map``, ``include``, ``exclude``,
            ``ignore_loggers``, ``capture_exceptions``, ``analytics``, ``api_key``,
            ``host``, ``client``, ``max_queued``, ``shutdown_timeout``, ``scrub``,
            ``scrub_keys``, ``scrub_patterns``, ``before_send``, and the volume
            caps ``rate_limit``, ``dedupe_window``, ``sample_levels``,
            ``sample_loggers``, on by default as for the handler).

    ``flush(timeout)``, ``stats()`` and ``analytics`` as on `PostHogHandler`.

    Raises:
        TypeError, ValueError: a bad or unknown option, naming it.
    """

    def __init__(self, level: int | str = logging.INFO, **options: Any) -> None:
        super().__init__(level, options, _convert)
        self._levels: dict[object, int] = {}

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Queue the event dict's event if its level is high enough; return it unchanged."""
        try:
            level = event_dict.get("level", method_name)
            levelno = self._levels.get(level) or self._level_of(level, method_name)
            if levelno >= self._level:
                # log.exception() without exc_info: the exception being handled
                # (structlog's set_exc_info rule).
                exc_info = event_dict.get("exc_info", method_name == "exception")
                copy = dict(event_dict)
                self._front.emit_foreign(
                    (
                        copy,
                        levelno,
                        logger,
                        time.time(),
                        exc_info_of(exc_info) if exc_info else None,
                    ),
                    levelno,
                    copy,
                )
        except Exception as error:
            self._front.invalid(error, "structlog-emit", "PostHogProcessor")
        return event_dict

    def _level_of(self, level: object, method_name: str) -> int:
        """The number of a ``level`` key (a name; else the method's name counts), cached."""
        name = level if isinstance(level, str) else method_name
        try:
            number = _METHOD_LEVELS.get(name.lower()) or level_number("level", name)
        except ValueError:
            number = logging.INFO
        if isinstance(level, str):  # a key of another type is not cached
            self._levels[level] = number
        return number


_Item = tuple[dict[str, Any], int, Any, float, ExcInfo | None]


def _convert(item: _Item) -> ForeignRecord:
    """On the worker: the event dict's extra keys, origin, message and traceback text,
    and the logger's name."""
    event_dict, levelno, logger, created, exc_info = item
    name = event_dict.get("logger") or getattr(logger, "name", None) or "structlog"
    event = event_dict.get("event")
    extras = {k: v for k, v in event_dict.items() if k not in _CONSUMED}
    # After structlog's format_exc_info, the traceback is the "exception" string.
    formatted = event_dict.get("exception")
    return ForeignRecord(
        extras,
        event,
        event_dict.get("module"),
        event_dict.get("func_name"),
        event_dict.get("lineno"),
        event_dict.get("pathname"),
        event if isinstance(event, str) else str(event),
        formatted if isinstance(formatted, str) else None,
        levelno,
        name if type(name) is str else str(name),
        created,
        exc_info,
    )
