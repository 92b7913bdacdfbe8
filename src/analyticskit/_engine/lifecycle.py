"""What happens to the delivery engines when the process forks, exits or is stopped.

- fork: each engine's worker is held at a safe point (outside third-party code)
  for the fork, released in the parent and rebuilt in the child;
- exit: each engine has its own ``atexit`` hook, registered after its posthog
  client so that it runs before the SDK's own; one more hook, registered when
  analyticskit is imported, shuts down the engines first used inside another
  ``atexit`` hook (hooks registered during exit never run);
- pool children (multiprocessing, Celery's billiard), which end with
  ``os._exit()``: a finalizer of the pool's own runs the shutdown;
- SIGTERM: `shutdown_on_sigterm` delivers before the default action kills the process.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Protocol

FORK_WAIT = 1.0
"""Seconds a fork waits at most for a worker to reach its safe point."""

# Finalizers of higher priority run first; ours runs after the pool's own.
_POOL_EXIT_PRIORITY = 5
# Modules whose children end with os._exit() after running their finalizers.
_POOL_UTILS = ("multiprocessing.util", "billiard.util")


class Engine(Protocol):
    """What this module needs of a delivery engine."""

    exit_timeout: float

    @property
    def companions(self) -> Sequence[Any]: ...
    def flush(self, timeout: float) -> bool: ...
    def hold_for_fork(self, timeout: float) -> bool: ...
    def release_after_fork(self) -> None: ...
    def rebuild_in_child(self) -> None: ...
    def shutdown(self, timeout: float) -> object: ...


_engines: weakref.WeakSet[Any] = weakref.WeakSet()
_held: list[Engine] = []


def track(engine: Engine) -> Callable[[], None]:
    """Cover ``engine`` from now on; returns its exit hook, for `untrack`."""
    _engines.add(engine)
    at_exit = _weak_shutdown(engine)
    atexit.register(at_exit)
    _finalize_in_pool_child(engine)
    return at_exit


def untrack(at_exit: Callable[[], None]) -> None:
    """Forget an engine's exit hook (it was shut down)."""
    atexit.unregister(at_exit)


def _weak_shutdown(engine: Engine) -> Callable[[], None]:
    """``engine.shutdown(engine.exit_timeout)``, holding the engine weakly: the exit
    and fork registries keep their callbacks for good."""
    ref = weakref.ref(engine)

    def shutdown(*_: object) -> None:
        target = ref()
        if target is not None:
            target.shutdown(target.exit_timeout)

    return shutdown


def _finalize_in_pool_child(engine: Engine) -> None:
    """In a pool child, shut ``engine`` down when the child's target returns. (In the
    parent too, where the pool's exit hook runs after ours and finds it shut down.)"""
    for name in _POOL_UTILS:
        util = sys.modules.get(name)
        if util is not None:
            util.Finalize(engine, _weak_shutdown(engine), exitpriority=_POOL_EXIT_PRIORITY)


def _before_fork() -> None:
    for engine in list(_engines):
        if engine.hold_for_fork(FORK_WAIT):
            _held.append(engine)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().release_after_fork()


def _after_fork_in_child() -> None:
    _held.clear()  # the child rebuilds its locks instead of releasing them
    for engine in list(_engines):
        engine.rebuild_in_child()
        # A pool clears the inherited finalizers in its child, then runs these hooks.
        for name in _POOL_UTILS:
            util = sys.modules.get(name)
            if util is not None:
                util.register_after_fork(engine, _finalize_in_pool_child)


def shutdown_all() -> None:
    """Shut down every engine still open, each within its own exit deadline."""
    for engine in list(_engines):
        engine.shutdown(engine.exit_timeout)


def flush_all() -> None:
    """Deliver what every engine (and its companion lanes) has queued, each within its
    exit deadline, leaving them open: for a server's stop after which no exit hook
    runs (uvicorn re-raises SIGTERM with its default action)."""
    for engine in list(_engines):
        for lane in (engine, *engine.companions):
            lane.flush(engine.exit_timeout)


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
atexit.register(shutdown_all)


_SignalHandler = Callable[[int, FrameType | None], Any] | int | None
_previous: dict[int, _SignalHandler] = {}
_signal_lock = threading.Lock()


def shutdown_on_sigterm() -> None:
    """Deliver what is queued when the process receives SIGTERM. Opt-in; idempotent.

    A SIGTERM whose action is the default one kills the process without running
    ``atexit`` hooks, so events still queued are lost. After this call:

    - if SIGTERM had the default action (scripts, Django's ``runserver``), every
      `Analytics` object is shut down within its ``shutdown_timeout``, then the
      process dies by SIGTERM as before (same exit status);
    - if a handler was installed before (gunicorn, uvicorn, Celery), it is called
      as before, and nothing else happens: those servers stop gracefully and
      exit normally, and interpreter exit delivers;
    - if SIGTERM was ignored, it still is.

    Call it from the main thread (Python installs signal handlers only there),
    after the server has installed its own handlers if it has any.
    """
    with _signal_lock:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm:
            return
        _previous[signal.SIGTERM] = current
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        previous(signum, frame)
        return
    if previous == signal.SIG_IGN:
        return
    shutdown_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
