"""Part 1's structlog and loguru variants, each alone (its floor) and with
analyticskit's front-end."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .common import API_KEY, BRACE_TEMPLATES, EVENTS
from .server import RemoteServer
from .variants import Variant


def _noop_render(_logger: Any, _method: str, _event_dict: Any) -> str:
    return ""


def _structlog_call(*ours: Any, production: bool = False) -> Callable[[int], object]:
    """The floor the issue names: a no-op final processor. ``production``: a chain as
    applications write it, with an ISO timestamp and a JSON renderer."""
    import structlog

    last = (
        [structlog.processors.TimeStamper(fmt="iso"), structlog.processors.JSONRenderer()]
        if production
        else [_noop_render]
    )
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            *ours,
            *last,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )
    return lambda i: log.info(EVENTS[i % len(EVENTS)], user="u_42", uid=i, source="auth")


def _structlog_variants(server: RemoteServer) -> list[Variant]:
    from analyticskit.structlog import PostHogProcessor

    # Its own key: one client per key and host, or the SDK warns.
    processor = PostHogProcessor(api_key=API_KEY + "_structlog", host=server.url)
    ours = Variant(
        "g",
        "(g) structlog + analyticskit PostHogProcessor",
        call=_structlog_call(processor),
        after_round=lambda: processor.flush(30),
    )
    ours.close = lambda: processor.analytics.shutdown(5)
    return [
        Variant("f", "(f) structlog, no-op final processor (floor)", call=_structlog_call()),
        ours,
        Variant(
            "f2",
            "(f2) structlog, timestamp + JSON (floor)",
            call=_structlog_call(production=True),
        ),
        Variant(
            "g2",
            "(g2) structlog, timestamp + JSON + ours",
            call=_structlog_call(processor, production=True),
            after_round=lambda: processor.flush(30),
        ),
    ]


def _loguru_variants(server: RemoteServer) -> list[Variant]:
    from loguru import logger

    import analyticskit

    def loguru_call(i: int) -> None:
        logger.info(
            BRACE_TEMPLATES[i % len(BRACE_TEMPLATES)], "u_42", "login", uid=i, source="auth"
        )

    sink = analyticskit.loguru_sink(api_key=API_KEY + "_loguru", host=server.url)
    logger.remove()  # loguru's default stderr sink
    added: list[int] = []

    def add(loguru_sink: Callable[[Any], None]) -> Callable[[], None]:
        return lambda: added.append(logger.add(loguru_sink, level="INFO"))

    def remove(flush: Callable[[], object] = lambda: None) -> Callable[[], None]:
        def after_round() -> None:
            flush()
            logger.remove(added.pop())

        return after_round

    ours = Variant(
        "i",
        "(i) loguru + analyticskit.loguru_sink",
        call=loguru_call,
        before_round=add(sink),
        after_round=remove(lambda: sink.flush(30)),
    )
    ours.close = lambda: sink.analytics.shutdown(5)
    return [
        Variant(
            "h",
            "(h) loguru, no-op sink (floor)",
            call=loguru_call,
            before_round=add(lambda _message: None),
            after_round=remove(),
        ),
        ours,
    ]


def front_end_variants(server: RemoteServer) -> list[Variant]:
    """structlog's four variants, then loguru's two."""
    return _structlog_variants(server) + _loguru_variants(server)
