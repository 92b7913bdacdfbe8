"""``token_auth`` stands in for your authentication (``AuthenticationMiddleware``, a token
scheme, ...) so that the example runs without a database: it sets ``request.user``, which
analyticskit's ``AnalyticsMiddleware`` reads after it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GetResponse = Callable[[Any], Any]


@dataclass(frozen=True)
class DemoUser:
    """What ``request.user`` offers that the recipe reads: ``is_authenticated``, ``pk``."""

    pk: int | str  # Django's default primary key is an int
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
            name = token.strip()
            pk = int(name) if name.isdigit() else name
            request.user = DemoUser(pk=pk, email=f"{name}@example.com")
        else:
            request.user = Anonymous()
        return get_response(request)

    return middleware
