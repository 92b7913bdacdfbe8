"""`AnalyticsMiddleware`: the authenticated user, bound for the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from ...context import bind_user, reset_user

GetResponse = Callable[[Any], Any]


def _distinct_id(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    pk = getattr(user, "pk", None)
    return None if pk is None else str(pk)


class AnalyticsMiddleware:
    """Binds ``str(request.user.pk)`` of an authenticated user for the request (sync and
    async: under ASGI the user is read with ``request.auser()`` when there is one)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._async:
            return self._acall(request)
        distinct_id = _distinct_id(getattr(request, "user", None))
        if distinct_id is None:
            return self.get_response(request)
        token = bind_user(distinct_id)
        try:
            return self.get_response(request)
        finally:
            reset_user(token)

    async def _acall(self, request: Any) -> Any:
        auser: Callable[[], Awaitable[Any]] | None = getattr(request, "auser", None)
        user = await auser() if auser is not None else getattr(request, "user", None)
        distinct_id = _distinct_id(user)
        if distinct_id is None:
            return await self.get_response(request)
        token = bind_user(distinct_id)
        try:
            return await self.get_response(request)
        finally:
            reset_user(token)
