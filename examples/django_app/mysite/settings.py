"""Settings of the Django recipe. The PostHog parts: ``MIDDLEWARE``, ``POSTHOG_MW_*`` and
``LOGGING``. ``POSTHOG_API_KEY`` and ``POSTHOG_HOST`` come from the environment (without a
key, events are printed on stderr as JSON lines)."""

from __future__ import annotations

import os
from typing import Any

import analyticskit

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "recipe-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"
# analyticskit's app: Django's noise (4xx lines, runserver's access log) is not events,
# and stopping runserver by SIGTERM delivers what is queued.
INSTALLED_APPS = ["analyticskit.integrations.django"]
DATABASES: dict[str, Any] = {}
USE_TZ = True

MIDDLEWARE = [
    # Your authentication first (django.contrib.auth's AuthenticationMiddleware, ...);
    # this stand-in reads "Authorization: Bearer <user>".
    "mysite.middleware.token_auth",
    # posthog's own, optional beside analyticskit's: request URL, method and path (and
    # the frontend's session id) on every event of the request, and unhandled exceptions
    # to PostHog Error Tracking.
    "posthog.integrations.django.PosthogContextMiddleware",
    # analyticskit: the authenticated user is the distinct id of the request's records.
    "analyticskit.integrations.django.AnalyticsMiddleware",
]

# One posthog client for analyticskit and posthog's middleware (its $exception events).
POSTHOG_MW_CLIENT = analyticskit.get_analytics().client
POSTHOG_MW_CAPTURE_EXCEPTIONS = True

analyticskit.register_source("shop")  # before LOGGING is applied, which checks sources

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "posthog": {
            "class": "analyticskit.PostHogHandler",
            "level": "INFO",
            "sources": {"mysite": "shop"},
        },
    },
    "root": {"level": "INFO", "handlers": ["console", "posthog"]},
}
