"""Part 5: a storm of identical records through a NullHandler and through
PostHogHandler with its defaults, until delivered (caller and worker together: the
worker decides what the caps hold back)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import API_KEY, close_handler, own_logger
from .server import RemoteServer

if TYPE_CHECKING:
    import analyticskit


@dataclass(frozen=True)
class PerRecord:
    """Wall and CPU seconds per record."""

    wall: float
    cpu: float


@dataclass(frozen=True)
class Storm:
    """Part 5's result: per record, the NullHandler's and PostHogHandler's."""

    records: int
    null: PerRecord
    ours: PerRecord
    stats: analyticskit.Stats

    @property
    def cpu_ratio(self) -> float:
        """PostHogHandler's CPU per record over the NullHandler's."""
        return self.ours.cpu / self.null.cpu


def _per_record(
    log: logging.Logger, n: int, flush: Callable[[], object] = lambda: None
) -> PerRecord:
    """Log the storm's record ``n`` times, then ``flush``: the time per record."""
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        log.error("database unreachable", extra={"source": "auth"})
    flush()
    return PerRecord((time.perf_counter() - wall0) / n, (time.process_time() - cpu0) / n)


def storm_total(server: RemoteServer, n: int) -> Storm:
    import analyticskit

    handler = analyticskit.PostHogHandler(api_key=API_KEY + "_storm", host=server.url)
    null = _per_record(own_logger("bench.storm.null", logging.NullHandler()), n)
    ours = _per_record(
        own_logger("bench.storm.ours", handler), n, lambda: handler.flush(timeout=60)
    )
    stats = handler.stats()
    close_handler(handler)
    return Storm(n, null, ours, stats)
