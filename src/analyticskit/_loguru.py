"""loguru: `loguru_sink` turns loguru's records into the events `PostHogHandler` makes.

Needs the extra ``analyticskit-posthog[loguru]``::

    from loguru import logger
    logger.add(analyticskit.loguru_sink(sources={"myapp.auth": "auth"}), level="INFO")
"""

from __future__ import annotations

import logging
from typing import Any

from . import _extras
from ._front_end import ForeignRecord, OtherFrontEnd, exc_info_of

__all__ = ["LoguruSink", "loguru_sink"]


class LoguruSink(OtherFrontEnd):
    """A loguru sink (a callable taking loguru's message) made by `loguru_sink`;
    ``flush(timeout)``, ``stats()`` and ``analytics`` as on `PostHogHandler`."""

    def __init__(self, level: int | str, options: dict[str, Any]) -> None:
        _extras.require("loguru", "loguru")
        super().__init__(level, options, _convert)

    def __call__(self, message: Any) -> None:
        """Queue the event of one loguru message (a str with a ``record`` dict)."""
        try:
            record: dict[str, Any] = message.record
            levelno = record["level"].no
            if levelno >= self._level:
                # The record is loguru's own for this message; its extra is copied, as
                # another sink could change it.
                extra = dict(record["extra"])
                self._front.emit_foreign((record, extra), levelno, extra)
        except Exception as error:
            self._front.invalid(error, "loguru-emit", "the loguru sink")


def _convert(item: tuple[dict[str, Any], dict[str, Any]]) -> ForeignRecord:
    """On the worker: the record's extra keys, origin, message (no traceback text)."""
    record, extras = item
    exception = record["exception"]
    # loguru keeps no template, only the formatted message: an empty template makes
    # the id come from the message with its variable parts removed.
    return ForeignRecord(
        extras,
        "",
        record["module"],
        record["function"],
        record["line"],
        record["file"].path,
        record["message"],
        None,
        record["level"].no,
        record["name"] or "loguru",
        record["time"].timestamp(),
        None if exception is None else exc_info_of(tuple(exception)),
    )


def loguru_sink(level: int | str = logging.NOTSET, **options: Any) -> LoguruSink:
    """A loguru sink that turns each record into the AnalyticsKit event
    `analyticskit.PostHogHandler` would make of the same stdlib record::

        logger.add(analyticskit.loguru_sink(), level="INFO")

    ``extra`` (from ``logger.bind(...)``, ``logger.contextualize(...)`` and
    keyword arguments) plays the part of stdlib's ``extra``: ``source``,
    ``uid``/``user_id``, ``event_type``, ``relevancy``, ``id``,
    ``long_description``; other keys become properties. loguru's levels keep
    their numbers (its ``SUCCESS`` is 25: a ``success`` event; ``TRACE`` is 5).
    loguru keeps no message template, so the id is the formatted message with its
    variable parts (numbers, quoted values, paths) removed, unless ``id`` is bound.
    The logger name, for ``sources``, is loguru's ``record["name"]`` (the module's
    ``__name__``).

    Args:
        level: the lowest level sent, as an int or a stdlib level name (loguru's
            own ``level=`` on ``logger.add`` filters first).
        **options: those of `analyticskit.PostHogHandler`.

    Raises:
        ImportError: loguru is not installed (names the extra to install).
        TypeError, ValueError: a bad or unknown option, naming it.
    """
    return LoguruSink(level, options)
