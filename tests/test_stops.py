"""Stops that skip the usual exit path: SIGTERM, first use inside an atexit hook,
pool children that end with os._exit(). Each runs a fresh interpreter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

import pytest

from capture_server import CaptureServer
from conftest import API_KEY
from helpers import RunPython, run_children

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

_SIGTERM_SCRIPT = """
import signal, sys, time
import analyticskit

analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=5)
if {previous!r} == "python":
    def graceful(signum, frame):
        print("GRACEFUL", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, graceful)
if {opt_in!r}:
    analyticskit.shutdown_on_sigterm()
for i in range({n}):
    analyticskit.capture_event({{"eventType": "info", "id": "before_sigterm"}},
                               properties={{"i": i}})
print("READY", flush=True)
time.sleep(60)
"""


def _run_until_sigterm(code: str) -> tuple[subprocess.Popen[str], str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc, out + err, time.monotonic() - started


@pytest.mark.parametrize("opt_in", [True, False])
def test_sigterm_with_the_default_action_delivers_only_when_opted_in(
    capture_server: CaptureServer, opt_in: bool
) -> None:
    n = 20
    code = _SIGTERM_SCRIPT.format(
        key=API_KEY, host=capture_server.url, previous="default", opt_in=opt_in, n=n
    )
    proc, output, seconds = _run_until_sigterm(code)
    # Killed by SIGTERM either way: the exit status a supervisor expects.
    assert proc.returncode == -signal.SIGTERM, output
    print(f"\n[stops] SIGTERM, opt_in={opt_in}: stopped in {seconds:.2f} s")
    if opt_in:
        events = capture_server.wait_for(n, timeout=10)
        assert Counter(e["properties"]["i"] for e in events) == {i: 1 for i in range(n)}
    else:
        time.sleep(0.5)
        assert capture_server.received == 0  # what the opt-in is for


def test_sigterm_chains_to_the_handler_installed_before(capture_server: CaptureServer) -> None:
    n = 10
    code = _SIGTERM_SCRIPT.format(
        key=API_KEY, host=capture_server.url, previous="python", opt_in=True, n=n
    )
    proc, output, _ = _run_until_sigterm(code)
    assert "GRACEFUL" in output
    assert proc.returncode == 0, output  # the server's own graceful exit, then atexit
    assert len(capture_server.wait_for(n, timeout=10)) == n


_ATEXIT_FIRST_USE = """
import atexit
import analyticskit

def at_exit():
    # The first use of the library happens during interpreter exit.
    analyticskit.configure(api_key={key!r}, host={host!r}, shutdown_timeout=3)
    for i in range({n}):
        analyticskit.capture_event({{"eventType": "info", "id": "at_exit"}})

atexit.register(at_exit)
"""


def test_events_first_captured_inside_an_atexit_hook_are_delivered(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    n = 5
    proc = run_python(_ATEXIT_FIRST_USE.format(key=API_KEY, host=capture_server.url, n=n))
    assert proc.returncode == 0, proc.stderr
    if sys.version_info[:2] == (3, 12):
        # Python 3.12 starts no thread during exit: the posthog client itself cannot
        # be built there, and says so; nothing else can be done.
        assert "can't create new thread" in proc.stderr, proc.stderr
    else:
        assert "Traceback" not in proc.stderr, proc.stderr
        assert len(capture_server.wait_for(n, timeout=10)) == n


_BILLIARD_SCRIPT = """
import billiard
import analyticskit

def work(i):
    # Created in the child (the key comes from the environment); no flush, no shutdown.
    analyticskit.capture_event({"eventType": "info", "id": "billiard_child"},
                               properties={"i": i})
"""


def test_billiard_children_deliver_at_their_exit(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    pytest.importorskip("billiard")
    n = 3
    env = {"POSTHOG_API_KEY": API_KEY, "POSTHOG_HOST": capture_server.url}
    code = _BILLIARD_SCRIPT + run_children("billiard.Process", n)
    proc = run_python(code, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "EXITCODES [0, 0, 0]" in proc.stdout
    events = capture_server.wait_for(n, timeout=10)
    assert Counter(e["properties"]["i"] for e in events) == {i: 1 for i in range(n)}
