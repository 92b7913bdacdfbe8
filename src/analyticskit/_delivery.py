"""The delivery engine: a bounded buffer, one worker thread, counters, exit and fork.

The caller's thread only appends a snapshot to the buffer. The worker turns it
into a `Message` and hands it to the sink (the posthog SDK's own queue). One
limit, ``max_queued``, covers what waits here and in the SDK together.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from . import _diagnostics, _guard
from ._message import Message
from .sinks import Sink
from .stats import DROP_REASONS, DropReason, Stats

Build = Callable[[Any], Message]
# Reasons counted before anything is queued: they add to ``emitted`` only.
_BEFORE_QUEUE: frozenset[DropReason] = frozenset(
    {"buffer_full", "after_shutdown", "recursion", "filtered"}
)
_IDLE_WAIT = 1.0  # seconds; a safety net, the worker is woken on demand


class Delivery:
    """Moves snapshots from callers' threads to a sink, within a memory bound."""

    def __init__(self, sink: Sink, max_queued: int) -> None:
        self.sink = sink
        self.max_queued = max_queued
        self._reset_state()
        self._register_fork_handler()

    def _reset_state(self) -> None:
        self._buffer: deque[tuple[Build, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._drained = threading.Condition(threading.Lock())
        self._worker: threading.Thread | None = None
        self._started = False
        self._idle = True
        self._open = True
        self._stopping = False
        self._sink_backlog = 0
        self._taken = 0
        self._handed = 0
        self._dropped: dict[DropReason, int] = dict.fromkeys(DROP_REASONS, 0)
        self._dropped_before_queue = 0
        self._final: Stats | None = None

    def _register_fork_handler(self) -> None:
        ref = weakref.ref(self)

        def after_in_child() -> None:
            delivery = ref()
            if delivery is not None:
                delivery._after_fork()

        os.register_at_fork(after_in_child=after_in_child)

    def _after_fork(self) -> None:
        # The parent's buffer stays the parent's: the child starts empty, with
        # fresh locks and a worker started on its first event (threads do not
        # survive fork). The posthog SDK rebuilds its own queue and consumers.
        was_open = self._open
        self._reset_state()
        self._open = was_open

    # -- the caller's side: cheap, never blocks, never raises ----------------

    def submit(self, build: Build, payload: Any) -> bool:
        """Queue ``build(payload)`` for the worker; False (and counted) if dropped."""
        if not self._open:
            self.drop("after_shutdown")
            return False
        if len(self._buffer) + self._sink_backlog >= self.max_queued:
            self.drop("buffer_full")
            return False
        self._buffer.append((build, payload))
        if not self._started:
            self._start()
        elif self._idle:
            self._wake.set()
        return True

    def drop(self, reason: DropReason, count: int = 1) -> None:
        """Count ``count`` events dropped for ``reason``."""
        with self._lock:
            self._dropped[reason] += count
            if reason in _BEFORE_QUEUE:
                self._dropped_before_queue += count

    def wake(self) -> None:
        """Ask the worker to hand over what is buffered now; never waits."""
        if self._started:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._worker = threading.Thread(
                target=self._run, name="analyticskit-delivery", daemon=True
            )
            self._worker.start()
            self._started = True

    # -- the worker's side -----------------------------------------------------

    def _run(self) -> None:
        _guard.mark_library_thread()
        while not self._stopping:
            self._drain()
            with self._drained:
                self._idle = True
                self._drained.notify_all()
            if not self._buffer:
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()
            self._idle = False

    def _drain(self) -> None:
        while True:
            try:
                build, payload = self._buffer.popleft()
            except IndexError:
                return
            self._taken += 1
            try:
                message = build(payload)
                sent = self.sink.send(message)
            except Exception as error:
                self.drop("invalid")
                _diagnostics.report_once(
                    "build-failed",
                    f"an event could not be built or handed over and was dropped: {error!r}",
                )
                continue
            if sent:
                # An error record with capture_exceptions makes two PostHog events.
                self._taken += sent - 1
                self._handed += sent
            else:
                self.drop("after_shutdown" if not self._open else "buffer_full")
            self._sink_backlog = self.sink.pending()

    def _wait_drained(self, deadline: float) -> bool:
        """Wait until the worker has handed everything to the sink, or the deadline."""
        if not self._buffer and self._idle:
            return True
        self._wake.set()
        with self._drained:
            return self._drained.wait_for(
                lambda: not self._buffer and self._idle, max(0.0, deadline - time.monotonic())
            )

    # -- flush, shutdown, stats --------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Deliver what is queued; True if nothing is pending when it returns."""
        deadline = time.monotonic() + timeout
        self._wait_drained(deadline)
        self.sink.flush(max(0.0, deadline - time.monotonic()))
        return not self._buffer and self.sink.pending() == 0

    def shutdown(self, timeout: float) -> Stats:
        """Refuse new events, deliver what is queued within ``timeout``, count the rest."""
        with self._lock:
            if not self._open:
                return self.stats()
            self._open = False
        deadline = time.monotonic() + timeout
        self._wait_drained(deadline)
        self.sink.flush(max(0.0, deadline - time.monotonic()))
        self._stopping = True
        self._wake.set()
        left_here = len(self._buffer)
        self._buffer.clear()
        left_in_sink = self.sink.pending()
        lost = left_here + left_in_sink
        if lost:
            self.drop("timeout", lost)
            _diagnostics.report(
                f"{lost} events not delivered to {self.sink.description}"
                f" within the {timeout:g}s shutdown deadline; counted as dropped (timeout)."
            )
        self.sink.close(max(0.0, deadline - time.monotonic()))
        final = self._snapshot(sink_pending=0, sent_adjust=left_in_sink)
        self._final = final
        return final

    def stats(self) -> Stats:
        """The counters now (frozen at shutdown, but for later ``after_shutdown`` drops)."""
        final = self._final
        if final is not None:
            with self._lock:
                dropped = dict(final.dropped)
                late = self._dropped["after_shutdown"] - dropped["after_shutdown"]
            dropped["after_shutdown"] += late
            return Stats(
                emitted=final.emitted + late,
                queued=final.queued,
                sent=final.sent,
                failed=final.failed,
                pending=0,
                dropped=dropped,
            )
        return self._snapshot(sink_pending=self.sink.pending(), sent_adjust=0)

    def _snapshot(self, *, sink_pending: int, sent_adjust: int) -> Stats:
        failed, rejected = self.sink.failures()
        with self._lock:
            dropped = dict(self._dropped)
            before_queue = self._dropped_before_queue
        dropped["rejected"] = rejected
        buffered = len(self._buffer)
        queued = self._taken + buffered
        return Stats(
            emitted=queued + before_queue,
            queued=queued,
            sent=max(0, self._handed - failed - rejected - sink_pending - sent_adjust),
            failed=failed,
            pending=buffered + sink_pending,
            dropped=dropped,
        )
