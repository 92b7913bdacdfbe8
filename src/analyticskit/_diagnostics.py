"""The library's own problems, reported on stderr: never through `logging`.

A report through `logging` could come back into a `PostHogHandler` on the root
logger, and a `dictConfig` with ``disable_existing_loggers`` would silence it.
"""

from __future__ import annotations

import sys
import threading

_PREFIX = "analyticskit: "
_reported: set[str] = set()
_lock = threading.RLock()  # reentrant: a signal handler may report while its thread does


def report(message: str) -> None:
    """Write one line on stderr; never raises (stderr may be closed at exit)."""
    try:
        sys.stderr.write(_PREFIX + message + "\n")
        sys.stderr.flush()
    except Exception:
        pass


def report_once(kind: str, message: str) -> None:
    """Like `report`, but only the first time for each ``kind`` in this process."""
    with _lock:
        if kind in _reported:
            return
        _reported.add(kind)
    report(message)
