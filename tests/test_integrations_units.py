"""The integrations' parts in this process, on plain objects and the real SDK: the ASGI
middleware driven by the ASGI protocol itself, Django's middleware and app, Flask's
test client, Celery's signal receivers. Their real servers: tests/test_recipe_*.py."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import analyticskit
from analyticskit import _noise
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import unique_name


@pytest.fixture(autouse=True)
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The noise switch and SIGTERM's handler as they were (integrations set both)."""
    monkeypatch.setattr(_noise, "_on", False)
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def installed(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> analyticskit.PostHogHandler:
    return analyticskit.install(
        logging.INFO, api_key=API_KEY, host=capture_server.url, dedupe_window=0
    )


# -- ASGI --------------------------------------------------------------------------------


async def _app(scope: Any, receive: Any, send: Any) -> None:
    """A bare ASGI app: lifespan, /ok logs a line, /boom raises."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/boom":
        raise RuntimeError("boom in asgi")
    logging.getLogger(f"asgiapp.{scope['path'].strip('/')}").info("served %s", scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str, user: str | None = None) -> dict[str, Any]:
    headers = [(b"x-user", user.encode())] if user else []
    return {"type": "http", "method": "GET", "path": path, "headers": headers, "scheme": "http"}


async def _request(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _user_of(scope: Any) -> str | None:
    return dict(scope["headers"]).get(b"x-user", b"").decode() or None


def test_asgi_binds_the_user_reports_the_exception_and_delivers_at_lifespan_shutdown(
    installed: analyticskit.PostHogHandler, capture_server: CaptureServer
) -> None:
    from analyticskit.integrations.asgi import AnalyticsMiddleware

    app = AnalyticsMiddleware(_app, user=_user_of)

    async def serve() -> list[str]:
        await _request(app, _scope("/ok", "ann"))
        await _request(app, _scope("/ok"))
        with pytest.raises(RuntimeError, match="boom in asgi"):
            await _request(app, _scope("/boom", "ben"))
        # The lifespan: startup, then shutdown, whose completion waits for delivery.
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[str] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: Any) -> None:
            sent.append(message["type"])

        await app({"type": "lifespan"}, receive, send)
        return sent

    assert asyncio.run(serve()) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    # Delivered by the lifespan's shutdown: no flush of the test's.
    events = capture_server.wait_for(3, timeout=0)
    by_name = {(e["event"], str(e["distinct_id"])) for e in events}
    assert ("info_served", "ann") in by_name
    [error] = [e for e in events if e["event"].startswith("error_")]
    assert error["event"] == "error_exception_in_asgi_application"
    assert error["distinct_id"] == "ben"
    assert error["properties"]["logger"] == "asgi"
    assert error["properties"]["$request_path"] == "/boom"
    assert "RuntimeError: boom in asgi" in error["properties"]["longDescription"]
    [anonymous] = [e for e in events if e["event"] == "info_served" and e["distinct_id"] != "ann"]
    assert anonymous["properties"]["$process_person_profile"] is False


def test_asgi_passes_other_scopes_through_and_checks_user() -> None:
    from analyticskit.integrations.asgi import AnalyticsMiddleware

    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(AnalyticsMiddleware(app)({"type": "custom"}, None, None))  # type: ignore[arg-type]
    assert seen == ["custom"]
    with pytest.raises(TypeError, match="user must be a callable"):
        AnalyticsMiddleware(app, user="ann")  # type: ignore[arg-type]


# -- Django ------------------------------------------------------------------------------


def _django_request(pk: object, authenticated: bool = True) -> Any:
    return SimpleNamespace(user=SimpleNamespace(pk=pk, is_authenticated=authenticated))


def test_django_middleware_binds_the_authenticated_user_sync_and_async() -> None:
    pytest.importorskip("django")
    from analyticskit.integrations.django import AnalyticsMiddleware

    sync = AnalyticsMiddleware(lambda request: analyticskit.current_user())
    assert sync(_django_request(42)) == "42"  # an int pk
    assert sync(_django_request("ann", authenticated=False)) is None
    assert sync(SimpleNamespace()) is None  # no user at all
    assert analyticskit.current_user() is None

    async def get_response(request: Any) -> str | None:
        return analyticskit.current_user()

    async_ = AnalyticsMiddleware(get_response)

    async def auser() -> Any:
        return SimpleNamespace(pk=7, is_authenticated=True)

    assert asyncio.run(async_(SimpleNamespace(auser=auser))) == "7"
    assert asyncio.run(async_(_django_request(None))) is None


def test_django_app_turns_the_noise_off_and_delivers_at_sigterm() -> None:
    pytest.importorskip("django")
    import analyticskit.integrations.django as package
    from analyticskit._engine import lifecycle as _lifecycle
    from analyticskit.integrations.django.apps import AnalyticsConfig

    AnalyticsConfig("analyticskit.integrations.django", package).ready()
    assert _noise._on
    assert signal.getsignal(signal.SIGTERM) is _lifecycle._on_sigterm


# -- Flask -------------------------------------------------------------------------------


def test_flask_binds_the_user_per_request(
    installed: analyticskit.PostHogHandler, capture_server: CaptureServer
) -> None:
    flask = pytest.importorskip("flask")
    from analyticskit.integrations.flask import init_app

    app = flask.Flask(unique_name())

    @app.get("/who")  # type: ignore[untyped-decorator]
    def who() -> str:
        return analyticskit.current_user() or "-"

    init_app(app, user=lambda request: request.headers.get("X-User"))
    client = app.test_client()
    assert client.get("/who", headers={"X-User": "cho"}).text == "cho"
    assert client.get("/who").text == "-"
    assert analyticskit.current_user() is None
    with pytest.raises(TypeError, match="Flask app"):
        init_app(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="user must be a callable"):
        init_app(app, user="cho")  # type: ignore[arg-type]
    init_app(flask.Flask(unique_name()))  # no user: nothing bound, still on


# -- Celery ------------------------------------------------------------------------------


def test_celery_carries_the_senders_user_and_puts_the_handler_back(
    installed: analyticskit.PostHogHandler, root_logger: logging.Logger
) -> None:
    pytest.importorskip("celery")
    from posthog.integrations.celery import CONTEXT_DISTINCT_ID_HEADER as USER_HEADER

    from analyticskit.integrations import celery

    celery.setup()
    celery.setup()  # idempotent
    headers: dict[str, Any] = {}
    celery._add_user_header(headers=headers)  # nothing bound: no header
    assert headers == {"headers": {}}
    with analyticskit.user("dev"):
        celery._add_user_header(headers=headers)
    assert headers["headers"][USER_HEADER] == "dev"
    celery._add_user_header(headers=None)  # not a dict: left alone

    task = SimpleNamespace(request=SimpleNamespace(headers=headers["headers"]))
    celery._bind_sender(task=task)
    assert analyticskit.current_user() == "dev"
    celery._unbind_sender(task=task)
    assert analyticskit.current_user() is None
    celery._unbind_sender(task=task)  # twice: nothing to reset

    root_logger.handlers = []  # the worker's takeover
    root_logger.setLevel(logging.WARNING)
    celery._reattach(logger=root_logger)
    assert installed in root_logger.handlers
    assert root_logger.level == logging.INFO
