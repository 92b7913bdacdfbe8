"""Where events are delivered: a bounded buffer and one worker thread per sink.

The caller's thread only appends a `Snapshot` to the buffer. The worker turns
it into a `Message` and hands it to the sink (the posthog SDK's own queue). Two
limits, ``max_queued`` events and ``max_queued_bytes`` (each snapshot's estimated
size), cover what waits here and in the SDK together. Every
event's fate is counted by `Counters`; forks, exits and signals are handled by
`_engine.lifecycle`.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

from .. import _diagnostics, _guard
from .._mapping.message import Snapshot
from .._volume.window_cap import WindowCap
from ..config import DEFAULT_MAX_QUEUED_BYTES, DEFAULT_SHUTDOWN_TIMEOUT
from ..sinks import Sink
from ..stats import DropReason, Stats
from . import lifecycle as _lifecycle
from .counters import Counters
from .held import SNAPSHOT_BYTES, values_size
from .outgoing import Outgoing

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
# What the front-ends' volume caps held back is summed up on stderr by the worker
# (not by the callers, whose every record must stay cheap), at most once a minute.
_HELD_BACK: tuple[DropReason, ...] = ("deduplicated", "rate_limited", "sampled")
_BACKED_UP = 8  # backed up: an eighth of max_queued buffered
_REPORT_EVERY = 60.0  # seconds
# What a shutdown grants a hand-over under way at its deadline (the SDK's capture
# takes microseconds), so that its event is counted as what happened to it.
_HAND_OVER_GRACE = 0.05  # seconds
# An event this much larger, once built, than its snapshot's estimate tells its
# front-end to measure more of its snapshots on the caller.
_UNDERSIZED = 64 * 1024  # bytes


def _held_back_line(noun: str, counts: dict[DropReason, int], final: bool) -> str:
    """`Delivery._report_held_back`'s line: ``counts`` since the last one, or (``final``)
    the totals."""
    summary = ", ".join(f"{reason}={count}" for reason, count in sorted(counts.items()))
    total = sum(counts.values())
    noun = noun if total > 1 else noun[:-1]  # "1 event", "2 events"
    if final:
        return (
            f"held back {total} {noun} in all to cap PostHog volume ({summary}), as stats() says."
        )
    return (
        f"held back {total} {noun} to cap PostHog volume ({summary});"
        " at most one such line a minute, and the totals at shutdown."
    )


class Delivery:
    """Moves snapshots from callers' threads to a sink, within a memory bound.

    The methods a front-end calls on the caller's thread (`refusal`, `drop`,
    `submit`, `wake`) never block on the network, never raise, and never wait on
    a lock their own thread can already hold.
    """

    def __init__(
        self,
        sink: Sink,
        max_queued: int,
        *,
        exit_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        outgoing: Outgoing | None = None,
        track: bool = True,
        max_bytes: int = DEFAULT_MAX_QUEUED_BYTES,
    ) -> None:
        self.sink = sink
        #: Scrubbing, size caps and before_send, on the worker, for every event.
        self.outgoing = outgoing or Outgoing(None, None)
        self.max_queued = max_queued
        self.max_bytes = max_bytes
        self._sending = f"a Sink.send (to {sink.description})"
        #: The deadline of the shutdown that interpreter exit, a pool child's end
        #: or SIGTERM runs.
        self.exit_timeout = exit_timeout
        self._wake_at = max(1, min(_WAKE_BATCH, max_queued // 4))
        #: With this many buffered (`buffered`), the front-ends' volume control
        #: decides on the callers' threads, so that a storm cannot fill the buffer.
        self.backed_up_at = max(1, max_queued // _BACKED_UP)
        self._open = True
        self._tickers: list[weakref.WeakMethod[Callable[[bool], list[Snapshot]]]] = []
        #: Engines of other lanes (the logs lane) that this one forks, exits and
        #: shuts down with, within the same deadline; they are not tracked themselves.
        self.companions: list[Delivery] = []
        self._companions_held: list[Delivery] = []
        #: What this engine delivers, in its diagnostics ("events", "logs").
        self.noun = "events"
        #: The lane's rate cap after scrubbing and before_send (the logs lane's).
        self.cap: WindowCap | None = None
        self._reset()
        self._exit_hook = _lifecycle.track(self) if track else None

    def _reset(self) -> None:
        self._buffer: deque[Snapshot] = deque()
        # The estimated bytes of what is buffered or in the sink: callers add, the
        # worker subtracts (each ``+=`` runs between the interpreter's thread
        # switches, which happen at calls and jumps only). ``_sizes`` are those of the
        # buffered snapshots (appended before them), ``_sink_sizes`` those of the
        # events in the sink (oldest first, as the SDK's queue sends them).
        self._held_bytes = 0
        self._handed_size = 0  # the size of the event being handed over, once cut
        self._sizes: deque[int] = deque()
        self._sink_sizes: deque[int] = deque()
        #: The buffer, for front-ends to read its length (cheaper than a property).
        self.buffered = self._buffer
        self.counters: Counters[Snapshot] = Counters()
        self.sink.attach(self.counters.sink_lost)
        # Held by the worker while it is inside third-party code (building a
        # message, the SDK), and by a fork for its duration.
        self._busy = threading.RLock()
        self._start_lock = threading.RLock()
        self._wake = threading.Event()
        self._drained = threading.Condition(threading.RLock())
        self._started = False
        self._warm = False
        self._idle = True
        self._woken = False  # a caller has woken the idle worker, which has not run yet
        self._stopping = False
        self._sink_backlog = 0
        self._report_lock = threading.Lock()
        self._reported: dict[DropReason, int] = dict.fromkeys(_HELD_BACK, 0)
        self._reported_at: float | None = None
        # What the worker runs now that may be the application's code (a formatter,
        # a before_send, a Sink's send), and since when: named when a deadline
        # passes with the worker still in it.
        self._doing: str | None = None
        self._doing_since = 0.0

    # -- the caller's side: cheap, never blocks, never raises ----------------

    def submit(self, item: Snapshot, size: int = SNAPSHOT_BYTES) -> bool:
        """Queue ``item`` (of about ``size`` bytes) for the worker; False (and counted)
        if dropped."""
        buffer = self._buffer
        if (
            not self._open
            or len(buffer) + self._sink_backlog >= self.max_queued
            or self._held_bytes + size > self.max_bytes
        ):
            self.counters.refused(self.refusal(size) or "buffer_full")
            return False
        self._held_bytes += size
        self._sizes.append(size)
        buffer.append(item)
        if not self._started:
            self._start()
        elif self._idle and not self._woken and len(buffer) >= self._wake_at:
            # Once: until the worker runs (it may wait for the GIL for milliseconds),
            # the callers that buffer more do not pay for another Event.set().
            self._woken = True
            self._wake.set()
        return True

    def refusal(self, size: int = SNAPSHOT_BYTES) -> DropReason | None:
        """Why `submit` would drop an event (of ``size`` bytes) now (closed, or at a
        limit), else None. Counts nothing (`drop` counts)."""
        if not self._open:
            return "after_shutdown"
        if (
            len(self._buffer) + self._sink_backlog >= self.max_queued
            or self._held_bytes + size > self.max_bytes
        ):
            return "buffer_full"
        return None

    @property
    def accepting(self) -> bool:
        """False once shut down."""
        return self._open

    def drop(self, reason: DropReason) -> None:
        """Count one event dropped for ``reason`` before it was queued."""
        self.counters.refused(reason)

    def add_ticker(self, due: Callable[[bool], list[Snapshot]]) -> None:
        """Poll ``due`` (a bound method, held weakly) on every pass of the worker, and
        with True at flush and shutdown: what it returns is queued (a front-end's
        summaries of held-back records). The tickers that died are dropped here,
        so that a front-end moving back and forth (the shared default swapped) leaves
        one entry, not one per visit."""
        # Replaced, never mutated, so the worker's pass needs no lock.
        live = [ref for ref in self._tickers if ref() is not None]
        self._tickers = [*live, weakref.WeakMethod(due)]

    def _tick(self, everything: bool, deadline: float | None = None) -> int:
        """Queue the front-ends' summaries that are due; how many. With a ``deadline``
        (flush and shutdown, on the caller's thread), none past it: the worker may
        hold the fork guard for as long as the application's code it runs takes."""
        self._report_held_back()
        queued = 0
        for ref in self._tickers:
            due = ref()
            if due is None:
                continue
            wait = -1.0 if deadline is None else max(0.0, deadline - time.monotonic())
            # The fork guard: a front-end's tables have locks.
            if not self._busy.acquire(timeout=wait):
                return queued
            try:
                items = due(everything)
            except Exception as error:
                _diagnostics.report_once("ticker", f"a front-end's summaries failed: {error!r}")
                continue
            finally:
                self._busy.release()
            for item in items:
                queued += self.submit(item)
        return queued

    def _report_held_back(self, final: bool = False) -> None:
        """One line on stderr summing up what was held back since the last line, at
        most once every `_REPORT_EVERY` seconds; ``final`` (at shutdown, once the
        counts are frozen): the totals, if anything was held back since."""
        now = time.monotonic()
        if self._reported_lately(now, final) or not self._report_lock.acquire(blocking=final):
            return
        try:
            counts = self.counters.dropped_for(_HELD_BACK)
            new = {r: n - self._reported[r] for r, n in counts.items() if n > self._reported[r]}
            if not new:
                return
            self._reported, self._reported_at = counts, now
            if final:
                new = {reason: count for reason, count in counts.items() if count}
            _diagnostics.report(_held_back_line(self.noun, new, final))
        finally:
            self._report_lock.release()

    def _reported_lately(self, now: float, final: bool) -> bool:
        """Whether the last held-back line is under `_REPORT_EVERY` seconds old (never,
        for the ``final`` one)."""
        last = self._reported_at
        return not final and last is not None and now - last < _REPORT_EVERY

    def wake(self) -> None:
        """Ask the worker to hand over what is buffered now; never waits."""
        if self._started:
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            # Set first: a record logged from a __del__ while the thread starts (the
            # lock is reentrant) must not start a second worker.
            self._started = True
            try:
                threading.Thread(
                    target=self._run, name="analyticskit-delivery", daemon=True
                ).start()
            except RuntimeError:
                # No new thread at interpreter exit (Python 3.12): the exit-time
                # shutdown hands the buffer over on its own thread.
                self._started = False

    # -- the worker's side -----------------------------------------------------

    def _run(self) -> None:
        _guard.mark_library_thread()
        while not self._stopping:
            # Busy before the first pop: flush() and shutdown() wait for "buffer
            # empty and idle", which must never hold while an event is between
            # the buffer and the sink (on the first pass too).
            self._idle = False
            self._woken = False
            self._drain()
            # After the drain: the windows that ended by now have seen their records.
            if self._tick(False):
                self._drain()
            with self._drained:
                self._idle = True
                self._drained.notify_all()
            if not self._buffer:
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()

    def _drain(self) -> None:
        if not self._warm:
            with self._busy:
                # The SDK's one-time lazy state (its OS detection holds a lock while
                # it runs) is built here, under the fork guard, not in a fork's way.
                self.sink.warm_up()
                self._warm = True
        built = 0
        while True:
            # Count the item in the sink's backlog before it leaves the buffer, so
            # that refusal() (buffer length, then backlog) never sees it in neither.
            self._sink_backlog += 1
            with self._busy:
                item = self.counters.take(self._buffer)
                if item is None:
                    self._sink_backlog = self._sink_pending()
                    return
                size = self._sizes.popleft() if self._sizes else 0
                events = self._hand_over(item)
                if events is None:  # held back: the sink's backlog is as it was
                    self._held_bytes -= size
                    self._sink_backlog -= 1
                    continue
                if events:
                    # What the event holds now it is cut, if more than the caller saw.
                    held = max(size, self._handed_size)
                    self._held_bytes += held - size
                    if held - size > _UNDERSIZED:
                        # A front-end that measures only part of its snapshots on the
                        # caller (a record's message, not its extras) measures all.
                        undersized = getattr(item, "undersized", None)
                        if undersized is not None:
                            undersized()
                    self._sink_sizes.append(held)
                    self._sink_sizes.extend(itertools.repeat(0, events - 1))
                else:
                    self._held_bytes -= size
            self._sink_backlog = self._sink_pending()
            built += 1
            if built >= _YIELD_EVERY:
                # Records held back by the volume caps cost little here and do not
                # count: in a log storm the worker keeps up with the callers.
                built = 0
                time.sleep(0)

    def _enter(self, doing: str) -> None:
        """The worker enters a step that may run the application's code."""
        self._doing_since = time.monotonic()
        self._doing = doing

    def _sink_pending(self) -> int:
        """The sink's pending count; the bytes of the events that left it are no
        longer held."""
        pending = self.sink.pending()
        sizes = self._sink_sizes
        while len(sizes) > pending:
            self._held_bytes -= sizes.popleft()
        return pending

    def _hand_over(self, item: Snapshot) -> int | None:
        """Build ``item``'s event and hand it to the sink: how many events the sink
        took (0: none, the item was lost), None if it was held back."""
        try:
            self._enter("the build of an event (a formatter, a value's __str__)")
            message = item.to_message()
            if isinstance(message, str):  # held back by a front-end's volume caps
                self.counters.lost(message)
                return None
            prepared = self.outgoing.prepare(message, self._enter)
            if isinstance(prepared, str):  # a drop reason
                self.counters.lost(prepared)
                return 0
            if self.cap is not None and not self.cap.allow():
                self.counters.lost("rate_limited")
                return 0
            self._handed_size = SNAPSHOT_BYTES + values_size(prepared.properties)
            self._enter(self._sending)
            if not self.counters.may_hand_over():
                return 0  # a shutdown's deadline passed meanwhile: counted there
            events = self.sink.send(prepared)
        except Exception as error:
            self.counters.lost("invalid")
            _diagnostics.report_once(
                "build-failed",
                f"an event could not be built or handed over and was dropped: {error!r}",
            )
            return 0
        finally:
            self._doing = None
        if events > 0:
            self.counters.handed(events)
            return events
        self.counters.lost("after_shutdown" if not self._open else "buffer_full")
        return 0

    def _stuck(self) -> str | None:
        """What application code the worker is in and for how long, if it is in any."""
        doing = self._doing
        if doing is None:
            return None
        return f"{doing} has been running for {time.monotonic() - self._doing_since:.1f} s"

    def _wait_drained(self, deadline: float) -> bool:
        """Wait until the worker has handed everything to the sink, or the deadline."""
        if not self._started:
            # No worker (it could not start): hand the buffer over on this thread.
            self._drain()
            return True
        if not self._buffer and self._idle:
            return True
        self._wake.set()
        with self._drained:
            return self._drained.wait_for(
                lambda: not self._buffer and self._idle, max(0.0, deadline - time.monotonic())
            )

    # -- fork ------------------------------------------------------------------

    def hold_for_fork(self, timeout: float) -> bool:
        """Before a fork: wait up to ``timeout`` for the worker to leave third-party
        code, and keep it out until `release_after_fork`. False if it did not."""
        if not self._busy.acquire(timeout=timeout):
            return False
        self._companions_held = [c for c in self.companions if c.hold_for_fork(timeout)]
        return True

    def release_after_fork(self) -> None:
        """In the parent, after the fork: let the worker go on."""
        while self._companions_held:
            self._companions_held.pop().release_after_fork()
        self._busy.release()

    def rebuild_in_child(self) -> None:
        """In the child: the parent's buffer and counts stay the parent's; the child
        starts empty, with fresh locks, and a worker started on its first event
        (threads do not survive fork). The posthog SDK rebuilds its own queue."""
        self._reset()
        self._companions_held = []
        for companion in self.companions:
            companion.rebuild_in_child()

    # -- flush, shutdown, stats --------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Deliver what is queued. True only if every event captured before the call
        was handed over and sent within ``timeout`` (none pending, none failed)."""
        deadline = time.monotonic() + timeout
        lost_before = self.counters.sink_losses
        # The worker decides what the volume caps hold back as it drains; then the
        # summaries of every window, and their delivery.
        self._wait_drained(deadline)
        self._tick(True, deadline)
        drained = self._wait_drained(deadline)
        self.sink.flush(max(0.0, deadline - time.monotonic()))
        stuck = None if drained else self._stuck()
        if stuck is not None:
            _diagnostics.report_once(
                "flush-stuck",
                f"flush({timeout:g}) returned at its deadline with {self.noun} still queued:"
                f" {stuck}. Reported once.",
            )
        return (
            drained
            and self.counters.in_hand == 0
            and self.sink.pending() == 0
            and self.counters.sink_losses == lost_before
        )

    def shutdown(self, timeout: float) -> Stats:
        """Refuse new events, deliver what is queued within ``timeout``, count the rest.

        Companions are shut down together, within the same deadline."""
        deadline = time.monotonic() + timeout
        for lane in (self, *self.companions):
            if lane._open:  # the front-ends' last summaries, once the worker has drained
                lane._wait_drained(deadline)
                lane._tick(True, deadline)
        lanes = [lane for lane in (self, *self.companions) if lane._close()]
        for lane in lanes:  # their workers drain at the same time
            lane._wait_drained(deadline)
        for lane in lanes[1:]:  # the companions' sinks start sending at once...
            lane.sink.flush(0.0)
        for lane in lanes:  # ...while this lane's sink flushes (the SDK's flush blocks)
            lane.sink.flush(max(0.0, deadline - time.monotonic()))
        for lane in lanes:
            lane._freeze(timeout, deadline)
            lane._report_held_back(final=True)
        for lane in lanes:
            # Closed after the freeze: what a sink's shutdown does after the
            # deadline (a late failure, a late success) no longer changes the counts.
            lane.sink.close(max(0.0, deadline - time.monotonic()))
        return self.stats()

    def _close(self) -> bool:
        """Refuse new events from now on; False if already closed."""
        with self._start_lock:
            already_closed = not self._open
            self._open = False
        if already_closed:
            return False
        if self._exit_hook is not None:
            _lifecycle.untrack(self._exit_hook)
        return True

    def _freeze(self, timeout: float, deadline: float) -> None:
        self._stopping = True
        self._wake.set()
        # A hand-over under way ends first (within the deadline), so that its event is
        # counted as what happened to it; one stuck in the application's code is
        # counted as such, and never handed over afterwards (`may_hand_over`).
        held = self._busy.acquire(timeout=max(_HAND_OVER_GRACE, deadline - time.monotonic()))
        stuck = None if held or not self.counters.in_hand else self._stuck()
        try:
            _, lost = self.counters.freeze(
                self._buffer, self.sink.pending, "timeout" if stuck is None else "in_user_code"
            )
        finally:
            if held:
                self._busy.release()
        if lost:
            _diagnostics.report(
                f"{lost} {self.noun} not delivered to {self.sink.description}"
                f" within the {timeout:g}s shutdown deadline; counted as dropped (timeout)."
                + ("" if stuck is None else f" {stuck}: its event is counted as in_user_code.")
            )

    def stats(self) -> Stats:
        """The counters now (frozen at shutdown, but for later refusals)."""
        return self.counters.snapshot(self._buffer, self.sink.pending())
