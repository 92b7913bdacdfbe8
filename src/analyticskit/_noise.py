"""Framework noise: the records of servers' and frameworks' own loggers that are not events.

Turned on by the integrations (`analyticskit.integrations`): access logs, Celery's,
kombu's and billiard's chatter below ERROR and Django's 4xx lines then stay out of the
events lane of every `PostHogHandler` (the logs lane, when on, still gets them). A
record whose ``posthog_event`` extra is set keeps that choice: a filter of the user's,
added after this one, can ask for any of them as events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ._guard import matches
from ._mapping.record_to_event import EXTRA_TO_EVENTS

#: Every record of these loggers is an access-log line.
ACCESS_LOGS = ("uvicorn.access", "gunicorn.access", "django.server")
#: These loggers' records below ERROR are the framework's own chatter.
CHATTER = ("werkzeug", "celery", "kombu", "billiard", "amqp")
#: Django logs every 4xx answer here, with its ``status_code``.
DJANGO_REQUEST = "django.request"


def is_noise(record: logging.LogRecord) -> bool:
    """Whether ``record`` is one of a framework's records that are not events."""
    name = record.name
    if matches(name, ACCESS_LOGS):
        return True
    if record.levelno < logging.ERROR and matches(name, CHATTER):
        return True
    if name == DJANGO_REQUEST:
        status = getattr(record, "status_code", None)
        return isinstance(status, int) and status < 500
    return False


class FrameworkNoise(logging.Filter):
    """Keeps frameworks' noise out of the events lane; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if EXTRA_TO_EVENTS not in record.__dict__ and is_noise(record):
            setattr(record, EXTRA_TO_EVENTS, False)
        return True


FILTER = FrameworkNoise()
_on = False


def turn_on(handlers: Iterable[logging.Handler]) -> None:
    """Keep the noise out of ``handlers`` and of every handler `install` attaches later."""
    global _on
    _on = True
    for handler in handlers:
        handler.addFilter(FILTER)  # idempotent: a filter is added once


def attach(handler: logging.Handler) -> None:
    """Add the filter to ``handler`` if an integration turned it on."""
    if _on:
        handler.addFilter(FILTER)
