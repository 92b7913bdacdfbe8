"""Configuration: arguments, environment, defaults, an existing client, and key secrecy."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import posthog
import pytest

from analyticskit import Analytics, Settings
from capture_server import CaptureServer
from conftest import API_KEY
from helpers import SEED, MakeAnalytics, RunPython

US_INGESTION = "https://us.i.posthog.com"


@pytest.fixture
def no_posthog_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY", "POSTHOG_HOST"):
        monkeypatch.delenv(name, raising=False)


# -- Settings.resolve ------------------------------------------------------------------


def test_defaults_without_arguments_or_environment() -> None:
    settings = Settings.resolve(environ={})
    assert settings.api_key is None
    assert settings.host == US_INGESTION


def test_environment_is_read() -> None:
    settings = Settings.resolve(
        environ={"POSTHOG_API_KEY": "phc_env", "POSTHOG_HOST": "https://eu.i.posthog.com"}
    )
    assert settings.api_key == "phc_env"
    assert settings.host == "https://eu.i.posthog.com"


def test_project_api_key_is_a_fallback() -> None:
    assert Settings.resolve(environ={"POSTHOG_PROJECT_API_KEY": "phc_proj"}).api_key == "phc_proj"
    both = {"POSTHOG_API_KEY": "phc_main", "POSTHOG_PROJECT_API_KEY": "phc_proj"}
    assert Settings.resolve(environ=both).api_key == "phc_main"


def test_arguments_win_over_environment() -> None:
    env = {"POSTHOG_API_KEY": "phc_env", "POSTHOG_HOST": "https://eu.i.posthog.com"}
    settings = Settings.resolve("phc_arg", "https://ph.example.com", environ=env)
    assert settings.api_key == "phc_arg"
    assert settings.host == "https://ph.example.com"


def test_process_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTHOG_API_KEY", "phc_from_os_environ")
    monkeypatch.setenv("POSTHOG_HOST", "https://eu.i.posthog.com/")
    settings = Settings.resolve()
    assert settings.api_key == "phc_from_os_environ"
    assert settings.host == "https://eu.i.posthog.com"


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_key_means_no_key(blank: str) -> None:
    assert Settings.resolve(environ={"POSTHOG_API_KEY": blank}).api_key is None
    assert Settings.resolve(environ={"POSTHOG_HOST": blank}).host == US_INGESTION


def test_repr_hides_the_key() -> None:
    settings = Settings.resolve(API_KEY, "https://eu.i.posthog.com")
    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings)
    assert "eu.i.posthog.com" in repr(settings)


@pytest.mark.parametrize(("api_key", "host"), [(123, None), (None, 8000), (b"phc_bytes", None)])
def test_wrong_types_are_rejected(api_key: Any, host: Any) -> None:
    with pytest.raises(TypeError):
        Settings.resolve(api_key, host, environ={})


# -- Analytics construction -----------------------------------------------------------------


def test_repr_of_analytics_hides_the_key(make_analytics: MakeAnalytics) -> None:
    analytics = make_analytics()
    assert API_KEY not in repr(analytics)
    assert "127.0.0.1" in repr(analytics)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (1.5, TypeError),
        ("10", TypeError),
        (None, TypeError),
        (True, TypeError),
    ],
)
def test_invalid_max_queued(value: Any, error: type[Exception]) -> None:
    # A wrong type is a TypeError, a wrong value a ValueError; both name field and value.
    with pytest.raises(error, match="max_queued") as info:
        Analytics(api_key=API_KEY, host="http://127.0.0.1:9", max_queued=value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        (-0.5, ValueError),
        ("3", TypeError),
        (None, TypeError),
        (False, TypeError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (float("-inf"), ValueError),
    ],
)
def test_invalid_shutdown_timeout(value: Any, error: type[Exception]) -> None:
    # NaN and infinity would make the exit-time shutdown raise (or never end).
    with pytest.raises(error, match="shutdown_timeout") as info:
        Analytics(api_key=API_KEY, host="http://127.0.0.1:9", shutdown_timeout=value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("client", ["phc_key", object(), posthog])
def test_client_of_the_wrong_type(client: Any) -> None:
    with pytest.raises(TypeError, match="client") as info:
        Analytics(client=client)
    assert "Posthog" in str(info.value)


def test_no_key_uses_the_local_sink(
    no_posthog_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    analytics = Analytics()
    try:
        assert "local" in analytics.sink.description
        uuid = analytics.capture_event(SEED, from_user_id="u1")
        assert analytics.flush(timeout=5) is True
    finally:
        analytics.shutdown(timeout=2)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    [event] = [e for e in lines if e["uuid"] == uuid]
    assert event["event"] == "info_fetch_all_users"
    assert event["distinct_id"] == "u1"
    assert event["properties"] == SEED.wire_properties()


# -- an existing client --------------------------------------------------------------------


@pytest.fixture
def client(capture_server: CaptureServer) -> Iterator[posthog.Posthog]:
    instance = posthog.Posthog(API_KEY, host=capture_server.url)
    yield instance
    instance.shutdown()


def test_existing_client_delivers_and_is_not_shut_down(
    client: posthog.Posthog, capture_server: CaptureServer
) -> None:
    analytics = Analytics(client=client)
    assert analytics.sink.description.endswith(capture_server.url)
    returned = analytics.capture_event(SEED, from_user_id="u1")
    assert analytics.flush(timeout=5) is True
    [event] = capture_server.wait_for(1)
    assert event["event"] == "info_fetch_all_users"
    assert event["uuid"] == returned

    analytics.shutdown(timeout=5)

    # The application's client still works after analyticskit's shutdown.
    client.capture("app_event_after_shutdown", distinct_id="u2")
    client.flush()
    events = capture_server.wait_for(2)
    assert [e["event"] for e in events] == ["info_fetch_all_users", "app_event_after_shutdown"]


def test_existing_client_wins_over_key_and_host(
    client: posthog.Posthog, capture_server: CaptureServer
) -> None:
    analytics = Analytics(client=client, api_key="phc_other", host="http://127.0.0.1:9")
    try:
        analytics.capture_event(SEED, from_user_id="u1")
        assert analytics.flush(timeout=5) is True
        [event] = capture_server.wait_for(1)
        assert event["event"] == "info_fetch_all_users"
        assert capture_server.requests[0]["api_key"] == API_KEY
    finally:
        analytics.shutdown(timeout=2)


# -- a fresh process configured from the environment -------------------------------------------

CAPTURE_SNIPPET = """
import analyticskit
uuid = analyticskit.capture_event(
    data=analyticskit.EventData(
        event_type="info",
        id="fetch_all_users",
        long_description="Fetching all users from the database",
        source="db",
    ),
    from_user_id="u1",
)
print("uuid", uuid)
print("repr", repr(analyticskit.get_analytics()), analyticskit.Settings.resolve())
{ending}
"""


def _no_key_in(result: subprocess.CompletedProcess[str]) -> None:
    assert API_KEY not in result.stdout
    assert API_KEY not in result.stderr


def _uuid_printed(result: subprocess.CompletedProcess[str]) -> str:
    [line] = [x for x in result.stdout.splitlines() if x.startswith("uuid ")]
    return line.split()[1]


@pytest.mark.parametrize(
    ("key_var", "ending"),
    [
        pytest.param("POSTHOG_API_KEY", "print('flushed', analyticskit.flush(5))", id="flush"),
        pytest.param("POSTHOG_API_KEY", "", id="at-exit"),
        pytest.param(
            "POSTHOG_PROJECT_API_KEY", "print('flushed', analyticskit.flush(5))", id="project-key"
        ),
    ],
)
def test_module_level_capture_from_environment(
    run_python: RunPython, capture_server: CaptureServer, key_var: str, ending: str
) -> None:
    result = run_python(
        CAPTURE_SNIPPET.format(ending=ending),
        env={key_var: API_KEY, "POSTHOG_HOST": capture_server.url},
    )
    assert result.returncode == 0, result.stderr
    if ending:
        assert "flushed True" in result.stdout
    [event] = capture_server.wait_for(1)
    assert event["event"] == "info_fetch_all_users"
    assert event["distinct_id"] == "u1"
    assert event["uuid"] == _uuid_printed(result)
    assert event["properties"]["longDescription"] == "Fetching all users from the database"
    assert capture_server.requests[0]["api_key"] == API_KEY
    # The key travels only as the request's credential: never printed, never in an event.
    _no_key_in(result)
    assert API_KEY not in json.dumps(capture_server.events)
    # Delivering to PostHog prints no local-sink notice and no JSON lines.
    assert "nothing is sent" not in result.stderr
    assert not [x for x in result.stderr.splitlines() if x.startswith("{")]


def test_configure_replaces_the_default_instance(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    code = f"""
    import analyticskit
    first = analyticskit.get_analytics()          # no key in the environment: local sink
    second = analyticskit.configure(api_key={API_KEY!r}, host={capture_server.url!r})
    assert analyticskit.get_analytics() is second is not first
    analyticskit.capture_event({{"eventType": "success", "id": "configured"}}, from_user_id="u1")
    print("flushed", analyticskit.flush(5))
    print("stats", analyticskit.stats())
    """
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "flushed True" in result.stdout
    [event] = capture_server.wait_for(1)
    assert event["event"] == "success_configured"
    _no_key_in(result)


def test_rejected_key_is_never_printed(
    run_python: RunPython, capture_server: CaptureServer
) -> None:
    capture_server.respond_with(401)
    code = CAPTURE_SNIPPET.format(
        ending="""
import logging
logging.basicConfig(level=logging.DEBUG)
print("flushed", analyticskit.flush(5))
s = analyticskit.stats()
print("stats", s.sent, s.dropped["rejected"])
"""
    )
    result = run_python(code, env={"POSTHOG_API_KEY": API_KEY, "POSTHOG_HOST": capture_server.url})
    assert result.returncode == 0, result.stderr
    assert capture_server.status_counts.get(401, 0) >= 1
    assert capture_server.events == []
    _no_key_in(result)
    # The failure is visible to the user (without the key), and counted.
    assert "401" in result.stderr
    assert "stats 0 1" in result.stdout
