"""Existing stdlib logging calls become AnalyticsKit events, configured with dictConfig.

Runs on the embedded default (JSON lines on stderr) without POSTHOG_API_KEY.
"""

from __future__ import annotations

import logging
import logging.config

import analyticskit

analyticskit.register_source("billing")

logging.config.dictConfig(
    {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "posthog": {
                "class": "analyticskit.PostHogHandler",
                "level": "INFO",
                "sources": {"myapp.auth": "auth", "myapp.billing": "billing", "sqlalchemy": "db"},
            },
        },
        "root": {"level": "INFO", "handlers": ["posthog"]},
    }
)

log = logging.getLogger("myapp.auth")


def login(uid: str) -> None:
    log.info("user %s logged in", uid, extra={"uid": uid, "method": "password"})


def fetch_user(uid: str) -> None:
    try:
        raise LookupError(uid)
    except LookupError:
        log.exception("could not fetch user %s", uid, extra={"uid": uid})


if __name__ == "__main__":
    login("u_42")
    fetch_user("u_43")
    with analyticskit.user("u_44"):
        logging.getLogger("myapp.billing").log(analyticskit.SUCCESS, "invoice %s paid", "inv_1")
    logging.getLogger("myapp.billing").debug("below the handler's level: no event")
