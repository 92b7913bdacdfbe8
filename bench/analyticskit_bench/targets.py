"""The bench's targets, read off one run's results."""

from __future__ import annotations

from dataclasses import dataclass

from .results import Results


@dataclass(frozen=True)
class Target:
    """One row of the targets table: what is asked, whether this run met it, and the
    figure it read."""

    name: str
    met: bool
    value: str


def _ratio(name: str, value: float, most: float) -> Target:
    """A ratio that must be at most ``most``."""
    return Target(name, value <= most, f"{value:.2f}x")


def _caller(r: Results) -> list[Target]:
    """Part 1's targets for the stdlib handler."""
    p = r.per_call
    ratio_floor, span_added = p.ratio("e"), p.ratio("l2") - p.ratio("l")
    ratio_naive = p.ratio("d") / ratio_floor
    return [
        _ratio("PostHogHandler.emit median <= 2.5x floor", ratio_floor, 2.5),
        _ratio("every default on: emit median <= 1.5x floor", ratio_floor, 1.5),
        Target(
            "PostHogHandler >= 5x cheaper than naive", ratio_naive >= 5.0, f"{ratio_naive:.2f}x"
        ),
        _ratio("a storm, default caps: <= 1.5x floor", p.ratio("s"), 1.5),
        _ratio("a storm until delivered: CPU <= 1.3x floor", r.storm.cpu_ratio, 1.3),
        Target(
            "a business burst: every event delivered",
            r.business.run.got == r.business.records,
            f"{r.business.run.got}/{r.business.records}",
        ),
        _ratio("Both lanes: emit median <= 2x floor", p.ratio("l"), 2.0),
        Target("A span current adds <= 0.1x floor", span_added <= 0.1, f"{span_added:+.2f}x"),
    ]


def _delivery(r: Results) -> list[Target]:
    """Parts 2 to 4: what delivering costs, and memory."""
    ours_log = r.logs.ours_cpu_us()
    recipe_log = r.logs.recipe_cpu_us()
    worst_growth = max(r.memory.growth_mb, r.memory.max_growth_mb)
    return [
        Target(
            "CPU per delivered log <= the recipe's",
            ours_log <= recipe_log,
            f"{ours_log:.1f} vs {recipe_log:.1f} us",
        ),
        _ratio("CPU per delivered event <= 1.3x capture()", r.end_to_end.cpu_ratio(), 1.3),
        Target(
            f"RSS growth < 50 MB over {r.memory.records} records",
            worst_growth < 50,
            f"{worst_growth:.1f} MB",
        ),
    ]


def _front_ends(r: Results) -> list[Target]:
    """structlog against a chain that renders, and the ns it adds against those
    PostHogHandler adds, in the same run (issue 17); loguru against its no-op sink."""
    p = r.per_call
    return [
        _ratio("structlog + ours <= 1.3x a rendering chain", p.ratio("g2"), 1.3),
        Target(
            "structlog: ns over floor <= PostHogHandler's",
            p.processor_added_ns <= p.handler_added_ns,
            f"{p.processor_added_ns:.0f} vs {p.handler_added_ns:.0f} ns",
        ),
        _ratio("loguru + loguru_sink <= 1.5x its floor", p.ratio("i"), 1.5),
    ]


def targets(r: Results) -> list[Target]:
    """Every target row, in the order the report prints them."""
    return _caller(r) + _delivery(r) + _front_ends(r)
