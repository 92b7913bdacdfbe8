"""WSGI entry point: ``gunicorn mysite.wsgi`` (from examples/django_app)."""

from __future__ import annotations

import os
from typing import Any

from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

application: Any = get_wsgi_application()
