"""The FastAPI recipe: ``uvicorn fastapi_app:app`` (from examples/), ``--workers N`` too.

- Logging goes to PostHog through `analyticskit.install()` at import. uvicorn's own
  loggers do not propagate to the root logger, so the lifespan attaches a handler at
  ERROR to ``uvicorn.error``, where uvicorn logs unhandled exceptions ("Exception in
  ASGI application", with the traceback).
- The user is bound per request by an HTTP middleware, in the request's own context:
  concurrent requests never see each other's user, awaits included.
- Stop: on SIGTERM uvicorn finishes the requests in flight, runs the lifespan's shutdown,
  then restores SIGTERM's default action and raises it again: the process dies by the
  signal and ``atexit`` never runs. So the lifespan delivers what is queued itself, with
  `analyticskit.shutdown()` (within ``shutdown_timeout``, 3 s by default). With
  ``--workers``, each worker process runs its own lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

import analyticskit

analyticskit.register_source("shop")
analyticskit.install(logging.INFO, sources={"fastapi_app": "shop"})

log = logging.getLogger("fastapi_app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Attached here rather than at import: uvicorn.run() configures logging (which
    # resets the uvicorn loggers' handlers) after the app module may have been imported.
    server_errors = logging.getLogger("uvicorn.error")
    handler = analyticskit.PostHogHandler(logging.ERROR)
    server_errors.addHandler(handler)
    try:
        yield
    finally:
        server_errors.removeHandler(handler)
        # Off the event loop: shutdown() waits (bounded) for delivery.
        await asyncio.to_thread(analyticskit.shutdown)


app = FastAPI(lifespan=lifespan)


def authenticated_user(request: Request) -> str | None:
    """A stand-in for your authentication: ``Authorization: Bearer <user>``."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return None
    return token.strip()


@app.middleware("http")
async def bind_analytics_user(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    user = authenticated_user(request)
    if user is None:
        return await call_next(request)
    with analyticskit.user(user):  # a ContextVar: this request's task only
        return await call_next(request)


@app.get("/healthz")
async def healthz() -> str:
    return "ok"


@app.get("/checkout/{order}")
async def checkout(order: int) -> dict[str, int]:
    log.info("checkout started", extra={"order": order, "pid": os.getpid()})
    await asyncio.sleep(0.05)  # other requests run here, with their own users
    log.info("checkout finished", extra={"order": order, "pid": os.getpid()})
    return {"order": order}


@app.get("/boom")
async def boom() -> None:
    raise RuntimeError("boom: the tax service did not answer")
