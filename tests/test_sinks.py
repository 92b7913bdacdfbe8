"""Pluggable sinks: `Analytics(sink=...)` and `PostHogHandler(sink=...)` deliver to any
object with the `Sink` protocol's members, with the delivery engine's guarantees; the
local sink writes strict JSON, one event a line, whatever the event holds."""

from __future__ import annotations

import json
import logging
import logging.config
import threading
from typing import Any

import pytest

import analyticskit
from analyticskit import Analytics, LossReport, Message, PostHogHandler
from helpers import SEED, SEED_WIRE, release, unique_name


class ListSink:
    """A sink of the test's own: keeps messages; ``gate`` blocks ``send`` until set."""

    description = "a list"

    def __init__(self, *, answer: int = 1, error: Exception | None = None) -> None:
        self.messages: list[Message] = []
        self.answer = answer
        self.error = error
        self.gate = threading.Event()
        self.gate.set()
        self.report: LossReport | None = None
        self.closed = False

    def attach(self, report: LossReport) -> None:
        self.report = report

    def warm_up(self) -> None:
        pass

    def send(self, message: Message) -> int:
        self.gate.wait(10)
        if self.error is not None:
            raise self.error
        self.messages.append(message)
        return self.answer

    def pending(self) -> int:
        return 0

    def flush(self, timeout: float) -> None:
        pass

    def close(self, timeout: float) -> None:
        self.closed = True


def test_analytics_delivers_to_a_sink_of_its_own() -> None:
    sink = ListSink()
    analytics = Analytics(sink=sink)
    assert analytics.sink is sink and analytics.client is None
    assert repr(analytics) == "<Analytics to a list>"
    analytics.capture_event(SEED, from_user_id="u1", properties={"n": float("nan")})
    assert analytics.flush(5)
    [message] = sink.messages
    assert (message.name, message.distinct_id) == ("info_fetch_all_users", "u1")
    assert message.properties == {"n": None, **SEED_WIRE}
    stats = analytics.shutdown(2)
    assert (stats.emitted, stats.sent, stats.dropped_total) == (1, 1, 0)
    assert sink.closed


def test_a_sink_gets_the_engines_memory_bound_and_counters() -> None:
    sink = ListSink()
    sink.gate.clear()  # the worker is stuck in send(): the buffer fills up
    analytics = Analytics(sink=sink, max_queued=5)
    for _ in range(20):
        analytics.capture_event(SEED)
    stats = analytics.stats()
    assert stats.dropped["buffer_full"] >= 14
    sink.gate.set()
    assert analytics.flush(5)
    stats = analytics.shutdown(2)
    assert stats.emitted == 20 == stats.sent + stats.dropped_total
    assert len(sink.messages) == stats.sent


@pytest.mark.parametrize(
    ("sink", "reason"),
    [(ListSink(answer=0), "buffer_full"), (ListSink(error=RuntimeError("boom")), "invalid")],
    ids=["refused", "raised"],
)
def test_a_sink_that_refuses_or_raises_is_counted(sink: ListSink, reason: str) -> None:
    analytics = Analytics(sink=sink)
    analytics.capture_event(SEED)
    analytics.flush(2)
    stats = analytics.shutdown(2)
    assert (stats.emitted, stats.sent, stats.dropped[reason]) == (1, 0, 1)  # type: ignore[index]


def test_losses_a_sink_reports_are_counted() -> None:
    sink = ListSink()
    analytics = Analytics(sink=sink)
    analytics.capture_event(SEED)
    analytics.flush(2)
    assert sink.report is not None
    sink.report("rejected", 1)
    stats = analytics.shutdown(2)
    assert (stats.sent, stats.dropped["rejected"]) == (0, 1)


def test_configure_with_a_sink_replaces_the_default() -> None:
    sink = ListSink()
    previous = analyticskit.analytics.swap_default(None)
    try:
        analyticskit.configure(sink=sink)
        analyticskit.capture_event(SEED)
        assert analyticskit.flush(5)
        assert [m.name for m in sink.messages] == ["info_fetch_all_users"]
    finally:
        analyticskit.shutdown(2)
        analyticskit.analytics.swap_default(previous)


