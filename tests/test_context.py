"""User context: analyticskit.user / bind_user, threads, asyncio tasks, posthog's own context.

Events go through a PostHogHandler (or capture_event) to the capture server;
the distinct id is read from what the server received.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import posthog
import pytest

import analyticskit
from analyticskit import EventData
from capture_server import CaptureServer
from helpers import MakeAnalytics, MakeHandler, by_marker, deliver, is_personless

# -- binding --------------------------------------------------------------------------------


def test_user_block_binds_the_distinct_id(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    assert analyticskit.current_user() is None
    with analyticskit.user("u_42"):
        assert analyticskit.current_user() == "u_42"
        log.info("inside", extra={"marker": "inside"})
        with analyticskit.user("u_43"):
            log.info("nested", extra={"marker": "nested"})
        log.info("back", extra={"marker": "back"})
    log.info("outside", extra={"marker": "outside"})
    assert analyticskit.current_user() is None

    events = by_marker(deliver(handler, capture_server, 4))
    assert events["inside"]["distinct_id"] == "u_42"
    assert events["nested"]["distinct_id"] == "u_43"
    assert events["back"]["distinct_id"] == "u_42"
    assert "$process_person_profile" not in events["inside"]["properties"]
    assert is_personless(events["outside"])


def test_user_block_is_undone_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), analyticskit.user("u_1"):
        raise RuntimeError("request failed")
    assert analyticskit.current_user() is None


def test_bind_user_and_reset_user(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, log = make_handler()
    outer = analyticskit.bind_user("u_outer")
    try:
        inner = analyticskit.bind_user("u_inner")
        log.info("inner", extra={"marker": "inner"})
        analyticskit.reset_user(inner)
        assert analyticskit.current_user() == "u_outer"
        log.info("outer", extra={"marker": "outer"})
    finally:
        analyticskit.reset_user(outer)
    assert analyticskit.current_user() is None
    log.info("none", extra={"marker": "none"})

    events = by_marker(deliver(handler, capture_server, 3))
    assert events["inner"]["distinct_id"] == "u_inner"
    assert events["outer"]["distinct_id"] == "u_outer"
    assert is_personless(events["none"])


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("", ValueError),
        ("   ", ValueError),
        ("u" * 201, ValueError),  # PostHog refuses it, and the batch it travels in
        (None, TypeError),
        (42, TypeError),
        (b"u_1", TypeError),
    ],
)
def test_invalid_distinct_ids_are_refused(bad: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="distinct id"), analyticskit.user(bad):
        pass
    with pytest.raises(error, match="distinct id"):
        analyticskit.bind_user(bad)
    assert analyticskit.current_user() is None


def test_capture_event_uses_the_bound_user(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    analytics = make_analytics()
    data = EventData(event_type="info", id="opened_settings")
    with analyticskit.user("u_7"):
        analytics.capture_event(data, properties={"marker": "bound"})
        analytics.capture_event(data, from_user_id="u_8", properties={"marker": "explicit"})
    analytics.capture_event(data, properties={"marker": "none"})

    assert analytics.flush(timeout=5)
    events = by_marker(capture_server.wait_for(3))
    assert events["bound"]["distinct_id"] == "u_7"
    assert events["explicit"]["distinct_id"] == "u_8"
    assert is_personless(events["none"])


# -- threads --------------------------------------------------------------------------------


def test_each_thread_has_its_own_binding(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    threads_n, records_n = 8, 5
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            with analyticskit.user(f"thread-{index}"):
                barrier.wait(timeout=5)  # all bound at once: the bindings overlap
                for step in range(records_n):
                    log.info("work step", extra={"worker": index, "step": step})
                    assert analyticskit.current_user() == f"thread-{index}"
                barrier.wait(timeout=5)
            assert analyticskit.current_user() is None
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    with analyticskit.user("main-thread"):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        log.info("main", extra={"worker": -1, "step": 0})
    assert not errors

    events = deliver(handler, capture_server, threads_n * records_n + 1)
    for event in events:
        worker = event["properties"]["worker"]
        expected = "main-thread" if worker == -1 else f"thread-{worker}"
        assert event["distinct_id"] == expected


@pytest.mark.skipif(
    bool(getattr(sys.flags, "thread_inherit_context", False)),
    reason="threads inherit the starting thread's context on this interpreter",
)
def test_a_new_thread_does_not_see_the_starting_threads_user(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    with analyticskit.user("main-thread"):
        thread = threading.Thread(target=log.info, args=("from a plain thread",))
        thread.start()
        thread.join(timeout=10)

    [event] = deliver(handler, capture_server, 1)
    assert is_personless(event)


def test_thread_pool_tasks_bind_their_own_users(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()

    def task(index: int) -> None:
        with analyticskit.user(f"task-{index}"):
            log.info("pooled", extra={"marker": index})

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(task, range(12)))
        # A worker thread reused after a task keeps nothing of the task's binding.
        pool.submit(log.info, "unbound", extra={"marker": "unbound"}).result()

    events = by_marker(deliver(handler, capture_server, 13))
    for index in range(12):
        assert events[index]["distinct_id"] == f"task-{index}"
    assert is_personless(events["unbound"])


# -- asyncio --------------------------------------------------------------------------------


def test_each_asyncio_task_has_its_own_binding(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    tasks_n, records_n = 6, 4

    async def request(index: int) -> None:
        with analyticskit.user(f"async-{index}"):
            for step in range(records_n):
                log.info("handling", extra={"task": index, "step": step})
                await asyncio.sleep(0)  # let the other tasks run in between
            await asyncio.to_thread(log.info, "offloaded", extra={"task": index, "step": -1})

    async def leaky(index: int) -> None:
        analyticskit.bind_user(f"leaky-{index}")  # never reset: stays in this task
        log.info("leaky", extra={"task": 100 + index, "step": 0})

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(tasks_n)), leaky(0), leaky(1))
        assert analyticskit.current_user() is None
        log.info("after gather", extra={"task": -1, "step": 0})

    asyncio.run(main())

    events = deliver(handler, capture_server, tasks_n * (records_n + 1) + 3)
    for event in events:
        task = event["properties"]["task"]
        if task == -1:
            assert is_personless(event)
        elif task >= 100:
            assert event["distinct_id"] == f"leaky-{task - 100}"
        else:
            assert event["distinct_id"] == f"async-{task}"


# -- posthog's own context ------------------------------------------------------------------


def test_posthog_identify_context_is_honoured(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    with posthog.new_context(fresh=True, capture_exceptions=False):
        posthog.identify_context("ph-user")
        assert analyticskit.current_user() == "ph-user"
        log.info("identified by posthog", extra={"marker": "posthog"})
        with analyticskit.user("ak-user"):
            assert analyticskit.current_user() == "ak-user"
            log.info("bound wins", extra={"marker": "bound"})
            log.info("uid wins", extra={"marker": "uid", "uid": "explicit"})
    log.info("outside", extra={"marker": "outside"})

    events = by_marker(deliver(handler, capture_server, 4))
    assert events["posthog"]["distinct_id"] == "ph-user"
    assert "$process_person_profile" not in events["posthog"]["properties"]
    assert events["bound"]["distinct_id"] == "ak-user"
    assert events["uid"]["distinct_id"] == "explicit"
    assert is_personless(events["outside"])


def test_posthog_context_tags_and_session_travel_with_the_record(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    with posthog.new_context(fresh=True, capture_exceptions=False):
        posthog.tag("request_id", "req-1")
        posthog.set_context_session("session-1")
        log.info("tagged", extra={"marker": "tagged"})
    log.info("untagged", extra={"marker": "untagged"})

    events = by_marker(deliver(handler, capture_server, 2))
    assert events["tagged"]["properties"]["request_id"] == "req-1"
    assert events["tagged"]["properties"]["$session_id"] == "session-1"
    assert "request_id" not in events["untagged"]["properties"]
    assert "$session_id" not in events["untagged"]["properties"]


def test_posthog_context_per_asyncio_task(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()

    async def request(index: int) -> None:
        with posthog.new_context(fresh=True, capture_exceptions=False):
            posthog.identify_context(f"ph-{index}")
            await asyncio.sleep(0)
            log.info("in request", extra={"marker": index})

    async def main() -> None:
        await asyncio.gather(*(request(i) for i in range(5)))

    asyncio.run(main())

    events = by_marker(deliver(handler, capture_server, 5))
    assert {m: e["distinct_id"] for m, e in events.items()} == {i: f"ph-{i}" for i in range(5)}
