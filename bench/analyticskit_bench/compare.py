"""``--compare REF``: the caller's default-path cost of this tree against git ``REF``'s.

A single run cannot tell two versions 0.04x apart on a shared VM (a full run
moves by about ±0.07x), so each version is measured in fresh processes, in
pairs in random order, so that both meet the same moments of the machine. Each
process runs part 1's default-path pair alone: `PostHogHandler` with every
default on and a sink that keeps nothing (so neither the SDK nor a server
shares the caller's GIL) against a `NullHandler`, interleaved rounds, the
per-round ratio as part 1 takes it. The measuring code is this tree's in both;
only the ``analyticskit`` imported differs (``REF``'s ``src`` checked out in a
temporary git worktree, first on ``PYTHONPATH``), so ``REF`` must take
``PostHogHandler(sink=...)``.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .common import Sizes
from .variants import Variant, paired, time_round

if TYPE_CHECKING:  # imported inside the functions at run time (this tree's or REF's)
    import analyticskit
    from analyticskit._mapping.message import Message

_BENCH = Path(__file__).resolve().parent.parent
_REPO = _BENCH.parent
_CHILD = "analyticskit_bench.compare"


@dataclass(frozen=True)
class Comparison:
    """The per-round ratio of each process, for this tree and for ``ref``."""

    ref: str
    this: tuple[float, ...]
    other: tuple[float, ...]


class _KeepNothing:
    """A sink that accepts every message and keeps none: the caller's cost alone."""

    description = "nothing"

    def attach(self, report: analyticskit.LossReport) -> None:
        pass

    def warm_up(self) -> None:
        pass

    def send(self, message: Message) -> int:
        return 1

    def pending(self) -> int:
        return 0

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


def default_path_ratio(sizes: Sizes) -> float:
    """In this process: `PostHogHandler` (every default on, a sink that keeps nothing)
    against `NullHandler`, the median over rounds of their round medians' ratio."""
    import analyticskit

    handler = analyticskit.PostHogHandler(sink=_KeepNothing())
    ours = Variant("e", "PostHogHandler", handler, lambda: handler.flush(10))
    floor = Variant("a", "NullHandler", logging.NullHandler())
    for recorded in [False] + [True] * sizes.rounds:  # one warm-up round first
        for variant in random.sample([floor, ours], 2):
            time_round(variant, recorded, sizes)
            variant.after_round()
    handler.analytics.shutdown(1)
    return paired(ours, floor)


def _ratio_in_a_process(src: Path, quick: bool) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(_BENCH)])}
    args = [sys.executable, "-m", _CHILD, *(["--quick"] if quick else [])]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"--compare: the process measuring {src} failed:\n{done.stderr}")
    return float(done.stdout.split()[-1])


def compare(ref: str, pairs: int, quick: bool) -> Comparison:
    """``pairs`` processes for each version, each pair in random order."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "ref"
        git = ["git", "-C", str(_REPO)]
        added = subprocess.run(
            [*git, "worktree", "add", "--detach", str(tree), ref], capture_output=True, text=True
        )
        if added.returncode:
            raise SystemExit(f"--compare: git could not check {ref!r} out: {added.stderr.strip()}")
        try:
            sources = {"this": _REPO / "src", "other": tree / "src"}
            ratios: dict[str, list[float]] = {"this": [], "other": []}
            for _ in range(pairs):
                for which in random.sample(sorted(sources), 2):
                    ratios[which].append(_ratio_in_a_process(sources[which], quick))
        finally:
            subprocess.run(
                [*git, "worktree", "remove", "--force", str(tree)], capture_output=True, check=False
            )
    return Comparison(ref, tuple(ratios["this"]), tuple(ratios["other"]))


def print_comparison(result: Comparison) -> None:
    """One line per version: its processes' ratios, their median and range."""
    print("--compare: the default path, PostHogHandler / NullHandler per round, one process each")
    for label, ratios in (("this tree", result.this), (result.ref, result.other)):
        figures = " ".join(f"{ratio:.3f}x" for ratio in ratios)
        print(
            f"  {label:<20} median {statistics.median(ratios):.3f}x"
            f" [{min(ratios):.3f}-{max(ratios):.3f}]  ({figures})"
        )


if __name__ == "__main__":  # a process of `compare`: prints its ratio
    from .common import FULL, QUICK

    print(f"{default_path_ratio(QUICK if '--quick' in sys.argv else FULL):.4f}")
