"""Recursion guards: nothing the SDK or this library logs may become an event.

Three layers, checked by the handler before anything else: a denylist of logger
names (matched on dotted boundaries), a per-thread flag that is set while an
emit runs and for good on the library's own worker thread, and the SDK's
consumer threads, whose every record is dropped.
"""

from __future__ import annotations

import threading

from posthog.consumer import Consumer

IGNORED_LOGGERS: tuple[str, ...] = (
    "posthog",
    "urllib3",
    "requests",
    "charset_normalizer",
    "analyticskit",
    "opentelemetry",
)
"""Logger names (and their children) whose records never become events."""


class _State(threading.local):
    def __init__(self) -> None:  # run once in each thread, at its first use
        #: This thread's flag, in a cell: one thread-local lookup, then list reads and
        #: writes, half the cost of attribute access on a thread-local. None until the
        #: thread's first record; True while it emits, and for good on the library's
        #: and the SDK's threads.
        self.busy: list[bool | None] = [None]


#: This thread's flag. A front-end's emit may test and set ``STATE.busy[0]`` itself
#: when it is False (the common case, with no function call), and call `enter`
#: otherwise.
STATE = _State()


def mark_library_thread() -> None:
    """Mark the calling thread as the library's own: its records are never events."""
    STATE.busy[0] = True


def enter() -> bool:
    """Set this thread's busy flag; False if it was set already (re-entry)."""
    if busy():
        return False
    STATE.busy[0] = True
    return True


def busy() -> bool:
    """Whether this thread is the library's own, or inside an emit: check only, for
    front-ends that run none of the application's code while they emit."""
    cell = STATE.busy
    busy = cell[0]
    if busy is None:  # first record on this thread: an SDK consumer stays busy for good
        busy = cell[0] = isinstance(threading.current_thread(), Consumer)
    return busy


def leave() -> None:
    """Clear the flag set by a successful `enter`."""
    STATE.busy[0] = False


def matches(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether logger ``name`` is one of ``prefixes`` or a child of one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)
