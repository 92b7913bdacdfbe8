"""Fixtures shared by the suite: the capture server and Analytics objects aimed at it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import analyticskit
from capture_server import CaptureServer

API_KEY = "phc_test_key_must_never_be_printed_0123456789"


@pytest.fixture
def capture_server() -> Iterator[CaptureServer]:
    """A PostHog-compatible capture server on 127.0.0.1, fresh for each test."""
    with CaptureServer() as server:
        yield server


@pytest.fixture
def make_analytics(
    capture_server: CaptureServer,
) -> Iterator[Callable[..., analyticskit.Analytics]]:
    """Build `Analytics` objects that deliver to the capture server; shut down after the test."""
    made: list[analyticskit.Analytics] = []

    def make(**options: Any) -> analyticskit.Analytics:
        options.setdefault("api_key", API_KEY)
        options.setdefault("host", capture_server.url)
        instance = analyticskit.Analytics(**options)
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.shutdown(timeout=2)


@pytest.fixture
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a Python snippet in a fresh interpreter (for exit, fork and stderr tests)."""

    def run(
        code: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("POSTHOG_")}
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
