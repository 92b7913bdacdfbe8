"""Where every event's fate is counted: one method per transition, one lock.

An event is refused before the buffer, or waits in the buffer, or is in the
worker's hands, or was handed to the sink (which later sends it, fails it or
still holds it), or was lost after the buffer for a reason. `snapshot` turns
that into `Stats`, where ``emitted = sent + failed + pending + dropped`` holds
in every snapshot, and `freeze` fixes the counts at shutdown.

A record may be logged from a signal handler or a ``__del__`` while its thread,
or a thread that the logging one waits for, is inside one of these methods or
holds another lock of the library's: so the drops counted on the caller's side
(`refused`) take no lock. They are appended to a deque (thread-safe) and folded
into the counts by the next reader, under the lock, which is reentrant for a
reader run inside another on its thread.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Literal, TypeVar

from ..stats import DROP_REASONS, DropReason, Stats

Item = TypeVar("Item")
SinkLoss = Literal["failed", "rejected", "too_large"]

#: Refusals left unfolded before a caller folds them (when the lock is free): a
#: storm refused with nobody reading the counts keeps at most about this many.
_FOLD_AT = 4096


class Counters(Generic[Item]):
    """The counts of one delivery engine (a forked child starts new ones)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._refused = 0  # dropped before the buffer
        self._taken = 0  # left the buffer (an item that became two events counts twice)
        self._in_hand = 0  # taken, not yet handed over or lost
        self._handed = 0  # handed to the sink
        self._cleared = 0  # left in the buffer at shutdown
        self._failed = 0  # the sink gave up on them after its retries
        self._rejected = 0  # PostHog refused them (4xx)
        self._too_large = 0  # the sink dropped them: alone, still over the server's limit
        self._dropped: dict[DropReason, int] = dict.fromkeys(DROP_REASONS, 0)
        self._final: Stats | None = None
        self._late: dict[DropReason, int] = {}  # refused after the freeze
        self._refusals: deque[DropReason] = deque()  # refused, not folded in yet
        self._losses: deque[DropReason] = deque()  # lost after the buffer, not folded in
        self._settling = False  # the counts are being folded or read (`_settled`)

    # -- transitions --------------------------------------------------------

    def refused(self, reason: DropReason) -> None:
        """One event dropped before it reached the buffer. Never waits: it is only
        appended, and folded in by the next reader (or here, when many are
        waiting and the lock is free)."""
        refusals = self._refusals
        refusals.append(reason)
        if len(refusals) >= _FOLD_AT and self._lock.acquire(blocking=False):
            try:
                with self._settled():
                    pass
            finally:
                self._lock.release()

    def take(self, buffer: deque[Item]) -> Item | None:
        """The oldest buffered item, now in the worker's hands; None if the buffer is empty."""
        with self._lock:
            try:
                item = buffer.popleft()
            except IndexError:
                return None
            self._taken += 1
            self._in_hand = 1
            return item

    def handed(self, events: int) -> None:
        """The item in hand became ``events`` events in the sink (an error record
        with its ``$exception`` makes two)."""
        with self._lock:
            self._taken += events - 1
            self._handed += events
            self._in_hand = 0

    def may_hand_over(self) -> bool:
        """Whether the item in hand may go to the sink: not once the counts are frozen
        (it was counted then, the worker being in the application's code)."""
        with self._lock:
            if self._final is None:
                return True
            self._in_hand = 0
            return False

    def lost(self, reason: DropReason) -> None:
        """The item in hand was dropped (not built, or refused by the sink)."""
        with self._lock:
            self._in_hand = 0
            if self._final is None:  # else the freeze counted it as timeout already
                self._losses.append(reason)

    def sink_lost(self, kind: SinkLoss, count: int) -> None:
        """``count`` events the sink had taken were finally not delivered: ``failed``
        (after its retries), ``rejected`` (PostHog answered 4xx) or ``too_large``
        (alone still over the server's size limit, never sent: an ``$exception``
        that cannot fit, a log over the request cap). Called by the sink."""
        with self._lock:
            if self._final is not None:
                return  # counted at the freeze: as timeout if still pending then
            if kind == "rejected":
                self._rejected += count
            elif kind == "too_large":
                self._too_large += count
            else:
                self._failed += count

    def freeze(
        self,
        buffer: deque[Item],
        sink_pending: Callable[[], int],
        in_hand_reason: DropReason = "timeout",
    ) -> tuple[Stats, int]:
        """At the shutdown deadline: what is still buffered or in the sink is dropped
        (timeout), the item in hand for ``in_hand_reason``, and the counts stop
        changing. Returns them and that loss."""
        with self._settled():
            if self._final is not None:
                return self._final, 0
            pending_in_sink = sink_pending()
            cleared = len(buffer)
            buffer.clear()
            self._cleared += cleared
            lost = cleared + self._in_hand + pending_in_sink
            self._dropped["timeout"] += cleared + pending_in_sink
            self._dropped[in_hand_reason] += self._in_hand
            final = self._stats(0, pending_in_sink, pending=0)
            self._final = final
            return final, lost

    # -- reading ------------------------------------------------------------

    @property
    def sink_losses(self) -> int:
        """Events the sink failed, or that were rejected or too large, so far."""
        return self._failed + self._rejected + self._too_large

    def dropped_for(self, reasons: tuple[DropReason, ...]) -> dict[DropReason, int]:
        """The counts of ``reasons`` so far."""
        with self._settled():
            return {reason: self._dropped[reason] for reason in reasons}

    @property
    def in_hand(self) -> int:
        """1 while the worker holds an item it took, else 0."""
        return self._in_hand

    def snapshot(self, buffer: deque[Item], sink_pending: int) -> Stats:
        """The counts now, given what the sink holds; after `freeze`, the frozen
        counts plus the events refused since (``after_shutdown``)."""
        with self._settled():
            final = self._final
            if final is None:
                buffered = len(buffer)
                return self._stats(buffered, sink_pending, buffered + self._in_hand + sink_pending)
            if not self._late:
                return final
            dropped = dict(final.dropped)
            for reason, count in self._late.items():
                dropped[reason] += count
            late = sum(self._late.values())
        return Stats(
            emitted=final.emitted + late,
            queued=final.queued,
            sent=final.sent,
            failed=final.failed,
            pending=0,
            dropped=dropped,
        )

    @contextmanager
    def _settled(self) -> Iterator[None]:
        """The lock, with the refusals and losses appended so far folded into the
        counts, which stay as they are until the block ends: a fold from a signal
        handler or ``__del__`` run inside it on this thread (the lock lets it in)
        is left to the next reader."""
        with self._lock:
            if self._settling:
                yield
                return
            self._settling = True
            try:
                self._fold()
                yield
            finally:
                self._settling = False

    def _fold(self) -> None:
        """Count what `refused` and `lost` appended (inside `_settled`); what is
        appended meanwhile waits for the next fold."""
        refusals = self._refusals
        refused = len(refusals)
        counts = self._dropped if self._final is None else self._late
        for _ in range(refused):
            reason = refusals.popleft()
            counts[reason] = counts.get(reason, 0) + 1
        if self._final is None:
            self._refused += refused
        losses = self._losses
        for _ in range(len(losses)):
            self._dropped[losses.popleft()] += 1

    def _stats(self, buffered: int, sink_pending: int, pending: int) -> Stats:
        failed, rejected = self._failed, self._rejected
        dropped = dict(self._dropped)
        dropped["rejected"] = rejected
        dropped["too_large"] += self._too_large
        queued = self._taken + self._cleared + buffered
        # The sink's counts are read apart from ours: an event it has just taken may
        # be in its pending count and in our hands at once. Keep the sum exact.
        sent = self._handed - failed - rejected - self._too_large - sink_pending
        if sent < 0:
            pending += sent
            sent = 0
        return Stats(
            emitted=queued + self._refused,
            queued=queued,
            sent=sent,
            failed=failed,
            pending=pending,
            dropped=dropped,
        )
