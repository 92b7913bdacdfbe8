"""The examples run as is on a fresh machine: no PostHog key, events as JSON lines on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import SEED_WIRE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        cwd=tmp_path,  # not the repository: the installed package is what runs
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def split_stderr(stderr: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(JSON events, other non-empty lines)."""
    events: list[dict[str, Any]] = []
    other: list[str] = []
    for line in stderr.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            other.append(line)
        else:
            assert isinstance(value, dict), line
            events.append(value)
    return events, other


def assert_one_notice(other: list[str]) -> None:
    # Exactly one line that is not an event: the notice that nothing goes to PostHog.
    assert len(other) == 1, other
    [notice] = other
    assert "nothing is sent to PostHog" in notice
    assert "POSTHOG_API_KEY" in notice


def test_quickstart_runs_on_the_embedded_default(tmp_path: Path) -> None:
    result = run_example("quickstart.py", tmp_path)
    assert result.returncode == 0, result.stderr
    lines, other = split_stderr(result.stderr)
    assert_one_notice(other)
    events = [line for line in lines if line.get("lane") != "logs"]
    logs = [line for line in lines if line.get("lane") == "logs"]
    assert [log["body"] for log in logs] == ["users listed in 12 ms", "payment provider slow"]

    by_name: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_name.setdefault(event["event"], []).append(event)
    assert sorted(by_name) == [
        "error_purchase_failed",
        "info_fetch_all_users",
        "info_payment_provider_slow",
        "success_purchase_completed",
    ]

    fetches = by_name["info_fetch_all_users"]
    assert sorted(str(e["distinct_id"]) for e in fetches) == ["None", "user_42"]
    for event in fetches:
        assert event["properties"] == SEED_WIRE

    [error] = by_name["error_purchase_failed"]
    assert error["distinct_id"] == "user_42"
    assert error["properties"] == {
        "eventType": "error",
        "id": "purchase_failed",
        "source": "iap",
        "relevancy": "high",
        "longDescription": "pro_monthly: payment provider did not answer",
    }

    [success] = by_name["success_purchase_completed"]
    assert success["distinct_id"] == "user_42"
    assert success["properties"] == {
        "eventType": "success",
        "id": "purchase_completed",
        "source": "iap",
        "relevancy": "medium",
        "product": "pro_monthly",
    }

    uuids = [e["uuid"] for e in events]
    assert len(set(uuids)) == len(uuids) == 5
    assert all(isinstance(e["timestamp"], str) and e["timestamp"] for e in events)


def test_logging_dictconfig_runs_on_the_embedded_default(tmp_path: Path) -> None:
    result = run_example("logging_dictconfig.py", tmp_path)
    assert result.returncode == 0, result.stderr
    events, other = split_stderr(result.stderr)
    assert_one_notice(other)

    by_name = {e["event"]: e for e in events}
    assert sorted(by_name) == [
        "error_could_not_fetch_user",
        "info_user_logged_in",
        "success_invoice_paid",
    ]
    assert len(events) == 3  # the DEBUG record below the handler's level made no event

    login = by_name["info_user_logged_in"]
    assert login["distinct_id"] == "u_42"
    assert login["properties"]["source"] == "auth"
    assert login["properties"]["relevancy"] == "medium"
    assert login["properties"]["longDescription"] == "user u_42 logged in"
    assert login["properties"]["method"] == "password"

    failure = by_name["error_could_not_fetch_user"]
    assert failure["distinct_id"] == "u_43"
    assert failure["properties"]["eventType"] == "error"
    assert failure["properties"]["relevancy"] == "high"
    assert "LookupError: u_43" in failure["properties"]["longDescription"]

    paid = by_name["success_invoice_paid"]
    assert paid["distinct_id"] == "u_44"
    assert paid["properties"]["source"] == "billing"
    assert paid["properties"]["eventType"] == "success"


def test_structlog_and_loguru_example_sends_the_same_events(tmp_path: Path) -> None:
    result = run_example("structlog_and_loguru.py", tmp_path)
    assert result.returncode == 0, result.stderr
    events, other = split_stderr(result.stderr)
    assert_one_notice(other)
    by_name = {e["event"]: e for e in events}
    assert sorted(by_name) == [
        "error_could_not_load_the_profile",
        "info_user_logged_in",
        "success_invoice_paid",
    ]
    login = by_name["info_user_logged_in"]
    assert login["distinct_id"] == "u_42"
    assert login["properties"]["source"] == "auth"
    assert login["properties"]["method"] == "password"
    error = by_name["error_could_not_load_the_profile"]["properties"]["longDescription"]
    assert error.rstrip().endswith("LookupError: u_42")
    paid = by_name["success_invoice_paid"]
    assert paid["distinct_id"] == "u_43"
    assert paid["properties"]["source"] == "billing"
    assert paid["properties"]["amount"] == 19.99
    assert "user logged in" in result.stdout  # structlog's own output is unchanged
