"""Where every event's fate is counted: one method per transition, one lock.

An event is refused before the buffer, or waits in the buffer, or is in the
worker's hands, or was handed to the sink (which later sends it, fails it or
still holds it), or was lost after the buffer for a reason. `snapshot` turns
that into `Stats`, where ``emitted = sent + failed + pending + dropped`` holds
in every snapshot, and `freeze` fixes the counts at shutdown.

The lock is reentrant: a record logged from a signal handler or a ``__del__``
while its thread is inside one of these methods must count its drop, not wait
for itself for good.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

from .stats import DROP_REASONS, DropReason, Stats

Item = TypeVar("Item")
SinkLoss = Literal["failed", "rejected", "too_large"]


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

    # -- transitions --------------------------------------------------------

    def refused(self, reason: DropReason, count: int = 1) -> None:
        """``count`` events dropped before they reached the buffer."""
        lock = self._lock  # acquire/release, cheaper than ``with`` for every log call
        lock.acquire()
        try:
            if self._final is not None:
                self._late[reason] = self._late.get(reason, 0) + count
                return
            self._dropped[reason] += count
            self._refused += count
        finally:
            lock.release()

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

    def lost(self, reason: DropReason) -> None:
        """The item in hand was dropped (not built, or refused by the sink)."""
        with self._lock:
            self._in_hand = 0
            if self._final is None:  # else the freeze counted it as timeout already
                self._dropped[reason] += 1

    def sink_lost(self, kind: SinkLoss, count: int) -> None:
        """``count`` events the sink had taken were finally not delivered: ``failed``
        (after its retries), ``rejected`` (PostHog answered 4xx) or ``too_large`` (a
        record that alone is still over the server's size limit). Called by the sink."""
        with self._lock:
            if self._final is not None:
                return  # counted at the freeze: as timeout if still pending then
            if kind == "rejected":
                self._rejected += count
            elif kind == "too_large":
                self._too_large += count
            else:
                self._failed += count

    def freeze(self, buffer: deque[Item], sink_pending: Callable[[], int]) -> tuple[Stats, int]:
        """At the shutdown deadline: what is still buffered, in hand or in the sink is
        dropped (timeout), and the counts stop changing. Returns them and that loss."""
        with self._lock:
            if self._final is not None:
                return self._final, 0
            pending_in_sink = sink_pending()
            cleared = len(buffer)
            buffer.clear()
            self._cleared += cleared
            lost = cleared + self._in_hand + pending_in_sink
            self._dropped["timeout"] += lost
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
        with self._lock:
            return {reason: self._dropped[reason] for reason in reasons}

    @property
    def in_hand(self) -> int:
        """1 while the worker holds an item it took, else 0."""
        return self._in_hand

    def snapshot(self, buffer: deque[Item], sink_pending: int) -> Stats:
        """The counts now, given what the sink holds; after `freeze`, the frozen
        counts plus the events refused since (``after_shutdown``)."""
        with self._lock:
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
