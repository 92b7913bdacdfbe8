"""Settings of the Django recipe. The PostHog parts: ``MIDDLEWARE``, ``POSTHOG_MW_*`` and
``LOGGING``. ``POSTHOG_API_KEY`` and ``POSTHOG_HOST`` come from the environment (without a
key, events are printed on stderr as JSON lines)."""

from __future__ import annotations

import logging
import os
from typing import Any

import analyticskit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "recipe-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, Any] = {}
USE_TZ = True

MIDDLEWARE = [
    # Your authentication first (django.contrib.auth's AuthenticationMiddleware, ...);
    # this stand-in reads "Authorization: Bearer <user>".
    "mysite.middleware.token_auth",
    # posthog's own: request URL, method and path (and the frontend's session id) on
    # every event of the request, and unhandled exceptions to PostHog Error Tracking.
    "posthog.integrations.django.PosthogContextMiddleware",
    # analyticskit: the authenticated user is the distinct id of the request's records.
    "mysite.middleware.bind_analytics_user",
]

# One posthog client for analyticskit and posthog's middleware (its $exception events).
POSTHOG_MW_CLIENT = analyticskit.get_analytics().client
POSTHOG_MW_CAPTURE_EXCEPTIONS = True

analyticskit.register_source("shop")  # before LOGGING is applied, which checks sources


def skip_client_errors(record: logging.LogRecord) -> bool:
    """Drop records of 4xx answers: Django logs each one (a 404 from every bot, a 403 from
    every expired session) on django.request at WARNING, which would make a high-relevancy
    event of each. Server errors (5xx) pass."""
    status = getattr(record, "status_code", None)
    return not (isinstance(status, int) and status < 500)


LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "skip_client_errors": {
            "()": "django.utils.log.CallbackFilter",
            "callback": skip_client_errors,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "posthog": {
            "class": "analyticskit.PostHogHandler",
            "level": "INFO",
            "sources": {"mysite": "shop"},
            # runserver's access log: one record per request, not an event.
            "exclude": ["django.server"],
            "filters": ["skip_client_errors"],
        },
    },
    "root": {"level": "INFO", "handlers": ["console", "posthog"]},
}