def test_handler_delivers_records_to_a_sink() -> None:
    sink = ListSink()
    handler = PostHogHandler(sink=sink)
    logger = logging.getLogger(unique_name())
    logger.addHandler(handler)
    logger.propagate = False
    assert handler.analytics.sink is sink
    logger.warning("disk %s is full", "sda", extra={"uid": "u7"})
    handler.flush(timeout=5)
    release(handler, logger)
    [message] = sink.messages
    assert (message.name, message.distinct_id) == ("info_disk_is_full", "u7")
    assert message.properties["relevancy"] == "high"


def test_handler_sink_from_dictconfig() -> None:
    name = unique_name()
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "posthog": {"class": "analyticskit.PostHogHandler", "sink": {"()": ListSink}}
            },
            "loggers": {name: {"handlers": ["posthog"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger(name)
    [handler] = logger.handlers
    assert isinstance(handler, PostHogHandler) and isinstance(handler.analytics.sink, ListSink)
    logger.info("hello")
    handler.flush(timeout=5)
    assert [m.name for m in handler.analytics.sink.messages] == ["info_hello"]
    release(handler, logger)


@pytest.mark.parametrize(
    ("options", "error", "fragments"),
    [
        ({"sink": object()}, TypeError, ["analyticskit.Sink", "object", "without", "send"]),
        ({"sink": "stderr"}, TypeError, ["str", "without", "attach"]),
        ({"sink": ListSink(), "api_key": "phc_x"}, ValueError, ["sink", "api_key", "not both"]),
        ({"sink": ListSink(), "host": "http://x"}, ValueError, ["sink", "host", "not both"]),
    ],
    ids=["object", "str", "with-api-key", "with-host"],
)
def test_bad_sinks_are_refused(
    options: dict[str, Any], error: type[Exception], fragments: list[str]
) -> None:
    for build in (Analytics, PostHogHandler):
        with pytest.raises(error) as raised:
            build(**options)
        for fragment in fragments:
            assert fragment in str(raised.value), raised.value


def test_uncallable_member_is_refused() -> None:
    sink = ListSink()
    sink.send = "not a method"  # type: ignore[assignment,method-assign]
    with pytest.raises(TypeError, match="whose send is not callable"):
        Analytics(sink=sink)


def test_handler_refuses_a_sink_beside_analytics() -> None:
    with pytest.raises(ValueError, match="give either analytics or sink"):
        PostHogHandler(sink=ListSink(), analytics=Analytics(sink=ListSink()))


STRANGE = {
    "nan": float("nan"),
    "minus_inf": float("-inf"),
    "inf": float("inf"),
    "separators": "a\u2028b\u2029c\u0085d",
    "controls": "e\nf\rg\vh\fi\x1cj\x1dk\x1el",
    "nested": {"deep": [float("nan"), "m\u2028n"]},
}


def _strict(line: str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"bare {token} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_local_sink_writes_one_strict_json_line_per_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    analytics = Analytics(sink=analyticskit.LocalSink())
    analytics.capture_event(SEED, from_user_id="u1", properties=STRANGE)
    analytics.capture_event(SEED, from_user_id="u2")
    analytics.shutdown(5)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("{")]
    assert len(lines) == 2, err  # splitlines() splits on U+2028, U+2029, U+0085 too
    first = _strict(lines[0])
    assert first["distinct_id"] == "u1"
    props = first["properties"]
    assert (props["nan"], props["minus_inf"], props["inf"]) == (None, None, None)
    assert props["separators"] == STRANGE["separators"]
    assert props["controls"] == STRANGE["controls"]
    assert props["nested"] == {"deep": [None, "m\u2028n"]}
    assert _strict(lines[1])["distinct_id"] == "u2"


def test_shutdown_deadline_holds_with_a_sink_stuck_in_send() -> None:
    sink = ListSink()
    sink.gate.clear()  # send() blocks (up to 10 s) on the worker
    analytics = Analytics(sink=sink)
    for _ in range(3):
        analytics.capture_event(SEED)
    analytics.delivery.wake()
    stats = analytics.shutdown(0.3)  # returns at its deadline, not when send() does
    assert stats.dropped["timeout"] >= 2
    assert stats.emitted == stats.sent + stats.failed + stats.pending + stats.dropped_total
    sink.gate.set()
