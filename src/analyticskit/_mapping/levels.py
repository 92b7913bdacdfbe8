"""Log levels: the SUCCESS level, level names, and what each level maps to by default."""

from __future__ import annotations

import logging

from .._validate import describe
from ..events import EventType, Relevancy

SUCCESS = 25
"""The ``SUCCESS`` log level, between INFO and WARNING: records at it become ``success`` events."""

logging.addLevelName(SUCCESS, "SUCCESS")


def level_name(levelno: int, name: str) -> str:
    """A record's level name, but ``SUCCESS`` for level 25 whatever another library
    named it since (billiard calls it ``SUBWARNING``)."""
    return "SUCCESS" if levelno == SUCCESS else name


def level_number(field: str, level: object) -> int:
    """A level given as an int or a name (any case), as an int."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if not isinstance(level, str):
        raise TypeError(
            f"{field} must be an int or a level name, got {type(level).__name__} {describe(level)}"
        )
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"{field}={describe(level)} is not a known log level name")
    return number


def default_event_type(levelno: int) -> EventType:
    """``error`` for ERROR and above, ``success`` for SUCCESS, ``info`` otherwise."""
    if levelno >= logging.ERROR:
        return "error"
    return "success" if levelno == SUCCESS else "info"


def default_relevancy(levelno: int) -> Relevancy:
    """``low`` for DEBUG and below, ``high`` from WARNING up, ``medium`` between."""
    if levelno <= logging.DEBUG:
        return "low"
    return "high" if levelno >= logging.WARNING else "medium"
