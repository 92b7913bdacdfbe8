"""The Celery integration (examples/celery_app.py: only ``install()`` and ``setup()``): a
prefork worker on kombu's filesystem transport (no broker server), whose pool children
are recycled every few tasks.

Tasks are sent by another process, each as its user: inside a posthog context identifying
it, or bound with ``analyticskit.user``.
The worker is stopped with SIGTERM (Celery's warm shutdown) once every task is done.
Every task's event must arrive exactly once, with its user, from the children that ran
it, recycled ones included; the failing task's error from Celery's own failure line.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from capture_server import CaptureServer
from recipes import (
    EXAMPLES,
    EventKey,
    counts,
    python,
    received,
    recipe_env,
    report,
    running,
)

pytest.importorskip("celery")

USERS = ("ann", "ben", "cho")
TASKS = 9
MAX_TASKS_PER_CHILD = 2

PRODUCER = f"""
import json, posthog, analyticskit
from celery_app import charge, refund

def send(task, arg, user):
    if arg % 2:
        with analyticskit.user(user):
            return task.apply_async((arg,))
    with posthog.new_context(fresh=True):
        posthog.identify_context(user)
        return task.apply_async((arg,))

users = {USERS!r}
charged = [send(charge, i, users[i % len(users)]) for i in range({TASKS})]
refused = send(refund, 99, "zoe")
done = [r.get(timeout=60) for r in charged]
refused.get(timeout=60, propagate=False)
print("RESULTS " + json.dumps({{"charged": done, "refund": refused.state}}), flush=True)
"""


def test_celery_prefork_worker_with_recycled_children(
    capture_server: CaptureServer, tmp_path: Path
) -> None:
    env = recipe_env(capture_server, CELERY_RECIPE_DIR=str(tmp_path / "celery"))
    args = python(
        "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork",
        "--concurrency", "2", f"--max-tasks-per-child={MAX_TASKS_PER_CHILD}",
        "--loglevel", "INFO", "--without-heartbeat", "--without-mingle", "--without-gossip",
        "--hostname", "recipe@127.0.0.1",
    )  # fmt: skip
    with running(args, cwd=EXAMPLES, env=env, log=tmp_path / "worker.log") as worker:
        producer = subprocess.run(
            python("-c", PRODUCER),
            cwd=EXAMPLES,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert producer.returncode == 0, producer.stderr + worker.tail()
        [line] = [x for x in producer.stdout.splitlines() if x.startswith("RESULTS ")]
        results = json.loads(line.removeprefix("RESULTS "))
        assert results == {"charged": list(range(TASKS)), "refund": "FAILURE"}
        status = worker.sigterm()
        assert status == 0, worker.tail()
        log = worker.output()
    # The handler survived Celery's takeover of the root logger (else nothing arrives),
    # and the worker printed its ready line (so logging was set up the Celery way).
    assert "ready." in log
    # setup() put the handler back right after the takeover: nothing reported it lost.
    assert "attached by install()" not in log

    expected: Counter[EventKey] = Counter()
    for i in range(TASKS):
        expected[("success_order_charged", USERS[i % len(USERS)], "shop")] += 1
    events = received(capture_server, TASKS + 1)
    errors = [e for e in events if e["event"].startswith("error_")]
    got = counts(e for e in events if e not in errors)
    report("celery prefork", TASKS + 1, events, worker)
    assert got == expected, log[-4000:]

    charged = [e for e in events if e["event"] == "success_order_charged"]
    assert sorted(e["properties"]["order"] for e in charged) == list(range(TASKS))
    # Children are recycled every MAX_TASKS_PER_CHILD tasks: the events came from at least
    # ceil(TASKS / MAX_TASKS_PER_CHILD) processes, most of which exited with os._exit().
    pids = {e["properties"]["pid"] for e in charged}
    assert len(pids) >= -(-TASKS // MAX_TASKS_PER_CHILD), pids
    assert worker.pid not in pids
    # billiard names level 25 SUBWARNING in the worker: the events keep SUCCESS.
    assert {e["properties"]["level"] for e in charged} == {"SUCCESS"}

    # The failing task: Celery's failure line, at ERROR, the sender's user, with the traceback.
    assert len(errors) == 1, [e["event"] for e in events]
    [error] = errors
    assert error["distinct_id"] == "zoe"
    assert error["properties"]["logger"] == "celery.app.trace"
    assert error["properties"]["source"] == "general"
    description = error["properties"]["longDescription"]
    assert "Traceback (most recent call last)" in description
    assert "ValueError: order 99 cannot be refunded: already shipped" in description
    # Celery's, kombu's and billiard's own lines ("Task ... received", "... succeeded in
    # ...", the worker's start-up) made no event, but the failure line.
    assert not [
        e
        for e in events
        if e["properties"]["logger"].split(".")[0] in {"celery", "kombu", "billiard"}
        and e is not error
    ]
