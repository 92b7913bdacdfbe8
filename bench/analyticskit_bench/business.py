"""Part 6: a business burst, distinct records of as many users through PostHogHandler
with its defaults, until the capture server has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import API_KEY, Run, close_handler, timed_records
from .server import RemoteServer

if TYPE_CHECKING:
    import analyticskit


@dataclass(frozen=True)
class Business:
    """Part 6's result: how many records were logged, the run, the counters."""

    records: int
    run: Run
    stats: analyticskit.Stats


def business_burst(server: RemoteServer, n: int) -> Business:
    import analyticskit

    handler = analyticskit.PostHogHandler(api_key=API_KEY + "_business", host=server.url)
    run = timed_records(
        server,
        "bench.business",
        handler,
        n,
        lambda: handler.flush(timeout=60),
        server.wait_for,
        lambda log, i: log.info("order %s paid", i, extra={"uid": f"u{i}"}),
    )
    stats = handler.stats()
    close_handler(handler)
    return Business(n, run, stats)
