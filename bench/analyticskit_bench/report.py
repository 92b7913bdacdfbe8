"""Prints every part's result in order (1, 2, 3, ...), the targets, then ``--profile``."""

from __future__ import annotations

import statistics

from .common import Run, nonzero
from .profile import Profile
from .results import Results
from .targets import targets


def _table(header: str) -> None:
    print(header)
    print("-" * len(header))


def _spread(values: list[float], figure: str, bounds: str) -> str:
    """``values``' median, then ``[min-max]``."""
    return f"{statistics.median(values):{figure}} [{min(values):{bounds}}-{max(values):{bounds}}]"


def _runs_row(label: str, width: int, runs: tuple[Run, ...]) -> None:
    rates = [run.rate for run in runs]
    cpus = [run.cpu_us for run in runs]
    delivered = min(run.got for run in runs)
    print(
        f"{label:{width}} {_spread(rates, '6.0f', '4.0f')}"
        f" {_spread(cpus, '7.1f', '5.1f')} {delivered:>10}"
    )


def _per_call(r: Results) -> None:
    p, s = r.per_call, r.sizes
    print(
        f"\n1. Per-call cost on the caller's thread: {s.rounds} interleaved rounds x"
        f" {s.batches} batches x {s.batch} calls per variant"
        f" (timer overhead {p.timer_overhead:.0f} ns per batch)"
    )
    header = f"{'variant':44} {'median ns':>10} {'p99 ns':>10} {'mean ns':>10}"
    _table(header + f" {'median/floor':>13} {'per round':>10} {'p99/floor':>10}")
    floor = p.rows[0]
    for v in p.rows:
        print(
            f"{v.label:44} {v.median:10.0f} {v.p99:10.0f} {v.mean:10.0f}"
            f" {v.median / floor.median:12.2f}x {v.per_round:9.2f}x {v.p99 / floor.p99:9.2f}x"
        )
    print(
        "per round: the median over rounds of the variant's median / its floor's in the"
        " same round; (s) against (t), structlog against (f) or (f2), loguru against (h),"
        " the others against (a)"
    )
    st, capped = p.stats, p.capped_stats
    print(
        f"PostHogHandler counters after part 1: emitted={st.emitted} sent={st.sent}"
        f" pending={st.pending} dropped={st.dropped_total} ({nonzero(st.dropped)})"
    )
    print(
        f"With the default caps: {capped.emitted} records, {capped.sent} sent;"
        f" held back {nonzero(capped.dropped)}"
    )
    print("Front-ends, ours against the front-end's own floor (per round, as above):")
    print(f"  structlog: PostHogProcessor / no-op final processor  {p.ratio('g'):.2f}x")
    print(f"  structlog, timestamp + JSON chain: with ours / without {p.ratio('g2'):.2f}x")
    print(f"  loguru: loguru_sink / no-op sink                     {p.ratio('i'):.2f}x")
    print(
        f"  ns added over the floor, per round: PostHogProcessor over (f)"
        f" {p.processor_added_ns:.0f}, PostHogHandler over (a) {p.handler_added_ns:.0f}"
    )


def _end_to_end(r: Results) -> None:
    e = r.end_to_end
    print(
        f"\n2. End to end: {r.sizes.e2e_n} events to the capture server (127.0.0.1),"
        f" {r.sizes.e2e_runs} interleaved runs each; medians, [min-max] across runs"
    )
    _table(f"{'path':36} {'events/s':>18} {'CPU us/event':>20} {'delivered':>10}")
    _runs_row("client.capture() directly", 36, e.direct)
    _runs_row("logger.info() -> PostHogHandler", 36, e.handler)
    ratios = e.pair_ratios()
    print(
        f"CPU ratio handler/direct, per pair: median {statistics.median(ratios):.2f}x"
        f" [{min(ratios):.2f}-{max(ratios):.2f}]"
    )
    hs = e.handler_stats
    print(f"PostHogHandler counters (last run): sent={hs.sent} dropped={hs.dropped_total}")


def _memory(r: Results) -> None:
    m = r.memory
    print(
        f"\n3. Memory: {m.records} records with PostHog down (closed port), fresh interpreter:"
        f" VmRSS {m.before_kb / 1024:.1f} -> {m.after_kb / 1024:.1f} MB"
        f" (+{m.growth_mb:.1f} MB); ru_maxrss {m.maxrss_before_kb / 1024:.1f}"
        f" -> {m.maxrss_after_kb / 1024:.1f} MB (+{m.max_growth_mb:.1f} MB);"
        f" burst {m.seconds:.2f}s, {m.seconds / m.records * 1e9:.0f} ns/record;"
        f" queued={m.queued} pending={m.pending}"
        f" dropped={nonzero(m.dropped)}"
    )


def _logs(r: Results) -> None:
    lg = r.logs
    print(
        f"\n4. Logs end to end: {r.sizes.e2e_n} records to /i/v1/logs (127.0.0.1),"
        f" {r.sizes.e2e_runs} interleaved runs each; medians, [min-max] across runs"
    )
    _table(f"{'path':44} {'logs/s':>18} {'CPU us/log':>20} {'delivered':>10}")
    _runs_row("PostHogHandler logs lane", 44, lg.ours)
    _runs_row("OpenTelemetry LoggingHandler recipe", 44, lg.recipe)


def _storm(r: Results) -> None:
    st = r.storm
    null, ours = st.null, st.ours
    print(
        f"\n5. A storm of {st.records} identical records, until delivered (caller and worker):"
        f" NullHandler {null.wall * 1e9:.0f} ns wall, {null.cpu * 1e9:.0f} ns CPU per record;"
        f" PostHogHandler {ours.wall * 1e9:.0f} ns wall ({ours.wall / null.wall:.2f}x),"
        f" {ours.cpu * 1e9:.0f} ns CPU ({st.cpu_ratio:.2f}x); sent={st.stats.sent}"
        f" held back {nonzero(st.stats.dropped)}"
    )


def _business(r: Results) -> None:
    b = r.business
    print(
        f"\n6. A business burst of {b.records} distinct records of as many users,"
        f" defaults on, until delivered: {b.run.got} of {b.records} arrived in"
        f" {b.run.wall:.2f}s; {b.run.cpu_us:.1f} µs CPU per"
        f" event; held back {nonzero(b.stats.dropped)}"
    )


def _worker(r: Results) -> None:
    print(
        "\n7. The worker's own time per event (build + the walk, without the SDK), best of repeats:"
    )
    for label, us in r.worker.rows:
        print(f"  {label:62} {us:8.1f} us")


def _targets(r: Results) -> None:
    print("\nTargets")
    for target in targets(r):
        print(f"  {'PASS' if target.met else 'MISS'}  {target.name:46} {target.value}")


def _profile(pr: Profile) -> None:
    print(
        "\n--profile: the caller's path, each step alone (ns per call, best of"
        f" {pr.repeat}, less {pr.overhead:.0f} ns of timeit's call overhead)"
    )
    for label, ns in pr.steps:
        print(f"  {label:52} {ns:8.0f}")


def report(r: Results) -> None:
    """Every part in order, the targets, then ``--profile``'s steps if it ran."""
    for part in (_per_call, _end_to_end, _memory, _logs, _storm, _business, _worker, _targets):
        part(r)
    if r.profile is not None:
        _profile(r.profile)
