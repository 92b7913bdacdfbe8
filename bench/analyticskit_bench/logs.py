"""Part 4: N records delivered to ``/i/v1/logs`` through PostHogHandler's logs lane and
through PostHog's OpenTelemetry recipe."""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from .common import API_KEY, Run, Sizes, close_handler, timed_records
from .handlers import otel_recipe
from .server import RemoteServer

#: The two paths, in the order the report prints them.
LANES = ("analyticskit", "otel")


@dataclass(frozen=True)
class LogsEndToEnd:
    """Part 4's runs per path, interleaved in random order."""

    ours: tuple[Run, ...]
    recipe: tuple[Run, ...]

    def ours_cpu_us(self) -> float:
        """The logs lane's median CPU per delivered log."""
        return statistics.median(run.cpu_us for run in self.ours)

    def recipe_cpu_us(self) -> float:
        """The OpenTelemetry recipe's median CPU per delivered log."""
        return statistics.median(run.cpu_us for run in self.recipe)


def _lane(server: RemoteServer, n: int) -> Run:
    import analyticskit

    handler = analyticskit.PostHogHandler(
        api_key=API_KEY + "_logs",
        host=server.url,
        rate_limit=False,
        dedupe_window=0,
        event_level="CRITICAL",
        logs_level="INFO",
    )
    run = timed_records(
        server,
        "bench.logs.analyticskit",
        handler,
        n,
        lambda: handler.flush(timeout=60),
        server.wait_for_logs,
    )
    close_handler(handler)
    return run


def _recipe(server: RemoteServer, n: int) -> Run:
    handler: logging.Handler
    handler, flush, provider = otel_recipe(server.url, API_KEY)
    run = timed_records(server, "bench.logs.otel", handler, n, flush, server.wait_for_logs)
    provider.shutdown()
    handler.close()
    return run


def end_to_end_logs(server: RemoteServer, sizes: Sizes) -> LogsEndToEnd:
    paths: dict[str, Callable[[RemoteServer, int], Run]] = {
        "analyticskit": _lane,
        "otel": _recipe,
    }
    runs: dict[str, list[Run]] = {lane: [] for lane in LANES}
    for _ in range(sizes.e2e_runs):
        for lane in random.sample(sorted(runs), 2):
            runs[lane].append(paths[lane](server, sizes.e2e_n))
    return LogsEndToEnd(tuple(runs["analyticskit"]), tuple(runs["otel"]))
