"""``python -m analyticskit``: the ``analyticskit`` command."""

from analyticskit.cli import main

raise SystemExit(main())
