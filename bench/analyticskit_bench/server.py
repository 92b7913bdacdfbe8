"""The capture server (tests/capture_server.py), in a process of its own, so that its
CPU and GIL stay out of every figure."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys

from .common import TESTS


def _serve(conn: multiprocessing.connection.Connection) -> None:
    sys.path.insert(0, str(TESTS))
    from capture_server import CaptureServer

    with CaptureServer() as server:
        conn.send(server.url)
        while True:
            command, *args = conn.recv()
            if command == "stop":
                return
            if command == "clear":
                server.clear()
                conn.send(True)
            elif command == "wait":
                n, timeout = args
                conn.send(len(server.wait_for(n, timeout=timeout)))
            elif command == "wait_logs":
                n, timeout = args
                conn.send(len(server.wait_for_logs(n, timeout=timeout)))


class RemoteServer:
    """Start/query the capture server in a child process (spawned: no inherited threads)."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        self.url: str = self._conn.recv()

    def clear(self) -> None:
        self._conn.send(("clear",))
        self._conn.recv()

    def wait_for(self, n: int, timeout: float = 30.0) -> int:
        self._conn.send(("wait", n, timeout))
        count: int = self._conn.recv()
        return count

    def wait_for_logs(self, n: int, timeout: float = 30.0) -> int:
        self._conn.send(("wait_logs", n, timeout))
        count: int = self._conn.recv()
        return count

    def stop(self) -> None:
        self._conn.send(("stop",))
        self._proc.join(5)
