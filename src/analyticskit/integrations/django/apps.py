"""`AnalyticsConfig`, the app ``"analyticskit.integrations.django"`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from django.apps import AppConfig  # type: ignore[import-untyped]

from .._common import deliver_at_sigterm, turn_on


class AnalyticsConfig(AppConfig):  # type: ignore[misc]  # django is untyped
    """Turns the integration on once ``LOGGING`` is applied (see the package)."""

    name = "analyticskit.integrations.django"
    label = "analyticskit"
    verbose_name = "analyticskit"

    def ready(self) -> None:
        turn_on()
        deliver_at_sigterm()
