"""analyticskit's pytest plugin, registered through the ``pytest11`` entry point.

It provides one fixture, ``analytics_events``, and does nothing else: analyticskit
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


@pytest.fixture
def analytics_events() -> Iterator[CapturedEvents]:
    """Every event this test captures, kept in memory as PostHog would receive it;
    nothing is sent anywhere, even with ``POSTHOG_API_KEY`` set.

    ``analytics_events.one("info_fetch_all_users").assert_properties(source="db")``;
    see `analyticskit.testing.capture_events`.
    """
    from analyticskit.testing import capture_events

    with capture_events() as captured:
        yield captured
