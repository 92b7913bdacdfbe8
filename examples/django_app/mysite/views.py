"""Views that log the way application code does: nothing here knows about PostHog."""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpResponse, HttpResponseForbidden  # type: ignore[import-untyped]

log = logging.getLogger(__name__)  # "mysite.views": source "shop" (see LOGGING)


def healthz(request: Any) -> Any:
    return HttpResponse("ok")  # logs nothing: probes are not events


def hello(request: Any) -> Any:
    # Attributed to the authenticated user (see mysite.middleware), personless otherwise.
    log.info("hello page viewed", extra={"path": request.path})
    return HttpResponse("hello")


def forbidden(request: Any) -> Any:
    # Django logs each 4xx on django.request at WARNING: analyticskit's app keeps them out.
    return HttpResponseForbidden("no")


def boom(request: Any) -> Any:
    # Unhandled: django.request logs "Internal Server Error: /boom/" at ERROR with the
    # traceback, which becomes an error event of the authenticated user.
    raise RuntimeError("boom: the payment provider did not answer")
