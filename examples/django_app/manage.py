#!/usr/bin/env python
"""Django's command-line utility for the recipe project (``python manage.py runserver``).

``analyticskit.shutdown_on_sigterm()`` is the one line that differs from Django's template:
``runserver --noreload`` keeps SIGTERM's default action, which ends the process without
running ``atexit``, so events still queued would be lost. With it, SIGTERM delivers them
(within the shutdown deadline) and the process then dies by SIGTERM as before. Under
gunicorn or uvicorn, which install their own SIGTERM handler, it only chains to theirs.
"""

from __future__ import annotations

import os
import sys

import analyticskit


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    analyticskit.shutdown_on_sigterm()
    from django.core.management import execute_from_command_line  # type: ignore[import-untyped]

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
