"""Django: ``"analyticskit.integrations.django"`` in ``INSTALLED_APPS`` and
``"analyticskit.integrations.django.AnalyticsMiddleware"`` in ``MIDDLEWARE`` (after your
authentication), with the `PostHogHandler` in ``LOGGING`` as before.

- The app (`AnalyticsConfig`): Django's own noise is not events from then on (each 4xx
  line of ``django.request``, runserver's access log ``django.server``; they still go to
  the logs lane when it is on), and stopping ``runserver`` by SIGTERM delivers what is
  queued (`analyticskit.shutdown_on_sigterm`; Ctrl-C exits normally and delivers too).
- The middleware binds the authenticated user's ``pk`` (an int works) as the distinct id
  of everything logged or captured in the request, posthog's ``X-POSTHOG-DISTINCT-ID``
  header included: so the 500's error event (``django.request`` logs it inside the
  middlewares, with the traceback) is that user's. Anonymous requests are left to
  posthog's context (its ``PosthogContextMiddleware``, if you use it), else personless.
"""

from __future__ import annotations

from .._common import missing

try:
    import django  # type: ignore[import-untyped]  # noqa: F401
except ImportError as error:  # pragma: no cover - the test extra installs it
    raise ImportError(missing("django", __name__)) from error

from ._middleware import AnalyticsMiddleware

__all__ = ["AnalyticsMiddleware"]
