"""Processes forked after configuration keep delivering, and nothing is sent twice.

Each scenario runs in a fresh interpreter (forking the pytest process, with its
threads, would be fragile): the parent configures analyticskit and captures,
forks, the child captures its own events and flushes, and the test counts what
the capture server received, by uuid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from capture_server import CaptureServer
from conftest import API_KEY
from helpers import RunPython, run_children

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


_PARENT_BEFORE = 5  # captured and flushed before the fork
_PARENT_PENDING = 4  # captured just before the fork, not flushed
_CHILD = 7
_PARENT_AFTER = 3

_FORK_SCRIPT = """
import json, os, sys
import analyticskit

analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=5)

def capture(name, n):
    return [analyticskit.capture_event({{"eventType": "info", "id": name}}) for _ in range(n)]

def stats():
    s = analyticskit.stats()
    return {{"emitted": s.emitted, "sent": s.sent, "failed": s.failed, "pending": s.pending,
             "dropped": sum(s.dropped.values())}}

uuids = {{"parent_before": capture("parent_before", {before})}}
assert analyticskit.flush(5)
uuids["parent_pending"] = capture("parent_pending", {pending})

pid = os.fork()
if pid == 0:
    code = 1
    try:
        child = capture("child_event", {child})
        flushed = analyticskit.flush(5)
        print("CHILD " + json.dumps({{"uuids": child, "flushed": flushed, "stats": stats()}}),
              flush=True)
        code = 0
    finally:
        os._exit(code)

_, status = os.waitpid(pid, 0)
uuids["parent_after"] = capture("parent_after", {after})
flushed = analyticskit.flush(5)
print("PARENT " + json.dumps({{"uuids": uuids, "flushed": flushed, "child_status": status,
                              "stats": stats()}}), flush=True)
"""

_MP_SCRIPT = """
import json, multiprocessing, sys
import analyticskit

analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=5)
analyticskit.capture_event({{"eventType": "info", "id": "parent_before"}})
assert analyticskit.flush(5)

def work(i):
    # A worker that captures and returns: no flush, no shutdown of its own.
    analyticskit.capture_event({{"eventType": "info", "id": "mp_child"}}, properties={{"i": i}})

ctx = multiprocessing.get_context("fork")
"""


def _line(stdout: str, tag: str) -> Any:
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1 :])
    raise AssertionError(f"no {tag} line in {stdout!r}")


def test_fork_child_delivers_its_own_events_once_and_never_the_parents(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    code = _FORK_SCRIPT.format(
        key=API_KEY,
        host=capture_server.url,
        before=_PARENT_BEFORE,
        pending=_PARENT_PENDING,
        child=_CHILD,
        after=_PARENT_AFTER,
    )
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert API_KEY not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    parent, child = _line(proc.stdout, "PARENT"), _line(proc.stdout, "CHILD")
    print(f"\n[fork] parent={parent['stats']} child={child['stats']}")
    assert parent["child_status"] == 0
    assert child["flushed"] and parent["flushed"]

    total = _PARENT_BEFORE + _PARENT_PENDING + _CHILD + _PARENT_AFTER
    events = capture_server.wait_for(total, timeout=10)
    received = Counter(e["uuid"] for e in events)

    # Every event arrived exactly once.
    assert max(received.values()) == 1, [u for u, n in received.items() if n > 1]
    assert set(child["uuids"]) <= set(received)
    for name, uuids in parent["uuids"].items():
        assert set(uuids) <= set(received), name
    assert len(events) == total
    by_name = Counter(e["event"] for e in events)
    assert by_name == {
        "info_parent_before": _PARENT_BEFORE,
        "info_parent_pending": _PARENT_PENDING,
        "info_child_event": _CHILD,
        "info_parent_after": _PARENT_AFTER,
    }

    # The child starts with empty counters: it counts its own events only.
    assert child["stats"] == {
        "emitted": _CHILD,
        "sent": _CHILD,
        "failed": 0,
        "pending": 0,
        "dropped": 0,
    }
    parent_total = _PARENT_BEFORE + _PARENT_PENDING + _PARENT_AFTER
    assert parent["stats"] == {
        "emitted": parent_total,
        "sent": parent_total,
        "failed": 0,
        "pending": 0,
        "dropped": 0,
    }


def test_multiprocessing_fork_worker_events_are_delivered_at_worker_exit(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    # multiprocessing's fork children end with os._exit(): atexit hooks do not
    # run there, so events a worker captured just before returning need a hook
    # of their own (multiprocessing's finalizers) to be flushed.
    n = 3
    code = _MP_SCRIPT.format(key=API_KEY, host=capture_server.url) + run_children("ctx.Process", n)
    proc = run_python(code, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert _line(proc.stdout, "EXITCODES") == [0] * n
    events = capture_server.wait_for(1 + n, timeout=10)
    by_name = Counter(e["event"] for e in events)
    print(f"\n[fork] multiprocessing: server received {dict(by_name)}")
    assert by_name == {"info_parent_before": 1, "info_mp_child": n}


_FORK_STRESS_SCRIPT = """
import json, os, threading, time
import analyticskit

analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=5)

# The first fork comes right after the first capture: the worker is then inside
# the SDK, building its first event (the SDK's one-time OS detection holds a lock).
analyticskit.capture_event({{"eventType": "info", "id": "parent_first"}})

stop = threading.Event()
def busy():
    # Keeps the worker busy while the main thread forks.
    for _ in range({background}):
        if stop.is_set():
            break
        analyticskit.capture_event({{"eventType": "info", "id": "parent_background"}})
        time.sleep(0.0005)
background = threading.Thread(target=busy)

holds, failures, statuses = [], 0, []
for i in range({forks}):
    if i == 1:
        background.start()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            for _ in range({per_child}):
                analyticskit.capture_event({{"eventType": "info", "id": "child_event"}},
                                           properties={{"child": i}})
            ok = analyticskit.flush(5)
        finally:
            os._exit(0 if ok else 3)
    holds.append(time.monotonic() - started)
    statuses.append(os.waitpid(pid, 0)[1])
stop.set()
background.join()
flushed = analyticskit.flush(10)
stats = analyticskit.stats()
print("PARENT " + json.dumps({{"statuses": statuses, "flushed": flushed,
                              "emitted": stats.emitted, "sent": stats.sent,
                              "max_fork_ms": max(holds) * 1000}}), flush=True)
"""


def test_fork_stress_every_childs_events_arrive_once_while_the_worker_is_busy(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    forks, per_child = 20, 3
    code = _FORK_STRESS_SCRIPT.format(
        key=API_KEY, host=capture_server.url, forks=forks, per_child=per_child, background=2_000
    )
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    parent = _line(proc.stdout, "PARENT")
    print(f"\n[fork] stress: longest fork() call {parent['max_fork_ms']:.1f} ms")
    # Every child flushed within its 5 s: none was left with a lock held at the fork.
    assert parent["statuses"] == [0] * forks
    assert parent["flushed"]
    assert parent["sent"] == parent["emitted"]

    total = forks * per_child + parent["emitted"]
    events = capture_server.wait_for(total, timeout=20)
    assert len(events) == total
    received = Counter(e["uuid"] for e in events)
    assert max(received.values()) == 1
    children = Counter(e["properties"]["child"] for e in events if e["event"] == "info_child_event")
    assert children == {i: per_child for i in range(forks)}


_MP_INSTALL_SCRIPT = """
import json, logging, multiprocessing
import analyticskit

# The key comes from the environment and the parent never logs: the default
# instance is first created in each child.
analyticskit.install(logging.INFO)

def work(i):
    log = logging.getLogger("mp.worker")
    for n in range({per_child}):
        log.info("child %s record %s", i, n, extra={{"child": i}})

ctx = multiprocessing.get_context("fork")
"""


def test_multiprocessing_children_deliver_when_the_parent_never_logged(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    n, per_child = 4, 10
    code = _MP_INSTALL_SCRIPT.format(per_child=per_child) + run_children("ctx.Process", n)
    env = {"POSTHOG_API_KEY": API_KEY, "POSTHOG_HOST": capture_server.url}
    proc = run_python(code, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _line(proc.stdout, "EXITCODES") == [0] * n
    events = capture_server.wait_for(n * per_child, timeout=10)
    assert len(events) == n * per_child
    assert Counter(e["properties"]["child"] for e in events) == {i: per_child for i in range(n)}


_FORK_COUNTS_SCRIPT = """
import json, os
import analyticskit

analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=5)
for _ in range({rejected}):
    analyticskit.capture_event({{"eventType": "info", "id": "parent_rejected"}})
analyticskit.flush(5)
parent = analyticskit.stats()
print("PARENT " + json.dumps({{"rejected": parent.dropped["rejected"]}}), flush=True)
input()  # the test stops refusing batches, then lets us fork

pid = os.fork()
if pid == 0:
    for _ in range({child}):
        analyticskit.capture_event({{"eventType": "info", "id": "child_event"}})
    flushed = analyticskit.flush(5)
    s = analyticskit.stats()
    print("CHILD " + json.dumps({{"flushed": flushed, "emitted": s.emitted, "sent": s.sent,
                                 "failed": s.failed, "dropped": s.dropped_total}}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_child_starts_with_its_own_counts_not_the_parents_failures(
    capture_server: CaptureServer,
) -> None:
    rejected, child = 10, 20
    capture_server.respond_with(401)
    code = _FORK_COUNTS_SCRIPT.format(
        key=API_KEY, host=capture_server.url, rejected=rejected, child=child
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    with subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        assert _line(proc.stdout.readline(), "PARENT") == {"rejected": rejected}
        capture_server.reset_faults()
        out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    assert _line(out, "CHILD") == {
        "flushed": True,
        "emitted": child,
        "sent": child,
        "failed": 0,
        "dropped": 0,
    }
    assert len(capture_server.wait_for(child)) == child
