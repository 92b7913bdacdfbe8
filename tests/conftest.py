"""Fixtures shared by the suite: the capture server, Analytics objects and handlers aimed
at it, the root logger restored after a test. Plain helpers live in helpers.py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import analyticskit
from analyticskit import PostHogHandler
from capture_server import CaptureServer
from helpers import OWN_LOGGERS, MakeAnalytics, MakeHandler, RunPython, release, unique_name

API_KEY = "phc_test_key_must_never_be_printed_0123456789"


@pytest.fixture
def capture_server() -> Iterator[CaptureServer]:
    """A PostHog-compatible capture server on 127.0.0.1, fresh for each test."""
    with CaptureServer() as server:
        yield server


@pytest.fixture
def make_analytics(capture_server: CaptureServer) -> Iterator[MakeAnalytics]:
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
def run_python() -> RunPython:
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


@pytest.fixture
def make_handler(capture_server: CaptureServer) -> Iterator[MakeHandler]:
    """Build a handler on its own non-propagating logger that lets every level through,
    with the volume caps off unless given.

    ``make(name=None, **options)`` returns ``(handler, logger)``: the handler delivers to
    the capture server unless ``analytics`` or ``client`` is among the options; the
    logger is ``name`` (a unique one by default). Both are released after the test.
    """
    made: list[tuple[PostHogHandler, logging.Logger]] = []

    def make(name: str | None = None, **options: Any) -> tuple[PostHogHandler, logging.Logger]:
        # The volume caps are off unless a test sets them: the tests of other
        # features log identical records, which the default caps would hold back.
        options.setdefault("rate_limit", False)
        options.setdefault("dedupe_window", 0)
        if "analytics" not in options and "client" not in options:
            options.setdefault("api_key", API_KEY)
            options.setdefault("host", capture_server.url)
        handler = PostHogHandler(**options)
        logger = logging.getLogger(name or unique_name())
        logger.setLevel(1)
        logger.propagate = False
        logger.addHandler(handler)
        made.append((handler, logger))
        return handler, logger

    yield make
    for handler, logger in made:
        release(handler, logger)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger; its level and handlers (new PostHogHandlers released) and the
    levels of the SDK's own loggers are restored after the test."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    sdk_levels = {name: logging.getLogger(name).level for name in OWN_LOGGERS}
    yield root
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            if isinstance(handler, PostHogHandler):
                release(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, sdk_level in sdk_levels.items():
        logging.getLogger(name).setLevel(sdk_level)
