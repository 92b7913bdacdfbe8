"""The optional front-ends' third-party imports, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise ImportError saying which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"analyticskit's {module} support needs {module}: install the extra with"
            f" pip install 'analyticskit-posthog[{extra}]'"
        ) from error
