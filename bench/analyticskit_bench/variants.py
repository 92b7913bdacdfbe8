"""A variant of part 1 (one way of logging the benchmark's record), its timed rounds,
and the per-round figures the targets read."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

from .common import TEMPLATES, Sizes


class Variant:
    """One way of logging the benchmark's record: a stdlib ``handler`` on a logger of
    its own, or (the other front-ends) ``call(i)``; ``before_round``/``after_round``
    run untimed around each round."""

    def __init__(
        self,
        key: str,
        label: str,
        handler: logging.Handler | None = None,
        after_round: Callable[[], object] = lambda: None,
        *,
        call: Callable[[int], object] | None = None,
        before_round: Callable[[], None] = lambda: None,
    ) -> None:
        self.key = key
        self.label = label
        self.handler = handler
        self.after_round = after_round
        self.before_round = before_round
        self.logger = logging.getLogger(f"bench.{key}")
        self.logger.handlers[:] = [handler] if handler else []
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.call = call or self._stdlib_call
        self.close: Callable[[], object] = lambda: None
        self.samples: list[float] = []  # ns per call, one per batch
        self.means: list[float] = []  # ns per call, one per round
        self.round_medians: list[float] = []  # ns per call, one per round

    def _stdlib_call(self, i: int) -> None:
        self.logger.info(
            TEMPLATES[i % len(TEMPLATES)], "u_42", "login", extra={"uid": i, "source": "auth"}
        )

    def storm_call(self, _i: int) -> None:
        """The same error again and again (one user, one message)."""
        self.logger.error("user %s did %s", "u_42", "login", extra={"uid": 42, "source": "auth"})


def time_round(variant: Variant, record: bool, sizes: Sizes) -> None:
    call = variant.call
    perf = time.perf_counter_ns
    samples: list[float] = []
    i = 0
    start = perf()
    for _ in range(sizes.batches):
        t0 = perf()
        for _ in range(sizes.batch):
            i += 1
            call(i)
        samples.append((perf() - t0) / sizes.batch)
    elapsed = perf() - start
    if record:
        variant.samples.extend(samples)
        variant.means.append(elapsed / (sizes.batches * sizes.batch))
        variant.round_medians.append(statistics.median(samples))


def paired(variant: Variant, floor: Variant) -> float:
    """The median over rounds of ``variant``'s median / ``floor``'s, each pair taken in
    the same round: the machine's speed, which can change by half between rounds
    on a shared VM, cancels out (as in part 2's CPU ratio)."""
    return statistics.median(
        v / f for v, f in zip(variant.round_medians, floor.round_medians, strict=True)
    )


def added(variant: Variant, floor: Variant) -> float:
    """The nanoseconds ``variant`` adds to ``floor``: the median over rounds of the
    difference of their medians in the same round."""
    return statistics.median(
        v - f for v, f in zip(variant.round_medians, floor.round_medians, strict=True)
    )


def timer_overhead() -> float:
    """The median cost of one pair of ``perf_counter_ns`` calls, in ns."""
    perf = time.perf_counter_ns
    samples = []
    for _ in range(2000):
        t0 = perf()
        samples.append(perf() - t0)
    return statistics.median(samples)
