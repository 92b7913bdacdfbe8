"""PostHogHandler configuration: dictConfig with plain values, install(), options, bad options.

Handlers deliver to the capture server over real HTTP. dictConfig here configures
dedicated loggers (never the root, ``disable_existing_loggers`` off); the
`install` tests restore the root logger afterwards.
"""

from __future__ import annotations

import logging
import logging.config
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from typing import Any

import posthog
import pytest

import analyticskit
from analyticskit import PostHogHandler
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import (
    MakeAnalytics,
    MakeHandler,
    RunPython,
    assert_raises_naming,
    deliver,
    release,
    unique_name,
)


def handlers_of(logger: logging.Logger) -> list[PostHogHandler]:
    return [h for h in logger.handlers if isinstance(h, PostHogHandler)]


def dict_config(logger_name: str, handler: dict[str, Any], level: str = "DEBUG") -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"posthog": handler},
            "loggers": {logger_name: {"level": level, "handlers": ["posthog"], "propagate": False}},
        }
    )


Configure = Callable[..., tuple[logging.Logger, PostHogHandler]]


@pytest.fixture
def configure() -> Iterator[Configure]:
    """``configure(name, **handler_config)``: dictConfig a PostHogHandler from those plain
    values on the dedicated logger ``name``; returns the logger and its one PostHogHandler.
    The loggers' handlers are released after the test."""
    loggers: list[logging.Logger] = []

    def configure(name: str, **handler_config: Any) -> tuple[logging.Logger, PostHogHandler]:
        dict_config(name, {"class": "analyticskit.PostHogHandler", **handler_config})
        logger = logging.getLogger(name)
        loggers.append(logger)
        [handler] = handlers_of(logger)
        return logger, handler

    yield configure
    for logger in loggers:
        for handler in handlers_of(logger):
            release(handler, logger)
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def by_event(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    named = {e["event"]: e for e in events}
    assert len(named) == len(events), [e["event"] for e in events]
    return named


# -- dictConfig -----------------------------------------------------------------------------


def test_dict_config_with_plain_values(capture_server: CaptureServer, configure: Configure) -> None:
    name = unique_name()
    _logger, handler = configure(
        name,
        level="INFO",
        api_key=API_KEY,
        host=capture_server.url,
        sources={f"{name}.myapp.auth": "auth", f"{name}.sqlalchemy": "db"},
        default_source="notif",
        level_map={"WARNING": {"relevancy": "medium"}},
        exclude=[f"{name}.myapp.noisy"],
        ignore_loggers=[f"{name}.vendor"],
        capture_exceptions=True,
    )
    assert handler.level == logging.INFO
    assert handler.capture_exceptions is True

    uid = "u_1"
    logging.getLogger(f"{name}.myapp.auth").error(
        "could not fetch user %s", uid, extra={"source": "auth", "uid": uid}
    )
    logging.getLogger(f"{name}.myapp.auth.login").info("login page shown")
    logging.getLogger(f"{name}.sqlalchemy.engine").warning("slow query")
    logging.getLogger(f"{name}.myapp").info("plain app record")
    logging.getLogger(f"{name}.myapp").debug("below the handler level")
    logging.getLogger(f"{name}.myapp.noisy").info("excluded")
    logging.getLogger(f"{name}.vendor.sdk").info("ignored")
    try:
        raise ConnectionError("db down")
    except ConnectionError:
        logging.getLogger(f"{name}.sqlalchemy").exception("query failed")

    events = by_event(deliver(handler, capture_server, 6))
    assert set(events) == {
        "error_could_not_fetch_user",
        "info_login_page_shown",
        "info_slow_query",
        "info_plain_app_record",
        "error_query_failed",
        "$exception",
    }
    fetch = events["error_could_not_fetch_user"]
    assert fetch["distinct_id"] == uid
    assert fetch["properties"]["source"] == "auth"
    assert events["info_login_page_shown"]["properties"]["source"] == "auth"
    assert events["info_slow_query"]["properties"]["source"] == "db"
    assert events["info_slow_query"]["properties"]["relevancy"] == "medium"  # level_map
    assert events["info_plain_app_record"]["properties"]["source"] == "notif"
    failed = events["error_query_failed"]
    assert failed["properties"]["exception_uuid"] == events["$exception"]["uuid"]
    stats = handler.stats()
    assert stats.dropped["filtered"] == 1
    assert stats.dropped["recursion"] == 1


def test_dict_config_level_as_int(capture_server: CaptureServer, configure: Configure) -> None:
    logger, handler = configure(
        unique_name(), level=logging.WARNING, api_key=API_KEY, host=capture_server.url
    )
    logger.info("dropped by level")
    logger.warning("kept")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_kept"


@pytest.fixture
def client_module(capture_server: CaptureServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A module holding a posthog client, for ``ext://`` references."""
    module = types.ModuleType("analyticskit_test_clients")
    module.client = posthog.Posthog(API_KEY, host=capture_server.url)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    yield module
    module.client.shutdown()


def test_dict_config_client_by_ext_reference(
    capture_server: CaptureServer, configure: Configure, client_module: Any
) -> None:
    logger, handler = configure(
        unique_name(), level="INFO", client="ext://analyticskit_test_clients.client"
    )
    assert handler.analytics.sink.client is client_module.client  # type: ignore[attr-defined]
    logger.info("through the shared client")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_through_the_shared_client"


def test_dict_config_client_by_factory(capture_server: CaptureServer, configure: Configure) -> None:
    name = unique_name()
    logger, handler = configure(
        name,
        level="INFO",
        client={
            "()": "posthog.Posthog",
            "project_api_key": API_KEY,
            "host": capture_server.url,
            "gzip": True,
        },
        sources={name: "db"},
    )
    client = handler.analytics.sink.client  # type: ignore[attr-defined]
    assert isinstance(client, posthog.Posthog)
    try:
        logger.info("through a factory client")
        [event] = deliver(handler, capture_server, 1)
        assert event["event"] == "info_through_a_factory_client"
        assert event["properties"]["source"] == "db"
        assert capture_server.requests[0]["gzip"] is True
    finally:
        client.shutdown()


def test_a_given_client_is_flushed_never_shut_down(
    capture_server: CaptureServer, client_module: Any
) -> None:
    client = client_module.client
    handler = PostHogHandler(client=client)
    logger = logging.getLogger(unique_name())
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning("before close")
    release(handler, logger)  # shutdown(timeout=2) then close(): delivers what is queued

    assert [e["event"] for e in capture_server.wait_for(1)] == ["info_before_close"]
    client.capture("still_usable", distinct_id="u_1")
    client.flush()
    assert [e["event"] for e in capture_server.wait_for(2)] == [
        "info_before_close",
        "still_usable",
    ]


def test_a_shared_analytics_object_is_not_shut_down_by_close(
    capture_server: CaptureServer, make_analytics: MakeAnalytics
) -> None:
    analytics = make_analytics()
    handler = PostHogHandler(analytics=analytics)
    assert handler.analytics is analytics
    logger = logging.getLogger(unique_name())
    logger.propagate = False
    logger.addHandler(handler)
    logger.warning("via the shared object")
    logger.removeHandler(handler)
    handler.close()

    analytics.capture_event({"eventType": "info", "id": "after_close"})
    assert analytics.flush(timeout=5)
    events = capture_server.wait_for(2)
    assert sorted(e["event"] for e in events) == ["info_after_close", "info_via_the_shared_object"]


# -- options --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [("INFO", logging.INFO), (logging.WARNING, logging.WARNING), ("SUCCESS", 25), (0, 0)],
)
def test_level_argument(level: int | str, expected: int, make_analytics: MakeAnalytics) -> None:
    handler = PostHogHandler(level, analytics=make_analytics())
    assert handler.level == expected
    handler.close()


def test_options_reach_the_handlers_own_delivery(capture_server: CaptureServer) -> None:
    handler = PostHogHandler(
        api_key=API_KEY, host=capture_server.url, max_queued=50, shutdown_timeout=1.5
    )
    try:
        assert handler.analytics.shutdown_timeout == 1.5
        assert handler.analytics.sink.client.host == capture_server.url  # type: ignore[attr-defined]
    finally:
        release(handler)


def test_level_map_overrides(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    handler, logger = make_handler(
        level_map={
            "WARNING": {"relevancy": "medium"},
            "info": "success",  # the event type; level names in any case
            logging.ERROR: {"event_type": "info", "relevancy": "low"},
            "SUCCESS": {"relevancy": "high"},
            5: "error",
        },
    )
    logger.warning("w")  # the logger lets every level through, 5 included
    logger.info("i")
    logger.error("e")
    logger.log(analyticskit.SUCCESS, "s")
    logger.log(5, "five")
    logger.critical("c")  # no override: defaults
    logger.info("o", extra={"event_type": "info", "relevancy": "low"})  # extra still wins

    events = by_event(deliver(handler, capture_server, 7))
    assert {
        k: (e["properties"]["eventType"], e["properties"]["relevancy"]) for k, e in events.items()
    } == {
        "info_w": ("info", "medium"),
        "success_i": ("success", "medium"),
        "info_e": ("info", "low"),
        "success_s": ("success", "high"),
        "error_five": ("error", "low"),  # relevancy still follows the level
        "error_c": ("error", "high"),
        "info_o": ("info", "low"),
    }


def test_include_and_exclude(make_handler: MakeHandler, capture_server: CaptureServer) -> None:
    p = unique_name()
    handler, _parent = make_handler(
        p,
        include=[f"{p}.app", f"{p}.jobs.*"],
        exclude=[f"{p}.app.noisy", "*.secret"],
    )
    expected_in = [f"{p}.app", f"{p}.app.child", f"{p}.jobs.nightly", f"{p}.jobs.nightly.step"]
    expected_out = [
        f"{p}.app.noisy",
        f"{p}.app.noisy.deep",
        f"{p}.app.x.secret",
        f"{p}.jobs",
        f"{p}.appx",
        f"{p}.other",
        p,
    ]
    for logger_name in expected_in + expected_out:
        logging.getLogger(logger_name).info("hello", extra={"marker": logger_name})

    events = deliver(handler, capture_server, len(expected_in))
    assert sorted(e["properties"]["marker"] for e in events) == sorted(expected_in)
    assert handler.stats().dropped["filtered"] == len(expected_out)


def test_include_as_a_single_string(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    p = unique_name()
    handler, _parent = make_handler(p, include=f"{p}.only")
    logging.getLogger(f"{p}.only.child").info("in")
    logging.getLogger(f"{p}.other").info("out")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_in"


def test_ignore_loggers_on_dotted_boundaries(
    make_handler: MakeHandler, capture_server: CaptureServer
) -> None:
    p = unique_name()
    handler, _parent = make_handler(p, ignore_loggers=[f"{p}.chatty"])
    logging.getLogger(f"{p}.chatty").info("ignored")
    logging.getLogger(f"{p}.chatty.sub").info("ignored too")
    logging.getLogger(f"{p}.chattybox").info("kept")

    [event] = deliver(handler, capture_server, 1)
    assert event["event"] == "info_kept"
    assert handler.stats().dropped["recursion"] == 2


# -- bad options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "mentions"),
    [
        ({"sources": {"myapp": "nope"}}, ValueError, ["nope", "general", "myapp"]),
        ({"sources": {"myapp": 5}}, TypeError, ["5", "myapp"]),
        ({"sources": ["myapp"]}, TypeError, ["sources"]),
        ({"default_source": "nope"}, ValueError, ["default_source", "nope", "general"]),
        ({"level_map": {"WARNING": "fatal"}}, ValueError, ["fatal", "info"]),
        ({"level_map": {"WARNING": {"relevancy": "urgent"}}}, ValueError, ["urgent", "medium"]),
        ({"level_map": {"WARNING": {"colour": "red"}}}, ValueError, ["colour"]),
        ({"level_map": {"LOUD": "info"}}, ValueError, ["LOUD"]),
        ({"level_map": {"WARNING": 3}}, TypeError, ["3", "WARNING"]),
        ({"level_map": ["WARNING"]}, TypeError, ["level_map"]),
        ({"include": [1]}, TypeError, ["include"]),
        ({"include": 5}, TypeError, ["include"]),
        ({"exclude": [""]}, TypeError, ["exclude"]),
        ({"ignore_loggers": [None]}, TypeError, ["ignore_loggers"]),
        ({"capture_exceptions": "false"}, TypeError, ["capture_exceptions", "false"]),
        ({"client": "phc_not_a_client"}, TypeError, ["client"]),
        ({"api_key": 123}, TypeError, ["api_key"]),
        ({"host": 5}, TypeError, ["host"]),
        ({"max_queued": 0}, ValueError, ["max_queued"]),
        ({"shutdown_timeout": -1}, ValueError, ["shutdown_timeout"]),
        ({"analytics": "not analytics"}, TypeError, ["analytics"]),
        ({"level": "LOUD"}, ValueError, ["LOUD"]),
        ({"level": 1.5}, TypeError, ["1.5"]),
    ],
    ids=lambda value: None if not isinstance(value, dict) else ",".join(map(str, value)),
)
def test_bad_options_raise_at_construction(
    options: dict[str, Any], error: type[Exception], mentions: list[str]
) -> None:
    assert_raises_naming(error, mentions, PostHogHandler, **options)


def test_analytics_with_connection_arguments_is_refused(make_analytics: MakeAnalytics) -> None:
    with pytest.raises(ValueError, match="analytics"):
        PostHogHandler(analytics=make_analytics(), api_key=API_KEY)


def test_dict_config_reports_bad_options(configure: Configure) -> None:
    name = unique_name()
    with pytest.raises(ValueError, match="posthog") as raised:
        configure(name, sources={name: "no_such_source"})
    assert "no_such_source" in str(raised.value.__cause__)
    assert not handlers_of(logging.getLogger(name))


# -- install() ------------------------------------------------------------------------------


def test_install_twice_returns_the_same_handler_and_attaches_one(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    root_logger.setLevel(logging.WARNING)
    first = analyticskit.install(api_key=API_KEY, host=capture_server.url)
    assert handlers_of(root_logger) == [first]
    assert first.level == logging.INFO
    assert root_logger.level == logging.INFO  # lowered so INFO records reach it

    # The same arguments: the same handler. (Other ones are refused: test_integrations.py.)
    second = analyticskit.install(api_key=API_KEY, host=capture_server.url)
    assert second is first
    assert handlers_of(root_logger) == [first]

    logging.getLogger(f"{unique_name()}.app").info("installed once")
    events = deliver(first, capture_server, 1)
    assert [e["event"] for e in events] == ["info_installed_once"]


def test_install_reuses_a_handler_dict_config_put_on_root(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "posthog": {
                    "class": "analyticskit.PostHogHandler",
                    "level": "WARNING",
                    "api_key": API_KEY,
                    "host": capture_server.url,
                }
            },
            "root": {"level": "WARNING", "handlers": ["posthog"]},
        }
    )
    [configured] = handlers_of(root_logger)
    assert analyticskit.install(logging.INFO) is configured
    assert handlers_of(root_logger) == [configured]
    assert configured.level == logging.INFO

    logging.getLogger(f"{unique_name()}.app").info("sent once")
    events = deliver(configured, capture_server, 1)
    assert [e["event"] for e in events] == ["info_sent_once"]


def test_install_never_raises_the_root_level(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    root_logger.setLevel(logging.DEBUG)
    handler = analyticskit.install(logging.ERROR, api_key=API_KEY, host=capture_server.url)
    assert root_logger.level == logging.DEBUG
    assert handler.level == logging.ERROR


def test_install_with_a_bad_option_attaches_nothing(root_logger: logging.Logger) -> None:
    with pytest.raises(ValueError, match="nope"):
        analyticskit.install(default_source="nope")
    assert handlers_of(root_logger) == []


def test_concurrent_installs_attach_one_handler(
    root_logger: logging.Logger, capture_server: CaptureServer
) -> None:
    threads_n = 8
    barrier = threading.Barrier(threads_n)
    got: list[PostHogHandler] = []

    def install() -> None:
        barrier.wait(timeout=5)
        got.append(analyticskit.install(api_key=API_KEY, host=capture_server.url))

    threads = [threading.Thread(target=install) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert len(got) == threads_n
    assert len({id(handler) for handler in got}) == 1
    assert handlers_of(root_logger) == [got[0]]


# -- dictConfig re-run while PostHog is slow ------------------------------------------------


def test_dict_config_rerun_returns_promptly_while_the_server_holds_requests(
    capture_server: CaptureServer,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = unique_name()
    config = {"level": "INFO", "api_key": API_KEY, "host": capture_server.url}
    logger, old = configure(name, **config)

    capture_server.delay = 3
    logger.info("held by a slow server")
    old.flush(timeout=0.2)  # hands the record to the SDK, which starts sending it
    assert capture_server.wait_for_requests(1, timeout=5) >= 1  # the server now holds it

    started = time.perf_counter()
    # Closes `old` (flush, close) and builds a new handler.
    dict_config(name, {"class": "analyticskit.PostHogHandler", **config})
    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n[timing] second dictConfig with a 3 s capture server: {elapsed:.3f} s")

    [new] = handlers_of(logger)
    assert new is not old
    assert elapsed < 2.5

    capture_server.reset_faults()  # the held request keeps sleeping; new ones are answered
    logger.info("after reconfiguration")
    new.flush(timeout=5)
    assert len(capture_server.events_named("info_after_reconfiguration")) == 1
    # The old handler's close goes on in the background, within its 3 s deadline:
    # the held request is answered when the server's 3 s are up, nothing is lost.
    capture_server.wait_for(2, timeout=6)
    assert len(capture_server.events_named("info_held_by_a_slow_server")) == 1


@pytest.mark.parametrize(
    "options",
    [{"level": "LOUD"}, {"default_source": "nope"}, {"max_queued": 0}, {"analytics": object()}],
    ids=["level", "default_source", "max_queued", "analytics"],
)
def test_a_refused_handler_does_not_break_later_logging_shutdown(
    options: dict[str, Any], capture_server: CaptureServer, configure: Configure
) -> None:
    # The traceback keeps the half-built handler alive: logging.shutdown(), which
    # dictConfig runs over every registered handler, must not trip over it.
    with pytest.raises((ValueError, TypeError)) as raised:
        PostHogHandler(**options)
    configure(unique_name(), api_key=API_KEY, host=capture_server.url)
    assert raised.value is not None
    assert not [
        ref()
        for ref in logging._handlerList  # type: ignore[attr-defined]
        if isinstance(ref(), PostHogHandler) and not hasattr(ref(), "_front")
    ]


_CONSOLE_SCRIPT = """
import logging
import analyticskit

analyticskit.install(logging.INFO)  # on a bare root logger, as a script has it
log = logging.getLogger("app")
log.info("routine")  # never printed: below logging's last-resort level, as before
log.warning("disk almost full")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("request failed")
analyticskit.flush(5)
"""


def test_install_keeps_the_console_output_of_a_bare_root_logger(run_python: RunPython) -> None:
    proc = run_python(_CONSOLE_SCRIPT)  # no key: events go to the local sink (JSON on stderr)
    assert proc.returncode == 0, proc.stderr
    console = [line for line in proc.stderr.splitlines() if not line.startswith(("{", "analyt"))]
    assert console[:2] == ["disk almost full", "request failed"]
    assert "ZeroDivisionError: division by zero" in console
    assert "routine" not in console
    events = [line for line in proc.stderr.splitlines() if line.startswith("{")]
    assert len(events) == 3  # and the three records still became events
