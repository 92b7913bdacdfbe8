"""analyticskit's pytest plugin, registered through the ``pytest11`` entry point.

It provides one fixture, ``analytics_events``, and its marker,
``@pytest.mark.analytics_events(rate_limit=False, dedupe_window=0)`` (the options
of `analyticskit.testing.capture_events` for one test), and does nothing else: analyticskit
itself is imported only when a test uses the fixture. (A module inside the
``analyticskit`` package would import the whole library, and the posthog SDK,
into every pytest run on a machine where it is installed, before coverage starts.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from analyticskit.testing import CapturedEvents

__all__ = ["analytics_events"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "analytics_events(**options): capture_events options for the analytics_events"
        " fixture in this test, e.g. rate_limit=False, dedupe_window=0",
    )


@pytest.fixture
def analytics_events(request: pytest.FixtureRequest) -> Iterator[CapturedEvents]:
    """Every event this test captures, kept in memory as PostHog would receive it;
    nothing is sent anywhere, even with ``POSTHOG_API_KEY`` set. The logging
    front-ends' volume control starts afresh for each test; the
    ``analytics_events`` marker sets its options for one test.

    ``analytics_events.one("info_fetch_all_users").assert_properties(source="db")``;
    see `analyticskit.testing.capture_events`.
    """
    from analyticskit.testing import capture_events

    marker = request.node.get_closest_marker("analytics_events")
    with capture_events(**(marker.kwargs if marker else {})) as captured:
        yield captured
