"""The FastAPI integration: ``uvicorn fastapi_app:app`` (from examples/), ``--workers N`` too.

- Logging goes to PostHog through `analyticskit.install()` at import.
- ``app.add_middleware(AnalyticsMiddleware, user=...)`` is the whole integration: the
  user ``authenticated_user`` returns is bound for each request (its own context:
  concurrent requests never see each other's user, awaits included); an unhandled
  exception becomes one error event with that user; at uvicorn's stop (SIGTERM, each
  worker of ``--workers``), what is queued is delivered before uvicorn re-raises
  SIGTERM, which skips ``atexit``. No lifespan code of the app's is needed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from fastapi import FastAPI

import analyticskit
from analyticskit.integrations.asgi import AnalyticsMiddleware

analyticskit.register_source("shop")
analyticskit.install(logging.INFO, sources={"fastapi_app": "shop"})

log = logging.getLogger("fastapi_app")


def authenticated_user(scope: Any) -> str | None:
    """A stand-in for your authentication: ``Authorization: Bearer <user>``."""
    headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return None
    return token.strip()


app = FastAPI()
app.add_middleware(AnalyticsMiddleware, user=authenticated_user)


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
