"""structlog and loguru calls become the same AnalyticsKit events as stdlib logging's.

Needs the extras: pip install 'analyticskit-posthog[structlog,loguru]'. Runs on the
embedded default (JSON lines on stderr) without POSTHOG_API_KEY.
"""

from __future__ import annotations

import sys

import structlog
from loguru import logger

import analyticskit
from analyticskit.structlog import PostHogProcessor

analyticskit.register_source("billing")

# structlog: the processor goes after merge_contextvars (bound keys such as uid reach
# it) and before the renderer; it passes each event dict on unchanged.
structlog.configure(
    processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        PostHogProcessor(level="INFO", sources={"myapp.auth": "auth"}),
        structlog.processors.KeyValueRenderer(),
    ],
    logger_factory=structlog.PrintLoggerFactory(sys.stdout),
)
log = structlog.get_logger().bind(logger="myapp.auth")  # the name `sources` matches

# loguru: one sink beside loguru's own; SUCCESS is loguru's level too.
logger.remove()
logger.add(sys.stdout, level="INFO", format="{level} {message} {extra}")
logger.add(analyticskit.loguru_sink(sources={"__main__": "billing"}), level="INFO")


def login(uid: str) -> None:
    structlog.contextvars.bind_contextvars(uid=uid)
    try:
        log.info("user logged in", method="password")
        try:
            raise LookupError(uid)
        except LookupError:
            log.exception("could not load the profile")
    finally:
        structlog.contextvars.unbind_contextvars("uid")


def pay(uid: str, invoice: str) -> None:
    with logger.contextualize(uid=uid):
        logger.success("invoice {} paid", invoice, amount=19.99)
        logger.debug("below the sink's level: no event")


if __name__ == "__main__":
    login("u_42")
    pay("u_43", "inv_1")
