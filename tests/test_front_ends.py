"""The three logging front-ends (stdlib `PostHogHandler`, structlog's `PostHogProcessor`,
`loguru_sink`) map records to events by one set of rules: the shared case tables of
mapping_cases.py run through each, over real HTTP to the capture server."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any, Protocol

import pytest

import analyticskit
from analyticskit import _diagnostics
from analyticskit._engine.scrub import Scrubber
from capture_server import CaptureServer
from helpers import MakeAnalytics, RunPython, is_personless, unique_name
from mapping_cases import (
    EXTRA_CASES,
    FIELD_EXTRAS,
    FORMATTED_ID_CASES,
    LEVEL_CASES,
    ExtraCase,
)

structlog = pytest.importorskip("structlog")
loguru = pytest.importorskip("loguru")

FRONT_ENDS = ["stdlib", "structlog", "loguru"]


class Driver(Protocol):
    """Logs through one front-end, wired to an `Analytics` aimed at the capture server."""

    name: str
    logger_name: str
    analytics: analyticskit.Analytics

    def log(self, level: str, message: str, extra: dict[str, Any]) -> None: ...

    def log_exception(self, message: str, extra: dict[str, Any]) -> None: ...

    def bound(self, uid: str) -> Any:
        """A context manager binding ``uid`` the front-end's own way."""
        ...


class StdlibDriver:
    name = "stdlib"

    def __init__(
        self, analytics: analyticskit.Analytics, name: str, options: dict[str, Any]
    ) -> None:
        self.logger_name = name
        self.analytics = analytics
        self.handler = analyticskit.PostHogHandler(analytics=analytics, **options)
        self.logger = logging.getLogger(self.logger_name)
        self.logger.setLevel(1)
        self.logger.propagate = False
        self.logger.addHandler(self.handler)

    def log(self, level: str, message: str, extra: dict[str, Any]) -> None:
        self.logger.log(logging.getLevelName(level), message, extra=extra)

    def log_exception(self, message: str, extra: dict[str, Any]) -> None:
        self.logger.exception(message, extra=extra)

    def bound(self, uid: str) -> Any:
        return analyticskit.user(uid)

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


