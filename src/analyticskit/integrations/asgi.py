"""`AnalyticsMiddleware` for any ASGI app: ``app.add_middleware(AnalyticsMiddleware)``.

Pure ASGI (no framework needed; FastAPI, Starlette, Litestar and bare apps alike):

- at the lifespan's shutdown (uvicorn's graceful stop on SIGTERM, each worker of
  ``--workers N``), what is queued is delivered within the exit deadline, before the
  server re-raises SIGTERM with its default action, which skips every exit hook;
- each HTTP or WebSocket connection runs in a posthog context of its own (posthog's
  `PosthogASGIMiddleware` builds it: the request's path, method and URL on every event,
  and a client's ``X-POSTHOG-DISTINCT-ID`` as its user), and with ``user=`` the user
  that callable returns for the scope is bound for the request (it wins over posthog's);
- an unhandled exception becomes one error event, ``error_exception_in_asgi_application``
  of logger ``asgi``, with the request's user and the traceback (the server logs it
  after the middlewares returned, personless, on a logger that does not reach root).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from posthog.integrations.asgi import PosthogASGIMiddleware

from ..context import bind_user, reset_user
from ._common import deliver_queued, report_exception, turn_on

__all__ = ["AnalyticsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
UserOf = Callable[[Scope], "str | None"]

_ERROR_MESSAGE = "Exception in ASGI application"


class AnalyticsMiddleware:
    """analyticskit for an ASGI app; see the module's docstring.

    Args:
        app: the ASGI app it wraps (given by ``add_middleware``).
        user: ``user(scope) -> str | None``, the request's distinct id (None:
            nothing bound; posthog's context applies).
        capture_tracing_headers: read ``X-POSTHOG-DISTINCT-ID`` and
            ``X-POSTHOG-SESSION-ID`` (client-controlled: analytics only, never
            authentication), as posthog's middleware does. Default True.

    Raises:
        TypeError: ``user`` is not callable.
    """

    def __init__(
        self, app: ASGIApp, *, user: UserOf | None = None, capture_tracing_headers: bool = True
    ) -> None:
        if user is not None and not callable(user):
            raise TypeError(f"user must be a callable taking the ASGI scope, got {user!r}")
        self.app = app
        self.user = user
        # posthog's own middleware around the request: its context, not its exception
        # capture (give it a client of yours beside this one for $exception events).
        self._context: Any = PosthogASGIMiddleware(
            cast(Any, self._request),
            capture_exceptions=False,
            capture_tracing_headers=capture_tracing_headers,
        )
        turn_on()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
        elif kind in ("http", "websocket"):
            await self._context(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = None
        if self.user is not None:
            distinct_id = self.user(scope)
            if distinct_id is not None:
                token = bind_user(distinct_id)
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            report_exception("asgi", _ERROR_MESSAGE, error)
            raise
        finally:
            if token is not None:
                reset_user(token)

    @staticmethod
    def _lifespan_send(send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await asyncio.to_thread(deliver_queued)  # off the loop: it waits (bounded)
            await send(message)

        return lifespan_send
