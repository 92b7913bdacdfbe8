"""What the framework integrations share, in one process: framework noise is not events
once one is on (the logs lane still gets it), a missing framework is named, and the
handler `install()` attached is never lost without a word (dictConfig, basicConfig,
a framework's takeover); `install()` called again never half-applies its arguments.

Each integration in its real server process: tests/test_recipe_*.py.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest

import analyticskit
from analyticskit import _noise
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import MakeHandler, RunPython

# (logger, level, extra): records that are a framework's noise, never events.
NOISE: list[tuple[str, int, dict[str, Any]]] = [
    ("uvicorn.access", logging.INFO, {}),
    ("gunicorn.access", logging.INFO, {}),
    ("django.server", logging.ERROR, {"status_code": 500}),  # runserver's access line
    ("werkzeug", logging.INFO, {}),
    ("celery.worker.strategy", logging.INFO, {}),
    ("kombu.connection", logging.WARNING, {}),
    ("billiard.pool", logging.DEBUG, {}),
    ("django.request", logging.WARNING, {"status_code": 404}),
]
# ...and records of the same loggers that are events.
SIGNAL: list[tuple[str, int, dict[str, Any]]] = [
    ("django.request", logging.ERROR, {"status_code": 500}),
    ("celery.app.trace", logging.ERROR, {}),
    ("werkzeug", logging.ERROR, {}),
    ("myapp.orders", logging.INFO, {}),
]


def handlers_of(logger: logging.Logger) -> list[analyticskit.PostHogHandler]:
    return [h for h in logger.handlers if isinstance(h, analyticskit.PostHogHandler)]


@pytest.fixture
def noise_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An integration's switch, turned back off after the test."""
    monkeypatch.setattr(_noise, "_on", False)
    yield


def record(name: str, level: int, extra: dict[str, Any], message: str) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": name, "levelno": level, "msg": message, **extra})
    made.levelname = logging.getLevelName(level)
    return made


def test_framework_noise_is_not_events_once_an_integration_is_on(
    make_handler: MakeHandler, capture_server: CaptureServer, noise_on: None
) -> None:
    handler, _ = make_handler()
    _noise.turn_on([handler])
    for i, (name, level, extra) in enumerate([*NOISE, *SIGNAL]):
        handler.handle(record(name, level, extra, f"line {i} of {name}"))
    assert handler.analytics.flush(5)
    events = capture_server.wait_for(len(SIGNAL))
    assert sorted(e["properties"]["logger"] for e in events) == sorted(n for n, _, _ in SIGNAL)
    # A record that asks to be an event is one, noise or not.
    forced = record("uvicorn.access", logging.INFO, {"posthog_event": True}, "asked for")
    handler.handle(forced)
    assert handler.analytics.flush(5)
    assert [e["event"] for e in capture_server.wait_for(len(SIGNAL) + 1)][-1] == "info_asked_for"


def test_without_an_integration_framework_records_are_events(
    make_handler: MakeHandler, capture_server: CaptureServer, noise_on: None
) -> None:
    handler, _ = make_handler()
    for i, (name, level, extra) in enumerate(NOISE):
        handler.handle(record(name, level, extra, f"line {i}"))
    assert handler.analytics.flush(5)
    assert len(capture_server.wait_for(len(NOISE))) == len(NOISE)


def test_framework_noise_goes_to_the_logs_lane_when_it_is_on(
    make_handler: MakeHandler, capture_server: CaptureServer, noise_on: None
) -> None:
    _noise.turn_on([])
    handler, _ = make_handler(logs_level="INFO")  # built after: the filter is on it too
    for i, (name, level, extra) in enumerate(NOISE):
        handler.handle(record(name, level, extra, f"noise {i}"))
    assert handler.analytics.flush(5)
    wanted = [f"noise {i}" for i, (_, level, _) in enumerate(NOISE) if level >= logging.INFO]
    logs = capture_server.wait_for_logs(len(wanted))
    assert sorted(log["body"] for log in logs) == sorted(wanted)
    assert capture_server.events == []


