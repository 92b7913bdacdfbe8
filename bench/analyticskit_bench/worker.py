"""Part 7: the delivery worker's own time per event, without the SDK."""

from __future__ import annotations

import logging
import timeit
from dataclasses import dataclass
from typing import Any

from .common import API_KEY, Sizes

WORKER_ROWS = (
    "an ordinary record",
    "a record with a cyclic extra (a list holding itself 3 times)",
)


@dataclass(frozen=True)
class WorkerTime:
    """Microseconds per event, one figure per row of ``WORKER_ROWS``."""

    rows: tuple[tuple[str, float], ...]


def worker_time(sizes: Sizes) -> WorkerTime:
    """Building the event (`RecordMapper.build`) and the walk that makes its properties
    JSON-safe, scrubs and caps them (`Outgoing.prepare`); best of the repeats."""
    import analyticskit

    handler = analyticskit.PostHogHandler(
        api_key=API_KEY, host="http://127.0.0.1:9", rate_limit=False, dedupe_window=0
    )
    mapper, outgoing = handler._front.mapper, handler.analytics.delivery.outgoing
    cyclic: list[Any] = [1]
    cyclic.extend([cyclic] * 3)
    log = logging.getLogger("bench.worker")
    rows: list[tuple[str, float]] = []
    for label, extra in zip(
        WORKER_ROWS, ({"uid": 42, "source": "auth"}, {"uid": 42, "data": cyclic}), strict=True
    ):
        record = log.makeRecord(
            "bench.worker", logging.INFO, __file__, 1, "user %s did %s", ("u_42", "login"), None
        )
        record.__dict__.update(extra)
        snap = mapper.snapshot(record, "general", None)

        def one(snap: Any = snap) -> object:
            return outgoing.prepare(mapper.build(snap))

        number = max(sizes.profile_number // 20, 10)
        best = min(timeit.repeat(one, number=number, repeat=sizes.profile_repeat))
        rows.append((label, best / number * 1e6))
    handler.analytics.shutdown(0.5)
    handler.close()
    return WorkerTime(tuple(rows))
