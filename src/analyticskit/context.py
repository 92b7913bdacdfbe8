"""Binding a user (a PostHog distinct id) to everything captured in a context.

The binding lives in a `contextvars.ContextVar`, so each thread and each asyncio
task sees its own. posthog's own context API (``posthog.identify_context``, set
by its Django/Flask/ASGI middlewares) is honoured when no user is bound here.
The caller's snapshot also carries the OpenTelemetry span current on the caller,
when OpenTelemetry is in use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import Context, ContextVar, Token
from dataclasses import dataclass
from typing import Any

from posthog import contexts as posthog_contexts

from ._validate import check, distinct_id_problem

__all__ = ["bind_user", "current_user", "reset_user", "user"]

_bound_user: ContextVar[str | None] = ContextVar("analyticskit_user", default=None)


def _check_distinct_id(distinct_id: object) -> str:
    check(distinct_id_problem("a user's distinct id", distinct_id))
    assert isinstance(distinct_id, str)
    return distinct_id


@contextmanager
def user(distinct_id: str) -> Iterator[None]:
    """Attribute everything captured inside the block to ``distinct_id``.

    >>> with analyticskit.user("u_42"):
    ...     log.info("opened settings")   # distinct_id "u_42"
    """
    token = _bound_user.set(_check_distinct_id(distinct_id))
    try:
        yield
    finally:
        _bound_user.reset(token)


def bind_user(distinct_id: str) -> Token[str | None]:
    """Bind ``distinct_id`` in the current context without a with-block.

    For middlewares and hooks that cannot wrap the request in ``with``: keep the
    returned token and give it to `reset_user` when the request ends.
    """
    return _bound_user.set(_check_distinct_id(distinct_id))


def reset_user(token: Token[str | None]) -> None:
    """Undo a `bind_user`, restoring whatever was bound before it."""
    _bound_user.reset(token)


def current_user() -> str | None:
    """The distinct id events captured here are attributed to, or None (personless).

    A user bound with `user`/`bind_user` wins over posthog's ``identify_context``.
    """
    return _bound_user.get() or posthog_contexts.get_context_distinct_id()


@dataclass(slots=True)
class CallerContext:
    """What must be read on the caller's thread: the user, posthog's context and the
    current OpenTelemetry span (the object: its ids are read on the worker, by
    `span_ids`)."""

    distinct_id: str | None
    tags: dict[str, Any]
    session_id: str | None
    span: object | None = None


#: The caller's context when nothing is bound: one shared, read-only object.
EMPTY = CallerContext(None, {}, None)
# posthog's stack of context scopes (None outside any): with neither a scope nor a
# bound user there is nothing to read, and the three posthog calls below are skipped.
# Private to posthog, hence looked up defensively: without it, they always run.
_posthog_scopes: ContextVar[Any] | None = getattr(posthog_contexts, "_context_stack", None)


#: Both None: nothing is bound, and `snapshot` looks no further than for a span.
#: (Without posthog's stack, the first is never None.)
scope_in_use: Callable[[], Any] = _posthog_scopes.get if _posthog_scopes else object
bound_user: Callable[[], str | None] = _bound_user.get

#: OpenTelemetry's trace API, looked up in ``sys.modules``, never imported: while it
#: is absent from there no span can be current, and the lookup is all it costs.
OTEL_TRACE = "opentelemetry.trace"
_modules = sys.modules
_read_span: Callable[[], object | None] | None = None
#: For hot paths, one call and an identity test: ``otel_context() is OTEL_UNSET``
#: while OpenTelemetry's context variable holds its default (empty) Context, so no
#: span can be current and `current_span` need not be called. Set by `_span_reader`;
#: until then (and with another runtime context) the test never holds.
otel_context: Callable[[], object] = object
OTEL_UNSET: object = object()
_span_only = EMPTY  # the last snapshot that held a span and nothing else


def current_span() -> object | None:
    """The OpenTelemetry span current here, or None (none, or no OpenTelemetry)."""
    read = _read_span or _span_reader()
    return read() if read is not None else None


def _span_reader() -> Callable[[], object | None] | None:
    """Once OpenTelemetry's trace API is imported: the fastest way to read the
    current span, kept for every later call; None before.

    The trick, named: OpenTelemetry keeps the current context in a ContextVar of its
    runtime context, the span under a key of its own, and ``get_current_span()``
    reaches it through four calls (a microsecond with a span current, more than the
    whole log call's floor); reading the variable and the key directly costs a
    tenth of that. With another runtime context (``OTEL_PYTHON_CONTEXT``) or another
    layout, the public call is used.
    """
    global _read_span, otel_context, OTEL_UNSET
    trace = _modules.get(OTEL_TRACE)
    if trace is None:
        return None
    try:
        from opentelemetry import context as otel_context
        from opentelemetry.trace.propagation import _SPAN_KEY

        current = otel_context._RUNTIME_CONTEXT._current_context.get  # type: ignore[attr-defined]
        key = _SPAN_KEY

        def read() -> object | None:
            span: object | None = current().get(key)
            return span

        read()
        # Unset in a new, empty Context: the variable's default, which it holds until
        # a context is attached (and again once the last one is detached).
        OTEL_UNSET, otel_context = Context().run(current), current
    except Exception:

        def read() -> object | None:
            try:
                return trace.get_current_span()  # type: ignore[no-any-return]
            except Exception:  # a half-imported module
                return None

    _read_span = read
    return read


def span_ids(span: object) -> tuple[int, int] | None:
    """The (trace id, span id) of a span `current_span` returned, if it is valid."""
    try:
        ids = span.get_span_context()  # type: ignore[attr-defined]
        return (ids.trace_id, ids.span_id) if ids.is_valid else None
    except Exception:  # a span class of someone's own
        return None


def trace_properties(trace: tuple[int, int]) -> dict[str, str]:
    """``$trace_id``/``$span_id`` in posthog's own format (32 and 16 hex digits)."""
    return {"$trace_id": f"{trace[0]:032x}", "$span_id": f"{trace[1]:016x}"}


def snapshot() -> CallerContext:
    """Read the caller's context now, for a worker thread to use later.

    Treat the result as read-only: with nothing bound it is `EMPTY`, and with only
    a span it may be the last call's (one span usually spans many records).

    Front-ends call this for every record: with nothing bound and no span current
    (the common case, OpenTelemetry imported or not) it returns after two
    context-variable reads and an identity test; a span is looked for only when
    OpenTelemetry's context variable holds more than its default.
    """
    if scope_in_use() is None and bound_user() is None:
        if OTEL_TRACE not in _modules or otel_context() is OTEL_UNSET:
            return EMPTY
        return _span_only_context(current_span())
    span = current_span() if OTEL_TRACE in _modules else None
    distinct_id = current_user()
    tags = posthog_contexts.get_tags()
    session_id = posthog_contexts.get_context_session_id()
    if distinct_id is None and not tags and session_id is None and span is None:
        return EMPTY
    return CallerContext(distinct_id, tags, session_id, span)


def _span_only_context(span: object | None) -> CallerContext:
    """The context of a caller with only a span (`EMPTY` without one): the last
    one's while the span is."""
    global _span_only
    if span is None:
        return EMPTY
    last = _span_only
    if last.span is not span:
        last = _span_only = CallerContext(None, {}, None, span)
    return last
