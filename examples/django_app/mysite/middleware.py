"""Two small middlewares of the recipe.

``token_auth`` stands in for your authentication (``AuthenticationMiddleware``, a token
scheme, ...) so that the example runs without a database: it sets ``request.user``.

``bind_analytics_user`` is the part to copy: it binds the authenticated user as the
distinct id of everything logged or captured while the request runs. posthog's
``PosthogContextMiddleware`` also identifies the request (it gives events the request's
URL, method and path, and the frontend's session id), but a client-sent
``X-POSTHOG-DISTINCT-ID`` header wins over the authenticated user there; a user bound
with analyticskit wins over posthog's context, so the authenticated user is the one
records are attributed to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import analyticskit

GetResponse = Callable[[Any], Any]


@dataclass(frozen=True)
class DemoUser:
    """What ``request.user`` offers that the recipe reads: ``is_authenticated``, ``pk``."""

    pk: str
    email: str
    is_authenticated: bool = True


@dataclass(frozen=True)
class Anonymous:
    pk: None = None
    is_authenticated: bool = False


def token_auth(get_response: GetResponse) -> GetResponse:
    """``Authorization: Bearer <user>`` authenticates ``<user>`` (a stand-in, never real auth)."""

    def middleware(request: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme == "Bearer" and token.strip():
            request.user = DemoUser(pk=token.strip(), email=f"{token.strip()}@example.com")
        else:
            request.user = Anonymous()
        return get_response(request)

    return middleware


def bind_analytics_user(get_response: GetResponse) -> GetResponse:
    """Bind ``request.user`` (when authenticated) for the rest of the request."""

    def middleware(request: Any) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return get_response(request)
        with analyticskit.user(str(user.pk)):
            return get_response(request)

    return middleware
