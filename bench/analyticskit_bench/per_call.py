"""Part 1: the per-call cost on the caller's thread, each variant against its floor."""

from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import queue
import random
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .common import API_KEY, Sizes, close_handler, percentile
from .front_ends import front_end_variants
from .handlers import MinimalDeferral, NaiveHandler, drain, otel_recipe, span_current
from .server import RemoteServer
from .variants import Variant, added, paired, time_round, timer_overhead

if TYPE_CHECKING:
    import analyticskit

#: The floor each variant's "per round" ratio is taken against (default: (a)).
OWN_FLOOR = {"s": "t", "g": "f", "g2": "f2", "i": "h"}
#: The variants logging the storm's one record again and again.
STORM_KEYS = ("t", "s")


@dataclass(frozen=True)
class VariantRow:
    """One variant's figures, in ns per call; ``per_round`` against its own floor."""

    key: str
    label: str
    median: float
    p99: float
    mean: float
    per_round: float


@dataclass(frozen=True)
class PerCall:
    """Part 1's result: a row per variant (the floor (a) first), the ns two variants add
    over their floors, and the counters of the default handler and the capped one."""

    timer_overhead: float  # ns per timed batch
    rows: tuple[VariantRow, ...]
    handler_added_ns: float  # (e) PostHogHandler over (a) NullHandler, per round
    processor_added_ns: float  # (g) PostHogProcessor over (f) its no-op floor, per round
    stats: analyticskit.Stats
    capped_stats: analyticskit.Stats

    def ratio(self, key: str) -> float:
        """The per-round ratio of variant ``key`` to its own floor."""
        return next(row.per_round for row in self.rows if row.key == key)


class _Stdlib:
    """Part 1's stdlib variants and what ends them, in the order they must end."""

    def __init__(self, server: RemoteServer) -> None:
        import posthog

        import analyticskit

        url = server.url
        self.devnull = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
        # Its own key: one client per key and host, or the SDK warns about competing queues.
        self.naive_client = posthog.Posthog(API_KEY + "_naive", host=url, gzip=True)
        # Every default on; each record passes the caps and becomes an event.
        self.ak = analyticskit.PostHogHandler(api_key=API_KEY, host=url)
        # The defaults again, and a storm of identical records, which they hold back.
        self.capped = analyticskit.PostHogHandler(api_key=API_KEY + "_capped", host=url)
        self.both = analyticskit.PostHogHandler(
            api_key=API_KEY + "_both", host=url, event_level="INFO", logs_level="INFO"
        )
        self.otel, self.otel_flush, self.otel_provider = otel_recipe(url, API_KEY)
        self.both_span = analyticskit.PostHogHandler(
            api_key=API_KEY + "_span", host=url, event_level="INFO", logs_level="INFO"
        )

    def variants(self) -> list[Variant]:
        simple: queue.SimpleQueue[Any] = queue.SimpleQueue()
        minimal = MinimalDeferral()
        enter_span, leave_span = span_current()
        ak, capped, both, both_span = self.ak, self.capped, self.both, self.both_span
        naive_client = self.naive_client

        def after_span_round() -> None:
            leave_span()
            both_span.flush(timeout=30)

        return [
            Variant("a", "(a) NullHandler (floor)", logging.NullHandler()),
            Variant("b", "(b) StreamHandler(os.devnull)", logging.StreamHandler(self.devnull)),
            Variant(
                "c",
                "(c) QueueHandler(SimpleQueue), no listener",
                logging.handlers.QueueHandler(simple),
                lambda: drain(simple),
            ),
            Variant(
                "k", "(k) the least deferral: dict copy + message", minimal, minimal.queued.clear
            ),
            Variant(
                "d",
                "(d) naive: client.capture() in emit()",
                NaiveHandler(naive_client),
                lambda: naive_client.flush(timeout_seconds=30),
            ),
            Variant("e", "(e) analyticskit.PostHogHandler", ak, lambda: ak.flush(timeout=30)),
            Variant("t", "(t) NullHandler, the storm's records (floor)", logging.NullHandler()),
            Variant(
                "s",
                "(s) PostHogHandler, a storm of one record",
                capped,
                lambda: capped.flush(timeout=30),
            ),
            Variant(
                "l",
                "(l) PostHogHandler, events + logs lanes",
                both,
                lambda: both.flush(timeout=30),
            ),
            Variant(
                "l2",
                "(l2) events + logs lanes, a span current",
                both_span,
                after_span_round,
                before_round=enter_span,
            ),
            Variant("o", "(o) OpenTelemetry LoggingHandler recipe", self.otel, self.otel_flush),
        ]

    def close(self, variants: list[Variant]) -> None:
        """End every variant; the handlers shut down before part 2 builds others for the
        same keys and host (the SDK warns about two clients for one)."""
        close_handler(self.capped)
        self.naive_client.shutdown()
        for variant in variants:
            variant.close()
        close_handler(self.ak)
        close_handler(self.both)
        close_handler(self.both_span)
        self.otel_provider.shutdown()
        self.devnull.close()


def _run_rounds(variants: list[Variant], sizes: Sizes) -> None:
    """One warm-up round, then ``sizes.rounds`` recorded, each variant once per round in
    a shuffled order, its untimed ``before_round``/``after_round`` around it."""
    for round_no in range(sizes.rounds + 1):
        order = variants[:]
        random.shuffle(order)
        for variant in order:
            variant.before_round()
            gc.collect()
            time_round(variant, record=round_no > 0, sizes=sizes)
            variant.after_round()


def _rows(variants: list[Variant]) -> tuple[VariantRow, ...]:
    by_key = {v.key: v for v in variants}
    return tuple(
        VariantRow(
            key=v.key,
            label=v.label,
            median=statistics.median(v.samples),
            p99=percentile(v.samples, 0.99),
            mean=statistics.mean(v.means),
            per_round=paired(v, by_key[OWN_FLOOR.get(v.key, "a")]),
        )
        for v in variants
    )


def per_call(server: RemoteServer, sizes: Sizes) -> PerCall:
    """Time every variant in interleaved rounds; the floor (a) comes first."""
    stdlib = _Stdlib(server)
    variants = stdlib.variants() + front_end_variants(server)
    by_key = {v.key: v for v in variants}
    for key in STORM_KEYS:
        by_key[key].call = by_key[key].storm_call
    _run_rounds(variants, sizes)
    result = PerCall(
        timer_overhead=timer_overhead(),
        rows=_rows(variants),
        handler_added_ns=added(by_key["e"], by_key["a"]),
        processor_added_ns=added(by_key["g"], by_key["f"]),
        stats=stdlib.ak.stats(),
        capped_stats=stdlib.capped.stats(),
    )
    stdlib.close(variants)
    return result
