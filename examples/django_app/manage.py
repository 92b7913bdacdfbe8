#!/usr/bin/env python
"""Django's command-line utility for the recipe project (``python manage.py runserver``),
as Django's template has it: the analyticskit app in ``INSTALLED_APPS`` delivers what is
queued when ``runserver`` is stopped by SIGTERM."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    from django.core.management import execute_from_command_line  # type: ignore[import-untyped]

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
