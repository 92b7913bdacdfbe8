"""What a log call costs the caller with `PostHogHandler`, next to the alternatives.

Run: ``python bench/bench_handler.py`` (about 3 minutes on 2 cores; loopback only).
``--profile`` adds the cost of each step of ``PostHogHandler.emit`` (timeit).
``--quick`` runs every part with a few hundred iterations (a few seconds): a smoke
run that checks the bench works and prints its tables; its figures mean nothing.
``--compare REF [--pairs N]`` runs only the caller's default path, this tree
against git ``REF`` (a commit, a branch), N fresh processes each, alternating
(``analyticskit_bench.compare``): for changes smaller than a run's noise.

1. Per-call cost on the caller's thread of
   ``logger.info("user %s did %s (step ab)", a, b, extra={"uid": i, "source": "auth"})``
   (400 templates in turn, a new uid each time: every record passes the default
   volume caps) with (a) a NullHandler (the floor), (b) a StreamHandler to
   os.devnull, (c) a QueueHandler on a queue.SimpleQueue with no listener (the
   queue is emptied between rounds, untimed), (k) the least a deferring handler
   can do (copy the record's dict, format the message, append both to a deque),
   (d) a naive handler calling
   ``posthog_client.capture()`` in ``emit()``, and (e) ``analyticskit.PostHogHandler``
   with every default on. (s) is PostHogHandler, defaults on, under a storm of one
   error record logged again and again (which the caps hold back), against (t) a
   NullHandler given the same record (its floor). Then the other front-ends, each
   against its own floor: (f) structlog with a no-op final processor, (g) the same
   with ``analyticskit.structlog.PostHogProcessor``
   (``log.info("user did login (step ab)", user=..., uid=..., source="auth")``),
   (h) loguru with a no-op sink, (i) loguru with ``analyticskit.loguru_sink``
   (``logger.info("user {} did {} (step ab)", ..., uid=..., source="auth")``).
   Then the logs lane: (l) ``PostHogHandler`` with both lanes on
   (``event_level="INFO", logs_level="INFO"``), (l2) the same with an
   OpenTelemetry span current on the caller (its ids travel with each record),
   and (o) PostHog's documented
   OpenTelemetry recipe: OpenTelemetry's ``LoggingHandler`` over a
   ``BatchLogRecordProcessor`` and the OTLP/HTTP exporter.
   Each sample is a batch of calls timed with ``perf_counter_ns`` and divided by its
   size; the variants' rounds are interleaved (shuffled) and each variant is
   flushed after its round, untimed, so no buffer fills and no variant's
   background work runs during another's round. The targets use "per round"
   ratios: the median over rounds of the variant's round median / its floor's
   round median in the same round, since a shared VM's speed changes between
   rounds. ``mean`` is the round's wall
   time per call: it includes the GIL time background threads (the SDK's
   consumer, analyticskit's worker) took during the round, and excludes what they
   did during the untimed flush. Total CPU per event is part 2's figure.
2. End to end: N events delivered to the capture server through PostHogHandler
   (volume caps off: every record is an event to deliver) and through
   ``client.capture()`` called directly; wall time until the server has them all,
   and this process's CPU time (``time.process_time``: caller, analyticskit's
   worker and the SDK's consumer) per delivered event.
3. Memory: RSS growth over a 200,000-record burst with PostHog down (a closed
   port), in a fresh interpreter.
4. Logs end to end: N records delivered to ``/i/v1/logs`` through PostHogHandler's
   logs lane and through the OpenTelemetry recipe; this process's CPU per delivered
   log (caller, worker and exporter threads together).
5. A storm: 100,000 identical records through PostHogHandler with its defaults,
   until delivered: wall and CPU time per record of the caller and the worker
   together, next to a NullHandler.
6. A business burst: 3,000 distinct records of 3,000 users
   (``log.info("order %s paid", i, extra={"uid": f"u{i}"})``) through
   PostHogHandler with its defaults, until the capture server has them: how many
   arrived (all, under the default caps) and this process's CPU per event.
7. The worker's own time per event (building it and the walk, without the SDK):
   an ordinary record, and one with a cyclic extra.

The capture server (tests/capture_server.py) runs in its own process, so its CPU
and GIL stay out of every figure. The targets follow the parts; among them,
structlog's (issue 17): ``PostHogProcessor`` against a chain that renders
(``TimeStamper`` + ``JSONRenderer``), at most 1.3x, and the nanoseconds it adds over
its no-op floor no more than those ``PostHogHandler`` adds over ``NullHandler``, per
round in the same run.

Each part is a module of ``bench/analyticskit_bench/`` returning a typed result;
``analyticskit_bench.report`` prints them in order, then the targets. This file is
the entry point.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from analyticskit_bench.common import FULL, QUICK
from analyticskit_bench.compare import compare, print_comparison
from analyticskit_bench.report import report
from analyticskit_bench.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--profile", action="store_true", help="add the cost of each step of emit()"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few hundred iterations per part (a smoke run: the figures mean nothing)",
    )
    parser.add_argument(
        "--compare",
        metavar="REF",
        help="only the default path, this tree against git REF, in alternating processes",
    )
    parser.add_argument(
        "--pairs", type=int, default=8, help="processes per version with --compare (8)"
    )
    args = parser.parse_args(argv)

    random.seed(1)
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, pid {os.getpid()}")
    if args.quick:
        print("--quick: a smoke run with a few hundred iterations; its figures mean nothing")
    if args.compare:
        print_comparison(compare(args.compare, max(1, args.pairs), args.quick))
    else:
        report(run(QUICK if args.quick else FULL, profile=args.profile))
    print(f"\n(bench took {time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