class StructlogDriver:
    name = "structlog"

    def __init__(
        self, analytics: analyticskit.Analytics, name: str, options: dict[str, Any]
    ) -> None:
        from analyticskit.structlog import PostHogProcessor

        self.logger_name = name
        self.analytics = analytics
        self.passed_on: list[MutableMapping[str, Any]] = []
        self.processor = PostHogProcessor(level=1, analytics=analytics, **options)
        wrapped = structlog.ReturnLogger()
        wrapped.name = name  # the processor reads a wrapped logger's name, like stdlib's
        self.logger = structlog.wrap_logger(
            wrapped,
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                self.processor,
                self._last,
            ],
            wrapper_class=structlog.BoundLogger,  # any method name, success included
        )

    def _last(self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        self.passed_on.append(event_dict)
        raise structlog.DropEvent

    def log(self, level: str, message: str, extra: dict[str, Any]) -> None:
        getattr(self.logger, level.lower())(message, **extra)

    def log_exception(self, message: str, extra: dict[str, Any]) -> None:
        self.logger.exception(message, **extra)

    def bound(self, uid: str) -> Any:
        return structlog.contextvars.bound_contextvars(uid=uid)

    def close(self) -> None:
        pass


class LoguruDriver:
    name = "loguru"

    def __init__(
        self, analytics: analyticskit.Analytics, name: str, options: dict[str, Any]
    ) -> None:
        self.logger_name = name
        self.analytics = analytics
        self.sink = analyticskit.loguru_sink(analytics=analytics, **options)
        self.sink_id = loguru.logger.add(self.sink, level=0)
        # loguru's record["name"] is the calling module's __name__: renamed for the test.
        self.logger = loguru.logger.patch(lambda record: record.update(name=name))

    def log(self, level: str, message: str, extra: dict[str, Any]) -> None:
        self.logger.bind(**extra).log(level, message)

    def log_exception(self, message: str, extra: dict[str, Any]) -> None:
        self.logger.bind(**extra).exception(message)

    def bound(self, uid: str) -> Any:
        return loguru.logger.contextualize(uid=uid)

    def close(self) -> None:
        loguru.logger.remove(self.sink_id)


MakeDriver = Callable[..., Driver]
DRIVERS: dict[str, Any] = {
    "stdlib": StdlibDriver,
    "structlog": StructlogDriver,
    "loguru": LoguruDriver,
}


@pytest.fixture(params=FRONT_ENDS)
def make_driver(
    request: pytest.FixtureRequest, make_analytics: MakeAnalytics
) -> Iterator[MakeDriver]:
    """``make(name=None, **options)``: a driver for the front-end of the test's parameter."""
    made: list[Any] = []

    def make(name: str | None = None, **options: Any) -> Driver:
        driver = DRIVERS[request.param](make_analytics(), name or unique_name(), options)
        made.append(driver)
        return driver  # type: ignore[no-any-return]

    yield make
    for driver in made:
        driver.close()


def deliver(driver: Driver, server: CaptureServer, n: int) -> list[dict[str, Any]]:
    """Flush the driver's delivery and return exactly the ``n`` events the server got."""
    assert driver.analytics.flush(5)
    events = server.wait_for(n)
    assert len(events) == n, [e["event"] for e in events]
    return events


# -- the shared tables -----------------------------------------------------------------------


@pytest.mark.parametrize(("level", "_number", "event_type", "relevancy"), LEVEL_CASES)
def test_level_gives_event_type_and_relevancy(
    make_driver: MakeDriver,
    capture_server: CaptureServer,
    level: str,
    _number: int,
    event_type: str,
    relevancy: str,
) -> None:
    driver = make_driver()
    driver.log(level, "user signed in", {})

    [event] = deliver(driver, capture_server, 1)
    assert event["event"] == f"{event_type}_user_signed_in"
    assert event["properties"]["eventType"] == event_type
    assert event["properties"]["relevancy"] == relevancy
    assert event["properties"]["level"] == level


@pytest.mark.parametrize(("message", "expected_id"), FORMATTED_ID_CASES)
def test_id_of_a_formatted_message(
    make_driver: MakeDriver, capture_server: CaptureServer, message: str, expected_id: str
) -> None:
    driver = make_driver()
    driver.log("INFO", message, {})

    [event] = deliver(driver, capture_server, 1)
    # The three front-ends name one message the same way.
    assert event["properties"]["id"] == expected_id
    assert event["event"] == f"info_{expected_id}"
    # The full text, scrubbed.
    assert event["properties"]["longDescription"] == Scrubber().text(message)


@pytest.mark.parametrize("case", EXTRA_CASES.values(), ids=EXTRA_CASES.keys())
def test_extra_keys(
    make_driver: MakeDriver, capture_server: CaptureServer, case: ExtraCase
) -> None:
    driver = make_driver()
    driver.log(case.level, case.message, dict(case.extra))

    [event] = deliver(driver, capture_server, 1)
    assert event["event"] == case.event
    if case.distinct_id is None:
        assert is_personless(event)
    else:
        assert event["distinct_id"] == case.distinct_id
    props = event["properties"]
    assert {k: props.get(k) for k in case.properties} == case.properties
    for key in FIELD_EXTRAS:
        assert key not in props


def test_sources_by_logger_name_prefix(
    make_driver: MakeDriver, capture_server: CaptureServer
) -> None:
    prefix = unique_name()
    driver = make_driver(f"{prefix}.app.db", sources={prefix: "auth", f"{prefix}.app": "db"})
    driver.log("INFO", "routed", {})

    [event] = deliver(driver, capture_server, 1)
    assert event["properties"]["source"] == "db"
    assert event["properties"]["logger"] == f"{prefix}.app.db"


def test_a_bad_value_is_reported_once(
    make_driver: MakeDriver, capture_server: CaptureServer, capfd: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("extra-relevancy")
    driver = make_driver()
    driver.log("INFO", "first", {"relevancy": "urgent"})
    driver.log("INFO", "second", {"relevancy": "critical"})

    events = deliver(driver, capture_server, 2)
    assert {e["properties"]["relevancy"] for e in events} == {"medium"}
    reports = [line for line in capfd.readouterr().err.splitlines() if "relevancy=" in line]
    assert len(reports) == 1, reports
    assert reports[0].startswith("analyticskit: ") and "'urgent'" in reports[0]


def test_the_default_volume_caps_through_each_front_end(
    make_driver: MakeDriver, capture_server: CaptureServer
) -> None:
    # The default rate cap; a de-duplication window no pause of a loaded machine
    # outlasts, so that the 1,000 repeats are all inside it.
    driver = make_driver(dedupe_window=60.0)
    for _ in range(1_000):
        driver.log("ERROR", "database unreachable", {})
    for i in range(300):
        driver.log("WARNING", f"payment {i} failed", {"id": "payment_failed"})
    assert driver.analytics.flush(5)

    stats = driver.analytics.stats()
    events = capture_server.wait_for(stats.sent)
    assert len(events) == stats.sent
    names = Counter(e["event"] for e in events)
    # The same error: the first, then one summary of the other 999.
    assert names["error_database_unreachable"] == 2
    assert sorted(
        e["properties"].get("repeatCount", 0)
        for e in events
        if e["event"] == "error_database_unreachable"
    ) == [0, 999]
    # One event name: 100 at once, then 5 a second.
    assert 100 <= names["info_payment_failed"] <= 110
    assert stats.dropped["deduplicated"] == 999
    assert stats.dropped["rate_limited"] == 300 - names["info_payment_failed"]
    assert stats.emitted == stats.sent + stats.dropped_total


# -- context, exceptions ---------------------------------------------------------------------


def test_bound_context_becomes_the_distinct_id(
    make_driver: MakeDriver, capture_server: CaptureServer
) -> None:
    driver = make_driver()
    with driver.bound("u_ctx"):
        driver.log("INFO", "inside", {"marker": 1})
    with analyticskit.user("u_ak"):
        driver.log("INFO", "analyticskit user", {"marker": 2})
    driver.log("INFO", "outside", {"marker": 3})

    events = {e["properties"]["marker"]: e for e in deliver(driver, capture_server, 3)}
    assert events[1]["distinct_id"] == "u_ctx"
    assert events[2]["distinct_id"] == "u_ak"
    assert is_personless(events[3])


def test_an_exception_logged_through_each(
    make_driver: MakeDriver, capture_server: CaptureServer
) -> None:
    driver = make_driver(capture_exceptions=True)
    try:
        raise ValueError("card declined")
    except ValueError:
        driver.log_exception("charge failed", {"uid": "u_1"})

    events = deliver(driver, capture_server, 2)
    [exception] = [e for e in events if e["event"] == "$exception"]
    [event] = [e for e in events if e["event"] != "$exception"]
    assert event["event"] == "error_charge_failed"
    assert event["distinct_id"] == "u_1" == exception["distinct_id"]
    description = event["properties"]["longDescription"]
    assert description.startswith("charge failed\nTraceback (most recent call last):")
    assert description.rstrip().endswith("ValueError: card declined")
    assert event["properties"]["exception_uuid"] == exception["uuid"]
    assert exception["properties"]["$exception_list"][0]["type"] == "ValueError"


# -- structlog ------------------------------------------------------------------------------


def structlog_logger(processor: Any, sink: list[Any]) -> Any:
    def last(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
        sink.append(event_dict)
        raise structlog.DropEvent

    return structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[processor, last], wrapper_class=structlog.BoundLogger
    )


def test_structlog_passes_the_event_dict_on_unchanged(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    from analyticskit.structlog import PostHogProcessor

    processor = PostHogProcessor(analytics=make_analytics())
    passed: list[MutableMapping[str, Any]] = []
    log = structlog_logger(processor, passed)
    log.info("paid", uid="u_1", source="iap", name="clash", exc_info=False)
    log.debug("below the level")

    assert passed == [
        {"event": "paid", "uid": "u_1", "source": "iap", "name": "clash", "exc_info": False},
        {"event": "below the level"},
    ]
    assert processor.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["properties"]["source"] == "iap"
    # A key named like a LogRecord attribute travels with a trailing underscore.
    assert event["properties"]["name_"] == "clash"
    assert processor.stats().sent == 1


def test_structlog_levels_from_the_method_or_an_odd_level_key(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    from analyticskit.structlog import PostHogProcessor

    processor = PostHogProcessor(level="DEBUG", analytics=make_analytics())
    log = structlog_logger(processor, [])
    log.warn("warned", marker=1)  # no add_log_level: the method's name
    log.msg("plain msg", marker=2)
    log.info("odd level key", level=42, marker=3)  # not a name: the method's
    log.info("unknown level name", level="loud", marker=4)  # unknown: INFO
    log.fatal("fatal", marker=5)

    assert processor.flush(5)
    events = {e["properties"]["marker"]: e for e in capture_server.wait_for(5)}
    assert {m: e["properties"]["level"] for m, e in events.items()} == {
        1: "WARNING",
        2: "INFO",
        3: "INFO",
        4: "INFO",
        5: "CRITICAL",
    }
    assert events[5]["properties"]["eventType"] == "error"


def test_structlog_origin_from_callsite_parameters_and_format_exc_info(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    from analyticskit.structlog import PostHogProcessor

    processor = PostHogProcessor(analytics=make_analytics())
    log = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.MODULE,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                    structlog.processors.CallsiteParameter.LINENO,
                ]
            ),
            structlog.processors.format_exc_info,
            processor,
            structlog.processors.KeyValueRenderer(),
        ],
    )
    try:
        raise KeyError("k")
    except KeyError:
        rendered = log.error("lookup failed", exc_info=True)

    assert "lookup failed" in rendered
    assert processor.flush(5)
    [event] = capture_server.wait_for(1)
    props = event["properties"]
    assert props["module"] == "test_front_ends"
    assert props["function"] == "test_structlog_origin_from_callsite_parameters_and_format_exc_info"
    assert isinstance(props["line"], int)
    assert props["longDescription"].startswith("lookup failed\nTraceback")
    assert "KeyError: 'k'" in props["longDescription"]
    assert "exception" not in props


def test_structlog_handing_off_to_stdlib_sends_once(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    # The processor in the chain, stdlib logging behind it: a PostHogHandler there
    # must exclude the loggers structlog writes to, or each record is sent twice.
    from analyticskit.structlog import PostHogProcessor

    analytics = make_analytics()
    name = unique_name()
    seen: list[logging.LogRecord] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = analyticskit.PostHogHandler(analytics=analytics, exclude=[name])
    std = logging.getLogger(name)
    std.setLevel(logging.INFO)
    std.propagate = False
    std.addHandler(handler)
    std.addHandler(Spy())
    log = structlog.wrap_logger(
        std,
        processors=[
            structlog.stdlib.add_logger_name,
            PostHogProcessor(analytics=analytics, sources={name: "db"}),
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        log.info("handed off", uid="u_5")
    finally:
        std.handlers.clear()

    assert analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["event"] == "info_handed_off"
    assert event["distinct_id"] == "u_5"
    assert event["properties"]["source"] == "db"
    assert event["properties"]["logger"] == name
    [record] = seen
    assert record.getMessage() == "handed off"
    assert record.uid == "u_5"  # type: ignore[attr-defined]
    assert analytics.stats().dropped["filtered"] == 1


def test_structlog_processor_never_raises_into_the_chain(
    make_analytics: MakeAnalytics, capfd: pytest.CaptureFixture[str]
) -> None:
    from analyticskit.structlog import PostHogProcessor

    _diagnostics._reported.discard("structlog-emit")
    processor = PostHogProcessor(analytics=make_analytics())
    event_dict: dict[str, Any] = {"event": "broken"}
    # An event dict whose level cannot be read: the processor reports and passes it on.
    assert processor(object(), "info", _Unreadable(event_dict)) is not None
    err = capfd.readouterr().err
    assert "PostHogProcessor could not queue an event" in err
    assert processor.stats().dropped["invalid"] == 1


class _Unreadable(dict[str, Any]):
    def get(self, key: str, default: Any = None) -> Any:
        if key == "level":
            raise RuntimeError("unreadable")
        return super().get(key, default)


@pytest.mark.parametrize(
    ("options", "exc", "fragment"),
    [
        ({"bogus": 1}, TypeError, "bogus"),
        ({"level": "LOUD"}, ValueError, "LOUD"),
        ({"default_source": "nope"}, ValueError, "default_source"),
        ({"analytics": object()}, TypeError, "analytics"),
    ],
)
def test_front_end_options_are_checked(
    options: dict[str, Any], exc: type[Exception], fragment: str
) -> None:
    from analyticskit.structlog import PostHogProcessor

    for make in (PostHogProcessor, analyticskit.loguru_sink):
        with pytest.raises(exc, match=fragment):
            make(**options)


# -- loguru ---------------------------------------------------------------------------------


def test_loguru_formatted_messages_group_under_one_event_name(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    sink = analyticskit.loguru_sink(level="INFO", analytics=make_analytics())
    sink_id = loguru.logger.add(sink, level="TRACE")
    try:
        for n in (7, 12):
            loguru.logger.info("paid {} euros for order {order}", n, order=f"o_{n}")
        loguru.logger.trace("below the sink's level")
    finally:
        loguru.logger.remove(sink_id)

    assert sink.flush(5)
    events = capture_server.wait_for(2)
    assert {e["event"] for e in events} == {"info_paid_euros_for_order"}
    assert sorted(e["properties"]["order"] for e in events) == ["o_12", "o_7"]
    assert sink.stats().sent == 2


def test_loguru_sink_never_raises(
    make_analytics: MakeAnalytics, capfd: pytest.CaptureFixture[str]
) -> None:
    _diagnostics._reported.discard("loguru-emit")
    sink = analyticskit.loguru_sink(analytics=make_analytics())
    sink("not a loguru message")
    assert "the loguru sink could not queue an event" in capfd.readouterr().err
    assert sink.stats().dropped["invalid"] == 1


# -- the extras are optional -----------------------------------------------------------------


def test_the_core_imports_neither_front_end_library(run_python: RunPython) -> None:
    result = run_python(
        """
        import sys
        import analyticskit
        analyticskit.PostHogHandler, analyticskit.capture_event
        print(sorted(m for m in ("structlog", "loguru") if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("blocked", "code"),
    [
        ("structlog", "import analyticskit.structlog"),
        ("structlog", "analyticskit.structlog.PostHogProcessor"),
        ("loguru", "analyticskit.loguru_sink()"),
    ],
)
def test_a_missing_extra_is_named(run_python: RunPython, blocked: str, code: str) -> None:
    result = run_python(
        f"""
        import sys
        sys.modules[{blocked!r}] = None  # as if not installed
        import analyticskit
        try:
            {code}
        except ImportError as error:
            print("ImportError:", error)
        """
    )
    assert result.returncode == 0, result.stderr
    assert f"pip install 'analyticskit-posthog[{blocked}]'" in result.stdout, result.stdout


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        analyticskit.no_such_name  # noqa: B018


def test_structlog_exc_info_as_an_exception_a_tuple_or_nonsense(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    from analyticskit.structlog import PostHogProcessor

    analytics = make_analytics()
    processor = PostHogProcessor(analytics=analytics, capture_exceptions=True)
    assert processor.analytics is analytics
    log = structlog_logger(processor, [])
    try:
        raise KeyError("k")
    except KeyError as error:
        caught = error
    log.error("as an exception", exc_info=caught, marker=1)
    log.error("as a tuple", exc_info=(KeyError, caught, caught.__traceback__), marker=2)
    log.error("as nonsense", exc_info="yes", marker=3)

    assert processor.flush(5)
    events = capture_server.wait_for(4)
    exceptions = [e for e in events if e["event"] == "$exception"]
    records = {e["properties"]["marker"]: e for e in events if e["event"] != "$exception"}
    assert len(exceptions) == 1  # the same exception, logged twice, is sent once
    for marker in (1, 2):
        assert "KeyError: 'k'" in records[marker]["properties"]["longDescription"]
    assert records[3]["properties"]["longDescription"] == "as nonsense"
