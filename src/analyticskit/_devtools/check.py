"""`analyticskit check`: send one test event with the configuration the library would
use, and say in a line or two what happened, with a hint. With ``logs=True`` it also
sends one test log to PostHog Logs (OTLP JSON, which PostHog Logs accepts as it does
protobuf, so the probe needs no extra) and says whether logs are accepted. The key
is never printed."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import posthog
import requests
from posthog.request import APIError

from .._logs.sink import logs_endpoint
from ..config import ENV_API_KEY, ENV_HOST, Settings
from ..events import EventData

DEFAULT_TIMEOUT = 5.0
CHECK_EVENT = EventData(
    event_type="info",
    id="analyticskit_check",
    long_description="Test event sent by `analyticskit check`",
    relevancy="low",
)


@dataclass(frozen=True)
class Outcome:
    """What the check found: ``delivered`` and one or two lines to print."""

    delivered: bool
    message: str


def run_check(
    *,
    host: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Any = None,
    logs: bool = False,
) -> Outcome:
    """Send `CHECK_EVENT` through a posthog client built as `Analytics` builds one
    (`Settings.resolve`), one attempt, waiting at most about ``timeout`` seconds;
    with ``logs``, then one test log to the logs lane's endpoint (a second line;
    ``delivered`` only when both were accepted)."""
    settings = Settings.resolve(None, host, environ)
    events = _check_events(settings, timeout)
    if not logs or settings.api_key is None:
        return events
    probe = _check_logs(settings.api_key, settings.host, timeout)
    return Outcome(events.delivered and probe.delivered, events.message + "\n" + probe.message)


def _check_events(settings: Settings, timeout: float) -> Outcome:
    if not settings.api_key:
        return Outcome(
            False,
            f"no PostHog API key: set {ENV_API_KEY} (your project API key, phc_...)."
            " Without one, analyticskit writes events to stderr and sends nothing.",
        )
    errors: list[Exception] = []
    done = threading.Event()

    def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
        errors.append(error)
        done.set()

    with _sdk_quiet():
        client = posthog.Posthog(
            settings.api_key,
            host=settings.host,
            gzip=True,
            max_retries=0,
            timeout=timeout,
            on_error=on_error,
            flush_at=1,
        )
        try:
            client.capture(
                CHECK_EVENT.event_name,
                properties={**CHECK_EVENT.wire_properties(), "$process_person_profile": False},
            )
            client.flush(timeout_seconds=timeout + 1)
            pending = client.queue.unfinished_tasks
        finally:
            _stop(client, timeout)
    where = f"PostHog at {settings.host}"
    if errors:
        return _classify(errors[0], where, timeout)
    if pending:
        return Outcome(
            False,
            f"timed out: {where} did not answer within {timeout:g}s."
            f" Hint: check {ENV_HOST} and your network; raise --timeout on a slow link.",
        )
    return Outcome(
        True,
        f"delivered: {where} accepted the test event {CHECK_EVENT.event_name}."
        " If it does not show in your project, the key belongs to another project or region.",
    )


def _check_logs(api_key: str, host: str, timeout: float) -> Outcome:
    """POST one test log, as the logs lane would (gzip, ``Authorization: Bearer``)."""
    endpoint = logs_endpoint(host)
    where = f"PostHog Logs at {endpoint}"
    try:
        answer = requests.post(
            endpoint,
            data=gzip.compress(_test_log()),
            headers={
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
            },
            timeout=timeout,
        )
    except requests.Timeout:
        return Outcome(False, f"logs timed out: {where} did not answer within {timeout:g}s.")
    except requests.RequestException as error:
        return Outcome(False, f"logs unreachable: could not connect to {where} ({_reason(error)}).")
    status = answer.status_code
    if 200 <= status < 300:
        return Outcome(True, f"logs delivered: {where} accepted the test log.")
    if status in (401, 403):
        return Outcome(
            False,
            f"logs wrong key: {where} answered {status}."
            f" Hint: the logs lane sends {ENV_API_KEY}, the project API key (phc_...).",
        )
    return Outcome(
        False,
        f"logs refused: {where} answered {status}."
        " Hint: PostHog Logs is <host>/i/v1/logs on PostHog's ingestion host;"
        " a 429 means the project is over its logs quota.",
    )


def _test_log() -> bytes:
    """One OTLP/JSON ``ExportLogsServiceRequest`` holding one INFO record."""
    record = {
        "timeUnixNano": str(time.time_ns()),
        "severityNumber": 9,
        "severityText": "INFO",
        "body": {"stringValue": "Test log sent by `analyticskit check`"},
        "attributes": [{"key": "check", "value": {"stringValue": CHECK_EVENT.event_name}}],
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "analyticskit"}}]}
    scope_logs = [{"scope": {"name": "analyticskit.check"}, "logRecords": [record]}]
    request = {"resourceLogs": [{"resource": resource, "scopeLogs": scope_logs}]}
    return json.dumps(request).encode()


def _classify(error: Exception, where: str, timeout: float) -> Outcome:
    status = getattr(error, "status", None)
    if isinstance(error, APIError) and status in (401, 403):
        return Outcome(
            False,
            f"wrong key: {where} answered {status}."
            f" Hint: {ENV_API_KEY} must be the project API key (phc_...) of a project on"
            f" this host; an EU project needs {ENV_HOST}=https://eu.i.posthog.com.",
        )
    if isinstance(error, APIError):
        return Outcome(
            False,
            f"refused: {where} answered {status}."
            f" Hint: is {ENV_HOST} a PostHog ingestion host (https://us.i.posthog.com,"
            " https://eu.i.posthog.com or your instance's URL)?",
        )
    if isinstance(error, requests.Timeout):
        return Outcome(
            False,
            f"timed out: {where} did not answer within {timeout:g}s."
            f" Hint: check {ENV_HOST} and your network; raise --timeout on a slow link.",
        )
    if isinstance(error, requests.ConnectionError):
        return Outcome(
            False,
            f"unreachable: could not connect to {where} ({_reason(error)})."
            f" Hint: check {ENV_HOST} (wrong region or host?), that the server runs,"
            " and your network or proxy.",
        )
    return Outcome(
        False,
        f"wrong host: could not send to {where} ({type(error).__name__})."
        f" Hint: {ENV_HOST} must be a URL such as https://us.i.posthog.com.",
    )


def _reason(error: Exception) -> str:
    text = str(error)
    for known in ("Connection refused", "Name or service not known", "Temporary failure"):
        if known in text:
            return known.lower()
    return type(error).__name__


class _sdk_quiet:
    """Silence the SDK's own logger while the check runs: the outcome says it all."""

    def __enter__(self) -> None:
        self._logger = logging.getLogger("posthog")
        self._disabled = self._logger.disabled
        self._logger.disabled = True

    def __exit__(self, *exc: object) -> None:
        self._logger.disabled = self._disabled


def _stop(client: posthog.Posthog, timeout: float) -> None:
    stop: Callable[[], None] = client.shutdown
    thread = threading.Thread(target=stop, name="analyticskit-check-stop", daemon=True)
    thread.start()
    thread.join(min(timeout, 1.0))
