"""Counters: what was emitted, queued, sent, failed and dropped, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["DROP_REASONS", "DropReason", "Stats"]

DropReason = Literal[
    "buffer_full",
    "after_shutdown",
    "recursion",
    "filtered",
    "invalid",
    "rejected",
    "timeout",
    "rate_limited",
    "sampled",
    "deduplicated",
    "before_send",
    "too_large",
]
"""Why an event was dropped.

- ``buffer_full``: the ``max_queued`` limit was reached (PostHog slow or down).
- ``after_shutdown``: captured after `shutdown`/``close`` (for instance during exit).
- ``recursion``: a record from the SDK's or this library's own logging, or one
  emitted while an emit was already running on that thread.
- ``filtered``: a record excluded by a handler's ``include``/``exclude`` patterns.
- ``invalid``: the event could not be built (reported once on stderr).
- ``rejected``: PostHog answered 4xx (wrong key or region, malformed or too
  large a batch); a 408 or 429 that outlasts the SDK's retries counts as failed
  (in the logs lane, a 413 is split and retried instead).
- ``timeout``: not confirmed delivered when a shutdown's deadline passed
  (PostHog down, slow or silent). A slow server may still receive some of them.
- ``rate_limited``: over the handler's (or `Analytics`') rate cap for its event
  name; in the logs lane, over its cap per window (``logs_rate_cap``).
- ``sampled``: left out by a handler's sampling rates.
- ``deduplicated``: a record identical to one sent within the handler's
  de-duplication window; the window's summary event carries ``repeatCount``.
- ``before_send``: dropped by a ``before_send`` hook, or the hook raised.
- ``too_large``: still over PostHog's size limit with every string cut; in the
  logs lane, a log that alone is over the 2 MiB request cap, or answered 413.
"""

DROP_REASONS: tuple[DropReason, ...] = get_args(DropReason)


@dataclass(frozen=True)
class Stats:
    """A snapshot of an `Analytics` object's (or a handler's) counters.

    ``emitted`` counts every capture and every record that reached a handler;
    ``queued`` those accepted into the buffer (records the volume caps then hold
    back, on the worker, among them); ``sent`` those PostHog (or the local
    sink) accepted; ``failed`` those whose upload failed after the SDK's retries;
    ``pending`` those still waiting; ``dropped`` the rest, by reason.
    ``sent`` is derived from the SDK's queue, so it is exact only when the
    posthog client is used by analyticskit alone.

    ``logs`` holds the same counts for the PostHog Logs lane, kept apart from the
    events' (None while that lane is off); the totals above count events only.
    """

    emitted: int
    queued: int
    sent: int
    failed: int
    pending: int
    dropped: Mapping[DropReason, int]
    logs: Stats | None = None

    @property
    def dropped_total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.dropped.values())
