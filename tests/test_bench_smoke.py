"""The bench runs and prints its tables: ``bench/bench_handler.py --quick`` (a few hundred
iterations, loopback only) in a fresh interpreter. No timing figure is asserted; the
event counts are, since every event of the end-to-end part must be delivered."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_handler.py"

VARIANTS = [
    "(a) NullHandler (floor)",
    "(b) StreamHandler(os.devnull)",
    "(c) QueueHandler(SimpleQueue), no listener",
    "(k) the least deferral: dict copy + message",
    "(d) naive: client.capture() in emit()",
    "(e) analyticskit.PostHogHandler",
    "(t) NullHandler, the storm's records (floor)",
    "(s) PostHogHandler, a storm of one record",
    "(l) PostHogHandler, events + logs lanes",
    "(l2) events + logs lanes, a span current",
    "(o) OpenTelemetry LoggingHandler recipe",
    "(f) structlog, no-op final processor (floor)",
    "(g) structlog + analyticskit PostHogProcessor",
    "(f2) structlog, timestamp + JSON (floor)",
    "(g2) structlog, timestamp + JSON + ours",
    "(h) loguru, no-op sink (floor)",
    "(i) loguru + analyticskit.loguru_sink",
]
FRONT_END_RATIOS = [
    "structlog: PostHogProcessor / no-op final processor",
    "structlog, timestamp + JSON chain: with ours / without",
    "loguru: loguru_sink / no-op sink",
]
# The structlog targets of issue 17 read the ns each handler adds over its floor.
ADDED_NS = r"PostHogProcessor over \(f\) -?\d+, PostHogHandler over \(a\) -?\d+$"
STRUCTLOG_TARGETS = [
    "structlog + ours <= 1.3x a rendering chain",
    "structlog: ns over floor <= PostHogHandler's",
]
E2E_PATHS = ["client.capture() directly", "logger.info() -> PostHogHandler"]
LOGS_PATHS = ["PostHogHandler logs lane", "OpenTelemetry LoggingHandler recipe"]
PROFILE_STEPS = [
    "logger.info, NullHandler (the floor)",
    "of which makeRecord (LogRecord.__init__)",
    "Handler.handle: filter + lock",
    "emit: route (cached per logger name)",
    "emit: _guard.enter() + leave()",
    "emit: snapshot(record) total",
    "record.getMessage()",
    "record.__dict__.copy()",
    "context.snapshot()",
    "context.current_user()",
    "RecordSnapshot construction (tuple.__new__)",
    "Delivery.refusal() (room check)",
    "threading.Event.set() (a wake-up)",
]
NUMBER = r"[\d.]+"


def run_bench(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def row(stdout: str, label: str) -> str:
    """What follows ``label`` on the one line of ``stdout`` that starts with it (after
    indentation)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip().startswith(label)]
    assert len(lines) == 1, (label, stdout)
    return lines[0][len(label) :]


def search(pattern: str, stdout: str) -> re.Match[str]:
    match = re.search(pattern, stdout, re.M)
    assert match is not None, (pattern, stdout)
    return match


def assert_tables(stdout: str) -> None:
    # 1. Per-call cost: the header, then one row of six figures per variant.
    search(
        r"^variant\s+median ns\s+p99 ns\s+mean ns\s+median/floor\s+per round\s+p99/floor$",
        stdout,
    )
    for label in VARIANTS:
        figures = row(stdout, label).split()
        assert len(figures) == 6, (label, figures)
        assert all(re.fullmatch(NUMBER + "x?", figure) for figure in figures), figures
    search(r"^PostHogHandler counters after part 1: emitted=\d+ sent=\d+", stdout)
    for label in FRONT_END_RATIOS:
        assert re.fullmatch(r"\s*" + NUMBER + "x", row(stdout, label)), (label, stdout)
    assert re.search(ADDED_NS, row(stdout, "ns added over the floor, per round:")), stdout

    # The parts print in order, 1 to 7, before the targets.
    parts = [int(n) for n in re.findall(r"^(\d)\. ", stdout, re.M)]
    assert parts == list(range(1, 8)), parts
    assert stdout.index("\n7. ") < stdout.index("\nTargets\n"), stdout

    # 2. End to end: every event reaches the capture server, on both paths.
    expected = search(r"End to end: (\d+) events", stdout).group(1)
    search(r"^path\s+events/s\s+CPU us/event\s+delivered$", stdout)
    for label in E2E_PATHS:
        assert row(stdout, label).split()[-1] == expected, row(stdout, label)

    # 3. Memory.
    search(r"^3\. Memory: \d+ records with PostHog down", stdout)

    # 4. Logs end to end: every log reaches /i/v1/logs, on both paths.
    search(r"^path\s+logs/s\s+CPU us/log\s+delivered$", stdout)
    for label in LOGS_PATHS:
        assert row(stdout, label).split()[-1] == expected, row(stdout, label)

    # 5. A storm, caller and worker together.
    search(r"^5\. A storm of \d+ identical records, until delivered", stdout)

    # 6. A business burst: every event delivered under the default caps.
    burst = search(r"^6\. A business burst of (\d+) .*: (\d+) of (\d+) arrived", stdout)
    assert burst.group(2) == burst.group(3) == burst.group(1), burst.group(0)

    # 7. The worker's own time per event, an ordinary record and a cyclic extra.
    search(r"^7\. The worker's own time per event", stdout)
    for label in ("an ordinary record", "a record with a cyclic extra"):
        assert re.search(r"\s" + NUMBER + " us$", row(stdout, label)), row(stdout, label)

    # The targets (PASS or MISS: a quick run's figures mean nothing).
    assert len(re.findall(r"^  (PASS|MISS)  ", stdout, re.M)) == 14, stdout
    for target in STRUCTLOG_TARGETS:
        search(r"^  (PASS|MISS)  " + re.escape(target), stdout)
    search(r"^\(bench took \d+s\)$", stdout)


def test_bench_quick_prints_its_tables(tmp_path: Path) -> None:
    stdout = run_bench(tmp_path)
    assert_tables(stdout)
    assert "--profile:" not in stdout


def test_bench_quick_profile_times_each_step(tmp_path: Path) -> None:
    stdout = run_bench(tmp_path, "--profile")
    assert_tables(stdout)
    assert "\n--profile: the caller's path" in stdout
    for label in PROFILE_STEPS:
        # Each step ran (a figure, not an error) against the current internals.
        assert re.fullmatch(r"\s*" + NUMBER, row(stdout, label)), (label, stdout)


def test_bench_compare_measures_this_tree_against_a_git_ref(tmp_path: Path) -> None:
    repo = BENCH.parent.parent
    inside = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.stdout.strip() != "true":
        pytest.skip("not a git checkout: --compare checks a ref out with git worktree")
    before = worktrees(repo)
    stdout = run_bench(tmp_path, "--compare", "HEAD", "--pairs", "1")
    for label in ("this tree", "HEAD"):
        # One process each: its ratio, the median and the range of the one figure.
        assert re.search(
            rf"^  {label}\s+median {NUMBER}x \[{NUMBER}-{NUMBER}\]  \({NUMBER}x\)$",
            stdout,
            re.M,
        ), stdout
    assert "\n1. Per-call cost" not in stdout  # only the comparison runs
    assert worktrees(repo) == before  # the ref's worktree is removed


def worktrees(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_bench_rejects_unknown_options(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--bogus"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr
