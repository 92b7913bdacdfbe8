"""One line per framework: each module is imported only when used, and needs its
framework only then (a clear `ImportError` names the missing package).

- `analyticskit.integrations.asgi`: ``app.add_middleware(AnalyticsMiddleware)``
  (FastAPI, Starlette, any ASGI app);
- `analyticskit.integrations.django`: ``"analyticskit.integrations.django"`` in
  ``INSTALLED_APPS`` and its ``AnalyticsMiddleware`` in ``MIDDLEWARE``;
- `analyticskit.integrations.flask`: ``init_app(app, user=...)``;
- `analyticskit.integrations.celery`: ``setup()``.

Each delivers what is queued when its server stops, binds the request's (or the task
sender's) user, makes one error event of an unhandled exception, with that user, and
keeps the framework's own noise (access logs, Celery's chatter, Django's 4xx lines)
out of the events lane.
"""