@pytest.mark.parametrize(
    ("module", "package"), [("flask", "flask"), ("celery", "celery"), ("django", "django")]
)
def test_an_integration_without_its_framework_names_it(
    monkeypatch: pytest.MonkeyPatch, module: str, package: str
) -> None:
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed
    monkeypatch.delitem(sys.modules, f"analyticskit.integrations.{module}", raising=False)
    with pytest.raises(ImportError, match=f"pip install {package}"):
        importlib.import_module(f"analyticskit.integrations.{module}")


# -- install() ---------------------------------------------------------------------------


def test_install_again_with_other_arguments_refuses_and_changes_nothing(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    first = analyticskit.install(api_key=API_KEY, host=capture_server.url)
    assert analyticskit.install(api_key=API_KEY, host=capture_server.url) is first
    assert analyticskit.install("INFO", api_key=API_KEY, host=capture_server.url) is first
    for level, options in [
        ("DEBUG", {"api_key": API_KEY, "host": capture_server.url}),
        ("INFO", {"api_key": API_KEY, "host": capture_server.url, "default_source": "auth"}),
        ("INFO", {}),
    ]:
        with pytest.raises(ValueError, match="install\\(\\) was already called") as raised:
            analyticskit.install(level, **options)
        assert "removeHandler" in str(raised.value)
    assert handlers_of(root_logger) == [first]
    assert first.level == logging.INFO


def test_install_refuses_options_for_a_handler_it_did_not_attach(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    handler = analyticskit.PostHogHandler(api_key=API_KEY, host=capture_server.url)
    root_logger.addHandler(handler)
    with pytest.raises(ValueError, match="did not attach"):
        analyticskit.install(default_source="auth")
    assert analyticskit.install(logging.WARNING) is handler  # a level alone applies
    assert handler.level == logging.WARNING


_DETACHED = """
import logging, logging.config, time
import analyticskit
from analyticskit import handler as handler_module

analyticskit.install(logging.INFO)
log = logging.getLogger("app")
log.info("before")
{detach}
log.info("after")
watch = handler_module._installed[2]
for _ in range(200):  # bounded: the worker looks every half second
    if watch.reported:
        break
    time.sleep(0.05)
"""


@pytest.mark.parametrize(
    ("detach", "cause"),
    [
        (
            'logging.config.dictConfig({"version": 1, "handlers":'
            ' {"c": {"class": "logging.StreamHandler"}}, "root": {"handlers": ["c"]}})',
            "closed and removed, most likely by logging.config.dictConfig()",
        ),
        ("logging.basicConfig(force=True)", "basicConfig(force=True)"),
        ("logging.getLogger().handlers = []", "removed without being closed"),
    ],
    ids=["dictConfig", "basicConfig-force", "takeover"],
)
def test_a_detached_install_handler_is_reported_once(
    run_python: RunPython, detach: str, cause: str
) -> None:
    proc = run_python(_DETACHED.format(detach=detach))
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "attached by install()" in x]
    assert len(lines) == 1, proc.stderr
    assert cause in lines[0]
    assert "not sent to PostHog" in lines[0]


def test_a_dict_config_with_its_own_handler_is_not_reported(run_python: RunPython) -> None:
    detach = (
        'logging.config.dictConfig({"version": 1, "disable_existing_loggers": False,'
        ' "handlers": {"p": {"class": "analyticskit.PostHogHandler"}},'
        ' "root": {"level": "INFO", "handlers": ["p"]}})'
    )
    code = _DETACHED.format(detach=detach).replace("for _ in range(200)", "for _ in range(30)")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "attached by install()" not in proc.stderr
    events = [x for x in proc.stderr.splitlines() if x.startswith("{")]
    assert len(events) == 2  # "before" by install()'s handler, "after" by dictConfig's


def test_success_keeps_its_name_whatever_level_25_is_called(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    handler, log = make_handler()
    logging.addLevelName(analyticskit.SUCCESS, "SUBWARNING")  # as billiard does
    try:
        log.log(analyticskit.SUCCESS, "invoice paid")
    finally:
        logging.addLevelName(analyticskit.SUCCESS, "SUCCESS")
    assert handler.analytics.flush(5)
    [event] = capture_server.wait_for(1)
    assert event["event"] == "success_invoice_paid"
    assert event["properties"]["level"] == "SUCCESS"
