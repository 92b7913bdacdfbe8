"""Helpers for the framework recipe tests: run an example under its real server in its own
process, on 127.0.0.1, send it real requests, stop it with SIGTERM, and count what the
test's capture server received.

Every wait is bounded; a server still running when a test ends is killed with its
process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

from capture_server import CaptureServer
from conftest import API_KEY

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

#: (event name, distinct id, source); personless events count under PERSONLESS.
EventKey = tuple[str, str, str]
PERSONLESS = "<personless>"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def recipe_env(server: CaptureServer, **extra: str) -> dict[str, str]:
    """The environment of a recipe process: PostHog pointed at the capture server, the
    examples importable, nothing inherited that would change where events go."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    env.update(POSTHOG_API_KEY=API_KEY, POSTHOG_HOST=server.url, PYTHONUNBUFFERED="1")
    path = [str(EXAMPLES), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.update(extra)
    return env


class Process:
    """A recipe process whose stdout and stderr go to a log file (never a full pipe)."""

    def __init__(self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path):
        self.args = list(args)
        self.log_path = log
        self._log = log.open("w")
        self.proc = subprocess.Popen(
            self.args,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed whole at cleanup
        )
        self.returncode: int | None = None
        self.stop_seconds: float | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def sigterm(self, timeout: float = 30) -> int:
        """Send SIGTERM to the main process, as a process manager does; wait for it to end
        (bounded); return its exit status. ``stop_seconds`` is how long it took."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout, start)

    def wait(self, timeout: float, start: float | None = None) -> int:
        start = time.monotonic() if start is None else start
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.args[:4]} still running {timeout}s later:\n{self.tail()}")
        self.stop_seconds = time.monotonic() - start
        return self.returncode

    def kill(self) -> None:
        """Kill the whole process group (cleanup only; never the way a test stops it)."""
        if self.proc.poll() is None or _group_alive(self.proc.pid):
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        self._log.close()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


@contextmanager
def running(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[Process]:
    """Start ``args``; on the way out kill whatever of its process group is left."""
    process = Process(args, cwd=cwd, env=env, log=log)
    try:
        yield process
    finally:
        process.kill()


def python(*args: str) -> list[str]:
    """A command line running this interpreter (the test venv's) with ``args``."""
    return [sys.executable, *args]


def gunicorn(*args: str) -> list[str]:
    """A gunicorn command line. Its control socket (gunicorn 24+, one fixed path under
    $HOME by default, shared by every gunicorn on the machine) is turned off."""
    from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]

    names = {setting.name for setting in KNOWN_SETTINGS}
    return python(
        "-m",
        "gunicorn",
        *args,
        *(["--no-control-socket"] if "control_socket_disable" in names else []),
    )


# -- HTTP --------------------------------------------------------------------------------


def http_get(url: str, *, user: str | None = None, headers: Mapping[str, str] | None = None) -> int:
    """GET ``url`` (as ``user``: ``Authorization: Bearer <user>``); return the status."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    if user is not None:
        request.add_header("Authorization", f"Bearer {user}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)


def wait_until_serving(process: Process, url: str, timeout: float = 30) -> None:
    """Poll ``url`` until the server answers (any status); fail if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.proc.poll() is not None:
            pytest.fail(
                f"{process.args[:4]} exited with {process.proc.returncode}:\n" + process.tail()
            )
        try:
            http_get(url)
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within {timeout}s:\n{process.tail()}")


def get_all(
    requests: Iterable[tuple[str, str | None, Mapping[str, str] | None]], concurrency: int
) -> list[int]:
    """Send ``(url, user, headers)`` GETs, ``concurrency`` at a time; the statuses in order."""
    items = list(requests)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(http_get, url, user=user, headers=hdrs) for url, user, hdrs in items]
        return [f.result(timeout=60) for f in futures]


# -- what the capture server received ------------------------------------------------------


def is_personless(event: Mapping[str, Any]) -> bool:
    if event["properties"].get("$process_person_profile") is not False:
        return False
    uuid.UUID(str(event["distinct_id"]))  # the SDK's anonymous form: a random uuid
    return True


def event_key(event: Mapping[str, Any]) -> EventKey:
    distinct_id = PERSONLESS if is_personless(event) else str(event["distinct_id"])
    return (str(event["event"]), distinct_id, str(event["properties"].get("source", "")))


def received(
    server: CaptureServer, expected: int, *, timeout: float = 10, settle: float = 0.3
) -> list[dict[str, Any]]:
    """The events the server holds once ``expected`` records arrived (or at the timeout),
    after a short settle time for anything arriving twice or late; each uuid checked to
    be unique. A summary of de-duplicated records counts for each (`records`)."""
    deadline = time.monotonic() + timeout
    while records(server.wait_for(0, timeout=0)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    events = server.wait_for(expected, timeout=0)
    uuids = Counter(str(e.get("uuid")) for e in events)
    doubled = {u: n for u, n in uuids.items() if n > 1}
    assert not doubled, f"events delivered more than once: {doubled}"
    return events


def weight(event: Mapping[str, Any]) -> int:
    """How many records an event stands for: a summary of identical records held back by
    the handler's de-duplication stands for ``repeatCount`` of them."""
    return int(event.get("properties", {}).get("repeatCount", 1))


def records(events: Iterable[Mapping[str, Any]]) -> int:
    """How many records ``events`` stand for."""
    return sum(weight(e) for e in events)


def counts(events: Iterable[Mapping[str, Any]]) -> Counter[EventKey]:
    """How many records arrived per (name, distinct id, source)."""
    counted: Counter[EventKey] = Counter()
    for event in events:
        counted[event_key(event)] += weight(event)
    return counted


def report(name: str, expected: int, events: Iterable[Mapping[str, Any]], process: Process) -> None:
    """One line in the test output (``-s``): records logged and received (in how many
    events: identical records within the de-duplication window arrive as one summary),
    the exit status and the stop time."""
    stop = f"{process.stop_seconds:.2f}s" if process.stop_seconds is not None else "?"
    events = list(events)
    print(
        f"\n[recipe {name}] logged {expected} records, received {records(events)}"
        f" (in {len(events)} events); exit status {process.returncode}, {stop} after the stop"
    )
