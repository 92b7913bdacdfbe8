"""The delivery engine: a bounded buffer, one worker thread, counters, exit and fork.

The caller's thread only appends a snapshot to the buffer. The worker turns it
into a `Message` and hands it to the sink (the posthog SDK's own queue). One
limit, ``max_queued``, covers what waits here and in the SDK together.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from . import _diagnostics, _guard
from ._message import Message
from .config import DEFAULT_SHUTDOWN_TIMEOUT
from .sinks import Sink
from .stats import DROP_REASONS, DropReason, Stats

Build = Callable[[Any], Message]
# Reasons counted before anything is queued: they add to ``emitted`` only.
_BEFORE_QUEUE: frozenset[DropReason] = frozenset(
    {"buffer_full", "after_shutdown", "recursion", "filtered"}
)
# The worker hands events to the SDK in batches: it wakes every _IDLE_WAIT
# seconds, or when a caller has buffered _WAKE_BATCH events (or a quarter of
# max_queued), or on flush/shutdown. Waking it for every event would cost each
# log call an Event.set() and a thread switch, and gain nothing: the SDK itself
# sends every flush_interval (5 s) or flush_at (100) events.
_IDLE_WAIT = 0.5  # seconds
_WAKE_BATCH = 100
# Every _YIELD_EVERY events the worker offers the GIL to the application's
# threads (time.sleep(0)), instead of holding it for the interpreter's whole
# 5 ms switch interval: analytics work then waits for the application's idle
# moments rather than stalling its threads (the bench's p99 column).
_YIELD_EVERY = 16
_MP_EXIT_PRIORITY = 5  # multiprocessing finalizers with higher priorities run first


class Delivery:
    """Moves snapshots from callers' threads to a sink, within a memory bound."""

    def __init__(
        self, sink: Sink, max_queued: int, *, exit_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> None:
        self.sink = sink
        self.max_queued = max_queued
        #: The deadline of the shutdown run when a multiprocessing child ends
        #: (those end with os._exit(): atexit hooks do not run there).
        self.exit_timeout = exit_timeout
        self._wake_at = max(1, min(_WAKE_BATCH, max_queued // 4))
        self._reset_state()
        self._register_fork_handler()

    def _reset_state(self) -> None:
        self._buffer: deque[tuple[Build, Any]] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._drained = threading.Condition(threading.Lock())
        self._started = False
        self._idle = True
        self._open = True
        self._stopping = False
        self._sink_backlog = 0
        self._taken = 0
        self._handed = 0
        self._queued_drops = 0
        self._cleared = 0
        self._dropped: dict[DropReason, int] = dict.fromkeys(DROP_REASONS, 0)
        self._dropped_before_queue = 0
        self._final: Stats | None = None

    def _register_fork_handler(self) -> None:
        if not hasattr(os, "register_at_fork"):  # Windows: no fork
            return
        os.register_at_fork(after_in_child=_weak_call(self, Delivery._after_fork))

    def _after_fork(self) -> None:
        # The parent's buffer stays the parent's: the child starts empty, with
        # fresh locks and a worker started on its first event (threads do not
        # survive fork). The posthog SDK rebuilds its own queue and consumers.
        was_open = self._open
        self._reset_state()
        self._open = was_open
        # A multiprocessing child ends with os._exit() after its target returns,
        # so the atexit hook never runs there: ask multiprocessing to run a
        # bounded shutdown instead. Its after-fork hooks run in the child once
        # the inherited finalizers are cleared; a plain os.fork() never runs them.
        mp_util = sys.modules.get("multiprocessing.util")
        if was_open and mp_util is not None:
            mp_util.register_after_fork(self, _register_multiprocessing_exit)

    def _at_multiprocessing_exit(self) -> None:
        if self._open:
            self.shutdown(self.exit_timeout)

    # -- the caller's side: cheap, never blocks, never raises ----------------

    def submit(self, build: Build, payload: Any) -> bool:
        """Queue ``build(payload)`` for the worker; False (and counted) if dropped."""
        reason = self.refusal()
        if reason is not None:
            self.drop(reason)
            return False
        self.enqueue(build, payload)
        return True

    def enqueue(self, build: Build, payload: Any) -> None:
        """Queue without checking: for callers that asked `refusal` just before."""
        self._buffer.append((build, payload))
        if not self._started:
            self._start()
        elif self._idle and len(self._buffer) >= self._wake_at:
            self._wake.set()

    def refusal(self) -> DropReason | None:
        """Why `submit` would drop an event now (closed, or at the limit), else None.

        Counts nothing: for callers that can skip building a payload that would
        only be dropped (``drop(reason)`` counts it).
        """
        if not self._open:
            return "after_shutdown"
        if len(self._buffer) + self._sink_backlog >= self.max_queued:
            return "buffer_full"
        return None

    def drop(self, reason: DropReason, count: int = 1) -> None:
        """Count ``count`` events dropped for ``reason`` before they were queued."""
        with self._lock:
            self._dropped[reason] += count
            if reason in _BEFORE_QUEUE:
                self._dropped_before_queue += count

    def _drop_queued(self, reason: DropReason, count: int = 1) -> None:
        # An event already counted in ``queued`` (taken from the buffer) that the
        # sink refused: it must not be counted in ``emitted`` a second time.
        with self._lock:
            if self._final is not None:
                return  # it was in the worker's hands at the deadline: counted as timeout
            self._dropped[reason] += count
            self._queued_drops += count

    def wake(self) -> None:
        """Ask the worker to hand over what is buffered now; never waits."""
        if self._started:
            self._wake.set()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            threading.Thread(target=self._run, name="analyticskit-delivery", daemon=True).start()
            self._started = True

    # -- the worker's side -----------------------------------------------------

    def _run(self) -> None:
        _guard.mark_library_thread()
        while not self._stopping:
            # Busy before the first pop: flush() and shutdown() wait for "buffer
            # empty and idle", which must never hold while an event is between
            # the buffer and the sink (on the first pass too).
            self._idle = False
            self._drain()
            with self._drained:
                self._idle = True
                self._drained.notify_all()
            if not self._buffer:
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()

    def _drain(self) -> None:
        count = 0
        while True:
            count += 1
            if count % _YIELD_EVERY == 0:
                time.sleep(0)
            # Count the item in the sink's backlog before it leaves the buffer, so
            # that submit() (buffer length, then backlog) never sees it in neither.
            self._sink_backlog += 1
            try:
                build, payload = self._buffer.popleft()
            except IndexError:
                self._sink_backlog = self.sink.pending()
                return
            self._taken += 1
            try:
                message = build(payload)
                sent = self.sink.send(message)
            except Exception as error:
                self._drop_queued("invalid")
                _diagnostics.report_once(
                    "build-failed",
                    f"an event could not be built or handed over and was dropped: {error!r}",
                )
                sent = -1
            if sent > 0:
                # An error record with capture_exceptions makes two PostHog events.
                self._taken += sent - 1
                self._handed += sent
            elif sent == 0:
                self._drop_queued("after_shutdown" if not self._open else "buffer_full")
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
            already_closed = not self._open
            self._open = False
        if already_closed:
            # Idempotent. (Not under the lock: stats() takes it, and it is not reentrant.)
            return self.stats()
        deadline = time.monotonic() + timeout
        self._wait_drained(deadline)
        self.sink.flush(max(0.0, deadline - time.monotonic()))
        self._stopping = True
        self._wake.set()
        # Empty the buffer one item at a time: the worker may still be popping.
        left_here = 0
        while True:
            try:
                self._buffer.popleft()
            except IndexError:
                break
            left_here += 1
        # Read the failures before what is pending: a batch that fails in between
        # is then counted once (as timeout), never as both failed and timeout.
        failed, rejected = self.sink.failures()
        left_in_sink = self.sink.pending()
        with self._lock:
            self._cleared += left_here
            # Taken from the buffer, neither handed over nor dropped: the worker
            # was still building or sending it at the deadline.
            in_hand = max(0, self._taken - self._handed - self._queued_drops)
            lost = left_here + left_in_sink + in_hand
            self._dropped["timeout"] += lost
            # Frozen before the sink is closed: what its shutdown does after the
            # deadline (a late failure, a late success) no longer changes the counts.
            final = self._count(failed, rejected, left_in_sink, lost_at_shutdown=True)
            self._final = final
        if lost:
            _diagnostics.report(
                f"{lost} events not delivered to {self.sink.description}"
                f" within the {timeout:g}s shutdown deadline; counted as dropped (timeout)."
            )
        self.sink.close(max(0.0, deadline - time.monotonic()))
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
        # Failures before pending (see shutdown); pending before handed, which
        # the worker counts only after the sink took the event.
        failed, rejected = self.sink.failures()
        sink_pending = self.sink.pending()
        with self._lock:
            return self._count(failed, rejected, sink_pending, lost_at_shutdown=False)

    def _count(
        self, failed: int, rejected: int, sink_pending: int, *, lost_at_shutdown: bool
    ) -> Stats:
        """The counters, with ``self._lock`` held. With ``lost_at_shutdown``, what the
        sink still holds was counted as dropped (timeout), so it is not pending."""
        dropped = dict(self._dropped)
        dropped["rejected"] = rejected
        buffered = len(self._buffer)
        queued = self._taken + self._cleared + buffered
        return Stats(
            emitted=queued + self._dropped_before_queue,
            queued=queued,
            sent=max(0, self._handed - failed - rejected - sink_pending),
            failed=failed,
            pending=0 if lost_at_shutdown else buffered + sink_pending,
            dropped=dropped,
        )


def _register_multiprocessing_exit(delivery: Delivery) -> None:
    """In a multiprocessing child: shut ``delivery`` down when the child's target returns."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is None:
        return
    at_exit = _weak_call(delivery, Delivery._at_multiprocessing_exit)
    mp_util.Finalize(delivery, at_exit, exitpriority=_MP_EXIT_PRIORITY)


def _weak_call(delivery: Delivery, method: Callable[[Delivery], None]) -> Callable[[], None]:
    """``method(delivery)`` as a callback that does not keep ``delivery`` alive (for
    the fork and exit registries, which hold their callbacks for good)."""
    ref = weakref.ref(delivery)

    def call() -> None:
        target = ref()
        if target is not None:
            method(target)

    return call
