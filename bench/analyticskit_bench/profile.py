"""``--profile``: where ``PostHogHandler.emit``'s time goes, each step alone (timeit)."""

from __future__ import annotations

import logging
import threading
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .common import API_KEY, Sizes, own_logger

if TYPE_CHECKING:  # imported inside the functions at run time
    import analyticskit

Step = tuple[str, Callable[[], object]]
_RECORD_ARGS = ("user %s did %s", ("u_42", "login"), None, "run", {"uid": 1, "source": "auth"})


@dataclass(frozen=True)
class Profile:
    """ns per call of each step, less ``overhead`` (timeit's own call), best of
    ``repeat``."""

    repeat: int
    overhead: float
    steps: tuple[tuple[str, float], ...]


def _emit_internals(handler: analyticskit.PostHogHandler, record: logging.LogRecord) -> list[Step]:
    """The steps of ``PostHogHandler.emit`` that only private internals expose.

    With ``worker.py``, the one place the bench reads analyticskit's private
    attributes and modules; when they move, mypy (``make typecheck``) and the bench smoke test
    (tests/test_bench_smoke.py) point here. Each step is a zero-argument callable
    doing what ``emit`` does at that point.
    """
    from analyticskit import _guard, context
    from analyticskit._mapping.record_to_event import RecordSnapshot

    delivery = handler.analytics.delivery
    routes = handler._front.routes
    mapper = handler._front.mapper
    route = handler._front.route(record.name)  # fills the cache, as the first record does
    assert isinstance(route, str), route
    snap = mapper.snapshot(record, route, handler.formatter)
    assert snap is not None  # no repeat table given: never held back

    def guard() -> None:
        _guard.enter()
        _guard.leave()

    return [
        ("emit: route (cached per logger name)", lambda: routes.get(record.name)),
        ("emit: _guard.enter() + leave()", guard),
        ("emit: snapshot(record) total", lambda: mapper.snapshot(record, route, None)),
        ("  record.getMessage()", record.getMessage),
        ("  record.__dict__.copy()", record.__dict__.copy),
        ("  context.snapshot()", context.snapshot),
        ("    context.current_user()", context.current_user),
        (
            "  RecordSnapshot construction (tuple.__new__)",
            lambda: tuple.__new__(RecordSnapshot, snap),
        ),
        ("Delivery.refusal() (room check)", delivery.refusal),
    ]


def _steps(handler: analyticskit.PostHogHandler) -> list[Step]:
    log = own_logger("bench.profile", handler)
    null = own_logger("bench.profile.null", logging.NullHandler())
    record = log.makeRecord("bench.profile", logging.INFO, __file__, 1, *_RECORD_ARGS)
    event = threading.Event()

    def floor() -> None:
        null.info("user %s did %s", "u_42", "login", extra={"uid": 1, "source": "auth"})

    def make_record() -> None:
        log.makeRecord("bench.profile", 20, "f.py", 1, *_RECORD_ARGS)

    def filter_and_lock() -> None:
        handler.filter(record)
        handler.acquire()
        handler.release()

    return [
        ("logger.info, NullHandler (the floor)", floor),
        ("  of which makeRecord (LogRecord.__init__)", make_record),
        ("Handler.handle: filter + lock", filter_and_lock),
        *_emit_internals(handler, record),
        ("threading.Event.set() (a wake-up)", event.set),
    ]


def profile_emit(sizes: Sizes) -> Profile:
    """Time each step of the caller's path, in isolation (best of the timeit repeats)."""
    import analyticskit

    # A closed port: nothing is sent (no step enqueues), and shutdown gives up at once.
    handler = analyticskit.PostHogHandler(
        api_key=API_KEY, host="http://127.0.0.1:9", rate_limit=False, dedupe_window=0
    )

    def best_ns(call: Callable[[], object]) -> float:
        runs = timeit.repeat(call, number=sizes.profile_number, repeat=sizes.profile_repeat)
        return min(runs) / sizes.profile_number * 1e9

    def nothing() -> None:
        pass

    overhead = best_ns(nothing)
    steps = tuple((label, max(best_ns(call) - overhead, 0.0)) for label, call in _steps(handler))
    handler.analytics.shutdown(0.1)
    handler.close()
    return Profile(sizes.profile_repeat, overhead, steps)
