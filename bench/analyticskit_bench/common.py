"""What the parts share: their sizes, the benchmark's records, and a timed run."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported inside the functions at run time
    import analyticskit

    from .server import RemoteServer

# The records of part 1: 400 event names in turn, as an application logs, so that
# every record passes the default volume caps (fewer than 100 per name in a run).
# Each step is named by two letters (aa, ab, ...), not a number: loguru keeps no
# template, and its event names drop the numbers of a message.
_STEPS = tuple(chr(97 + n // 26) + chr(97 + n % 26) for n in range(400))
TEMPLATES = tuple(f"user %s did %s (step {step})" for step in _STEPS)
EVENTS = tuple(f"user did login (step {step})" for step in _STEPS)
BRACE_TEMPLATES = tuple(f"user {{}} did {{}} (step {step})" for step in _STEPS)
ROOT = Path(__file__).resolve().parent.parent.parent
TESTS = ROOT / "tests"
API_KEY = "phc_bench_key_0123456789"
K = TypeVar("K", bound=str)


@dataclass(frozen=True)
class Sizes:
    """How much work each part does."""

    rounds: int  # interleaved rounds per variant (one warm-up round more, not recorded)
    batches: int  # timed batches per round
    batch: int  # calls per timed batch
    e2e_n: int  # events per end-to-end run (under the default max_queued of 10,000)
    e2e_runs: int  # pairs (direct, handler), each pair in random order
    burst: int  # records in the memory burst
    storm: int  # identical records in part 5
    business: int  # distinct records of as many users in part 6
    profile_number: int  # timeit calls per repeat in --profile
    profile_repeat: int  # timeit repeats in --profile (the best one is reported)


FULL = Sizes(
    rounds=30,
    batches=50,
    batch=20,
    e2e_n=8_000,
    e2e_runs=7,
    burst=200_000,
    storm=100_000,
    business=3_000,
    profile_number=20_000,
    profile_repeat=5,
)
# --quick: every code path, a few hundred iterations each; no figure is meaningful.
QUICK = Sizes(
    rounds=2,
    batches=5,
    batch=20,
    e2e_n=300,
    e2e_runs=1,
    burst=2_000,
    storm=2_000,
    business=300,
    profile_number=200,
    profile_repeat=2,
)


@dataclass(frozen=True)
class Run:
    """One timed run until delivered: wall and CPU seconds, and how many arrived."""

    wall: float
    cpu: float
    got: int

    @property
    def rate(self) -> float:
        """Delivered per second of wall time."""
        return self.got / self.wall

    @property
    def cpu_us(self) -> float:
        """This process's CPU microseconds per delivered item."""
        return self.cpu / max(self.got, 1) * 1e6


def own_logger(name: str, handler: logging.Handler) -> logging.Logger:
    """A logger of the bench's own: ``handler`` alone, at INFO, not propagating."""
    log = logging.getLogger(name)
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def nonzero(counts: Mapping[K, int]) -> dict[K, int]:
    """The counters that are not zero."""
    return {k: n for k, n in counts.items() if n}


def properties(message: str, record: logging.LogRecord | None = None) -> dict[str, Any]:
    """The properties PostHogHandler sends for the benchmark's record."""
    return {
        "eventType": "info",
        "id": "user_did",
        "source": "auth",
        "relevancy": "medium",
        "longDescription": message,
        "level": "INFO",
        "logger": record.name if record else "bench.direct",
        "module": record.module if record else "bench_handler",
        "function": record.funcName if record else "run",
        "line": record.lineno if record else 1,
    }


def close_handler(handler: analyticskit.PostHogHandler, timeout: float = 5) -> None:
    """Shut its ``Analytics`` down first (``close()`` alone would, on a background
    thread), so its client is gone before a later part builds one for the same key."""
    handler.analytics.shutdown(timeout)
    handler.close()


def timed_records(
    server: RemoteServer,
    name: str,
    handler: logging.Handler,
    n: int,
    flush: Callable[[], None],
    wait: Callable[[int, float], int],
    record: Callable[[logging.Logger, int], None] | None = None,
) -> Run:
    """Log ``n`` records through ``handler`` (the ``i``-th by ``record(log, i)``, else
    one template for one user), flush, and wait until the server has them."""
    log = own_logger(name, handler)
    server.clear()
    gc.collect()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if record is None:
        for i in range(n):
            log.info("user %s did %s", "u_42", "login", extra={"uid": i, "source": "auth"})
    else:
        for i in range(n):
            record(log, i)
    flush()
    # After the flush, what the handler kept has been sent: wait only for the server
    # to record it (OpenTelemetry's batch processor drops what overflows its queue).
    got = wait(n, 10)
    return Run(time.perf_counter() - wall0, time.process_time() - cpu0, got)
