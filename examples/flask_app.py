"""The Flask integration: ``gunicorn --preload --workers 3 flask_app:app`` or
``flask --app flask_app run`` (from examples/).

Logging goes to PostHog through one `analyticskit.install()` call at import, and
``init_app(app, user=authenticated_user)`` binds each request's user. With
``--preload`` the app is imported once, in gunicorn's master, before it forks the
workers: the log line below is captured there, so analyticskit's worker thread is already
running when gunicorn forks. Each worker then delivers its own events; the master's event
is sent once, by the master.

SIGTERM is gunicorn's graceful stop: workers finish their requests and exit normally,
and interpreter exit delivers what is queued (within ``shutdown_timeout``, 3 s by
default). ``flask run``'s server keeps SIGTERM's default action: ``init_app`` makes it
deliver first.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, Request

import analyticskit
from analyticskit.integrations.flask import init_app

analyticskit.register_source("shop")
analyticskit.install(logging.INFO, sources={"flask_app": "shop"})

log = logging.getLogger("flask_app")
log.info("flask app loaded", extra={"pid": os.getpid()})

app = Flask(__name__)  # app.logger is "flask_app" too: its error lines are "shop" events


def authenticated_user(request: Request) -> str | None:
    """A stand-in for your authentication: ``Authorization: Bearer <user>``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return None
    return token.strip()


init_app(app, user=authenticated_user)


@app.get("/healthz")
def healthz() -> str:
    return "ok"


@app.get("/orders/<int:order>")
def place_order(order: int) -> str:
    log.info("order %s placed", order, extra={"order": order, "pid": os.getpid()})
    return "placed"


@app.get("/boom")
def boom() -> str:
    # Unhandled: Flask logs "Exception on /boom [GET]" with the traceback on app.logger,
    # still inside the request, so the error event is the bound user's.
    raise RuntimeError("boom: the warehouse did not answer")
