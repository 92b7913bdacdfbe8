"""Part 2: N events delivered to the capture server through PostHogHandler (volume caps
off: every record is an event to deliver) and through ``client.capture()`` directly."""

from __future__ import annotations

import gc
import random
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .common import API_KEY, Run, Sizes, close_handler, properties, timed_records
from .server import RemoteServer

if TYPE_CHECKING:
    import analyticskit


@dataclass(frozen=True)
class EndToEnd:
    """Part 2's runs, in pairs (one of each path, in random order)."""

    direct: tuple[Run, ...]
    handler: tuple[Run, ...]
    handler_stats: analyticskit.Stats  # of the last run through PostHogHandler

    def pair_ratios(self) -> list[float]:
        """Each pair's handler/direct CPU per event: pairs cancel slow drifts in load."""
        return [h.cpu_us / d.cpu_us for d, h in zip(self.direct, self.handler, strict=True)]

    def cpu_ratio(self) -> float:
        """The median of the pairs' CPU ratios."""
        return statistics.median(self.pair_ratios())


def _direct(server: RemoteServer, n: int) -> Run:
    import posthog

    # Its own key, so the SDK does not warn about two clients for one project.
    client = posthog.Posthog(API_KEY + "_direct", host=server.url, gzip=True)
    server.clear()
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(n):
        client.capture(
            "info_user_did",
            distinct_id=str(i),
            properties=properties(f"user u_42 did login {i}"),
            timestamp=datetime.now(timezone.utc),
        )
    client.flush(timeout_seconds=60)
    got = server.wait_for(n, timeout=60)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    client.shutdown()
    return Run(wall, cpu, got)


def _through_handler(server: RemoteServer, n: int) -> tuple[Run, analyticskit.Stats]:
    import analyticskit

    handler = analyticskit.PostHogHandler(
        api_key=API_KEY, host=server.url, rate_limit=False, dedupe_window=0
    )
    run = timed_records(
        server, "bench.e2e", handler, n, lambda: handler.flush(timeout=60), server.wait_for
    )
    stats = handler.stats()
    close_handler(handler)
    return run, stats


def end_to_end(server: RemoteServer, sizes: Sizes) -> EndToEnd:
    direct: list[Run] = []
    via_handler: list[Run] = []
    stats: analyticskit.Stats | None = None
    for _ in range(sizes.e2e_runs):
        for kind in random.sample(["direct", "handler"], 2):
            if kind == "direct":
                direct.append(_direct(server, sizes.e2e_n))
            else:
                run, stats = _through_handler(server, sizes.e2e_n)
                via_handler.append(run)
    assert stats is not None  # e2e_runs >= 1
    return EndToEnd(tuple(direct), tuple(via_handler), stats)
