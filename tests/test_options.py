"""Every option is declared once (`analyticskit._options`): the typed signatures, the
front-ends, `configure`, the docstrings and the README's table agree with that
declaration, and every front-end takes every option the handler takes."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import analyticskit
from analyticskit import testing
from analyticskit._options import (
    ANALYTICS_OPTIONS,
    FRONT_END_OPTIONS,
    OPTIONS,
    default_text,
    readme_table,
)
from capture_server import CaptureServer
from helpers import MakeAnalytics, unique_name

README = Path(__file__).resolve().parent.parent / "README.md"


def _parameters(function: Any) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_analytics_signature_is_the_declaration() -> None:
    parameters = _parameters(analyticskit.Analytics)
    assert set(parameters) == {o.name for o in ANALYTICS_OPTIONS}
    for option in ANALYTICS_OPTIONS:
        parameter = parameters[option.name]
        assert parameter.default == option.analytics, option.name
        assert parameter.annotation == option.type, option.name


def test_handler_signature_is_the_declaration() -> None:
    parameters = _parameters(analyticskit.PostHogHandler)
    assert set(parameters) == {o.name for o in FRONT_END_OPTIONS}
    for option in FRONT_END_OPTIONS:
        parameter = parameters[option.name]
        assert parameter.default == option.handler, option.name
        # A connection option is None on a front-end until given.
        expected = option.type if "None" in option.type or not option.connection else None
        assert parameter.annotation in (expected, f"{option.type} | None"), option.name


def test_configure_takes_what_analytics_takes() -> None:
    assert inspect.signature(analyticskit.configure) == inspect.signature(analyticskit.Analytics)
    with pytest.raises(TypeError, match="no_such_option"):
        analyticskit.configure(no_such_option=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("cls", "layer", "options"),
    [
        (analyticskit.Analytics, "analytics", ANALYTICS_OPTIONS),
        (analyticskit.PostHogHandler, "handler", FRONT_END_OPTIONS),
    ],
)
def test_docstrings_list_every_option(cls: type, layer: str, options: Any) -> None:
    doc = cls.__doc__ or ""
    assert "analyticskit._options declares" not in doc  # the marker was replaced
    for option in options:
        assert re.search(rf"^\s+{option.name}: ", doc, re.MULTILINE), option.name


def test_readme_table_is_the_declaration() -> None:
    table = readme_table()
    assert table in README.read_text(encoding="utf-8"), (
        "README's options table differs from the declaration; print the new one with:"
        " python -c 'from analyticskit._options import readme_table; print(readme_table())'"
    )
    for option in OPTIONS:
        assert f"| `{option.name}` |" in table
        assert default_text(option, "analytics") in table


def test_every_declared_option_is_a_front_end_option() -> None:
    """structlog's processor and loguru's sink take exactly the handler's options:
    each declared option is accepted (with a value of its own), an unknown one is not."""
    pytest.importorskip("structlog")
    pytest.importorskip("loguru")
    from analyticskit.structlog import PostHogProcessor

    sample: dict[str, Any] = {
        "api_key": None,
        "host": None,
        "client": None,
        "analytics": None,
        "max_queued": None,
        "shutdown_timeout": None,
        "scrub": None,
        "scrub_keys": None,
        "scrub_patterns": None,
        "sink": testing.MemorySink(),
        "before_send": lambda event: event,
        "rate_limit": {"burst": 10, "per_second": 1},
        "sources": {"myapp": "auth"},
        "default_source": "db",
        "level_map": {"WARNING": "error"},
        "include": ["myapp"],
        "exclude": ["myapp.noisy"],
        "ignore_loggers": ["chatty"],
        "capture_exceptions": True,
        "dedupe_window": 2.0,
        "sample_levels": {"DEBUG": 0.5},
        "sample_loggers": {"myapp.debug": 0.5},
        "event_level": "WARNING",
        "logs_level": "INFO",
        "service_name": "svc",
        "service_version": "1.0",
        "environment": "test",
        "logs_endpoint": "http://127.0.0.1:4318/v1/logs",
        "logs_rate_cap": {"max_logs": 100, "window": 1},
    }
    assert set(sample) == {o.name for o in FRONT_END_OPTIONS}, "a new option needs a sample"
    made: list[Any] = [
        analyticskit.PostHogHandler(**sample),
        PostHogProcessor(**sample),
        analyticskit.loguru_sink(**sample),
    ]
    for front_end in made:
        assert isinstance(front_end.analytics.sink, testing.MemorySink)
        assert front_end.analytics.logs_delivery is not None  # the logs lane is on
        front_end.analytics.shutdown(1)
    for make in (PostHogProcessor, analyticskit.loguru_sink):
        with pytest.raises(TypeError, match=r"unknown option.*no_such_option"):
            make(no_such_option=1)


def test_structlog_and_loguru_have_the_logs_lane(
    make_analytics: MakeAnalytics, capture_server: CaptureServer
) -> None:
    """`logs_level` and `event_level` route structlog's and loguru's records as the
    handler's: INFO to logs only, WARNING to both lanes."""
    structlog = pytest.importorskip("structlog")
    loguru = pytest.importorskip("loguru")
    from analyticskit.structlog import PostHogProcessor

    analytics = make_analytics()
    processor = PostHogProcessor(
        level="INFO", analytics=analytics, event_level="WARNING", logs_level="INFO"
    )
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[structlog.processors.add_log_level, processor, _drop],
    )
    logger.info("structlog info", uid="u_1")
    logger.warning("structlog warning")
    name = unique_name()
    sink_id = loguru.logger.add(
        analyticskit.loguru_sink(analytics=analytics, event_level="WARNING", logs_level="INFO"),
        level=0,
    )
    try:
        patched = loguru.logger.patch(lambda record: record.update(name=name))
        patched.debug("loguru debug")
        patched.info("loguru info")
        patched.warning("loguru warning")
    finally:
        loguru.logger.remove(sink_id)
    assert analytics.flush(5)
    logs = capture_server.wait_for_logs(4)
    assert sorted(log["body"] for log in logs) == [
        "loguru info",
        "loguru warning",
        "structlog info",
        "structlog warning",
    ]
    by_body = {log["body"]: log for log in logs}
    assert by_body["structlog info"]["attributes"]["posthogDistinctId"] == "u_1"
    assert by_body["loguru info"]["attributes"]["logger.name"] == name
    assert by_body["loguru info"]["attributes"]["code.file.path"].endswith("test_options.py")
    events = capture_server.wait_for(2)
    assert sorted(e["event"] for e in events) == ["info_loguru_warning", "info_structlog_warning"]
    stats = analytics.stats()
    assert stats.logs is not None
    assert (stats.logs.emitted, stats.logs.sent) == (4, 4)


def _drop(_logger: Any, _method: str, _event_dict: Any) -> Any:
    import structlog

    raise structlog.DropEvent


def test_a_second_front_end_with_other_logs_settings_is_refused(
    make_analytics: MakeAnalytics,
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    analytics = make_analytics()
    analyticskit.PostHogHandler(analytics=analytics, logs_level="INFO", service_name="billing")
    # The same settings, or none, share the lane.
    analyticskit.PostHogHandler(analytics=analytics, logs_level="INFO", service_name="billing")
    analyticskit.PostHogHandler(analytics=analytics, logs_level="INFO")
    with pytest.raises(ValueError, match=r"service_name='shop' \(the lane has 'billing'\)"):
        analyticskit.PostHogHandler(analytics=analytics, logs_level="INFO", service_name="shop")
