"""`analyticskit check`: one test event with the library's configuration; one line
saying what happened; exit status 0 only when delivered; the key never printed. With
``--logs``, a second line says whether PostHog Logs accepted a test log."""

from __future__ import annotations

import socket

import pytest

from analyticskit._devtools.server import DevServer
from analyticskit.cli import main
from capture_server import CaptureServer
from conftest import API_KEY


def _check(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    *args: str,
    key: str | None = API_KEY,
) -> tuple[int, str]:
    for name in ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY", "POSTHOG_HOST"):
        monkeypatch.delenv(name, raising=False)
    if key is not None:
        monkeypatch.setenv("POSTHOG_PROJECT_API_KEY", key)  # the library reads both names
    monkeypatch.setenv("POSTHOG_HOST", host)
    status = main(["check", *args])
    out, err = capsys.readouterr()
    assert API_KEY not in out + err
    assert err == ""
    lines = out.splitlines()
    assert len(lines) == 1, out
    return status, lines[0]


def test_delivered_to_the_dev_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with DevServer(port=0) as dev:
        status, line = _check(monkeypatch, capsys, dev.url)
        [event] = dev.store.page("events")["events"]
    assert status == 0
    assert line.startswith(f"delivered: PostHog at {dev.url} accepted the test event")
    assert event["event"] == "info_analyticskit_check"
    assert event["properties"]["$process_person_profile"] is False


def test_closed_port_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, line = _check(monkeypatch, capsys, f"http://127.0.0.1:{port}")
    assert status == 1
    assert line.startswith(f"unreachable: could not connect to PostHog at http://127.0.0.1:{port}")
    assert "Hint: check POSTHOG_HOST" in line


@pytest.mark.parametrize("code", [401, 403])
def test_401_or_403_is_a_wrong_key(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    capture_server: CaptureServer,
    code: int,
) -> None:
    capture_server.respond_with(code)
    status, line = _check(monkeypatch, capsys, capture_server.url)
    assert status == 1
    assert line.startswith(f"wrong key: PostHog at {capture_server.url} answered {code}.")
    assert "POSTHOG_API_KEY must be the project API key" in line


def test_other_refusals_name_the_status(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    capture_server: CaptureServer,
) -> None:
    capture_server.respond_with(404)
    status, line = _check(monkeypatch, capsys, capture_server.url)
    assert status == 1 and line.startswith(f"refused: PostHog at {capture_server.url} answered 404")


def test_silent_server_times_out(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    capture_server: CaptureServer,
) -> None:
    capture_server.blackhole = True
    status, line = _check(monkeypatch, capsys, capture_server.url, "--timeout", "0.5")
    assert status == 1
    assert line.startswith(f"timed out: PostHog at {capture_server.url} did not answer within 0.5s")


@pytest.mark.parametrize(
    ("host", "key", "start"),
    [
        ("us.i.posthog.com", API_KEY, "wrong host: could not send to PostHog at us.i.posthog.com"),
        ("http://127.0.0.1:9", None, "no PostHog API key: set POSTHOG_API_KEY"),
        ("http://127.0.0.1:9", "   ", "no PostHog API key: set POSTHOG_API_KEY"),
    ],
    ids=["no-scheme", "no-key", "blank-key"],
)
def test_configuration_problems(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    key: str | None,
    start: str,
) -> None:
    status, line = _check(monkeypatch, capsys, host, key=key)
    assert status == 1 and line.startswith(start), line


def test_host_flag_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with DevServer(port=0) as dev:
        status, line = _check(monkeypatch, capsys, "http://127.0.0.1:9", "--host", dev.url)
    assert status == 0 and dev.url in line


def test_logs_accepted_by_the_dev_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with DevServer(port=0) as dev:
        status, lines = _check_lines(monkeypatch, capsys, dev.url, "--logs")
        [log] = dev.store.page("logs")["logs"]
    assert status == 0
    assert lines[0].startswith("delivered: ")
    assert lines[1] == f"logs delivered: PostHog Logs at {dev.url}/i/v1/logs accepted the test log."
    assert log["body"] == "Test log sent by `analyticskit check`"
    assert (log["severity_text"], log["service"]) == ("INFO", "analyticskit")


@pytest.mark.parametrize(
    ("code", "start"),
    [(400, "logs refused: "), (429, "logs refused: "), (401, "logs wrong key: ")],
)
def test_a_logs_endpoint_that_refuses_is_reported(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    capture_server: CaptureServer,
    code: int,
    start: str,
) -> None:
    capture_server.fault_lane = "logs"
    capture_server.respond_with(code)
    status, lines = _check_lines(monkeypatch, capsys, capture_server.url, "--logs")
    assert status == 1  # events were delivered, logs were not
    assert lines[0].startswith("delivered: ")
    where = f"PostHog Logs at {capture_server.url}/i/v1/logs answered {code}."
    assert lines[1].startswith(start + where), lines[1]
    assert len(capture_server.events) == 1 and capture_server.logs == []


def test_logs_probe_of_a_silent_or_closed_endpoint(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    capture_server: CaptureServer,
) -> None:
    capture_server.fault_lane = "logs"
    capture_server.blackhole = True
    status, lines = _check_lines(
        monkeypatch, capsys, capture_server.url, "--logs", "--timeout", "0.5"
    )
    assert status == 1 and lines[1].startswith("logs timed out: PostHog Logs at ")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, lines = _check_lines(monkeypatch, capsys, f"http://127.0.0.1:{port}", "--logs")
    assert status == 1 and lines[1].startswith("logs unreachable: could not connect to ")


def _check_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], host: str, *args: str
) -> tuple[int, list[str]]:
    for name in ("POSTHOG_API_KEY", "POSTHOG_PROJECT_API_KEY", "POSTHOG_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POSTHOG_API_KEY", API_KEY)
    monkeypatch.setenv("POSTHOG_HOST", host)
    status = main(["check", *args])
    out, err = capsys.readouterr()
    assert API_KEY not in out + err and err == ""
    lines = out.splitlines()
    assert len(lines) == 2, out
    return status, lines
