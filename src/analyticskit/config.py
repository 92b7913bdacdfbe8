"""Where configuration is read: explicit arguments first, then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from posthog.request import DEFAULT_HOST

__all__ = ["DEFAULT_HOST", "ENV_API_KEY", "ENV_HOST", "ENV_PROJECT_API_KEY", "Settings"]

ENV_API_KEY = "POSTHOG_API_KEY"
ENV_PROJECT_API_KEY = "POSTHOG_PROJECT_API_KEY"
ENV_HOST = "POSTHOG_HOST"

DEFAULT_MAX_QUEUED = 10_000
DEFAULT_MAX_QUEUED_BYTES = 32 * 1024 * 1024
"""What the events waiting for delivery may hold in all, estimated (32 MiB)."""
DEFAULT_SHUTDOWN_TIMEOUT = 3.0


@dataclass(frozen=True)
class Settings:
    """Resolved connection settings. The key is kept out of ``repr``."""

    api_key: str | None = field(repr=False)
    host: str

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        host: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Take each setting from its argument, else from the environment, else its default."""
        env = os.environ if environ is None else environ
        for name, value in (("api_key", api_key), ("host", host)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
        return cls(api_key=_resolve_key(api_key, env), host=_resolve_host(host, env))


def _resolve_key(api_key: str | None, env: Mapping[str, str]) -> str | None:
    key = api_key or env.get(ENV_API_KEY) or env.get(ENV_PROJECT_API_KEY) or ""
    return key.strip() or None


def _resolve_host(host: str | None, env: Mapping[str, str]) -> str:
    resolved = (host or env.get(ENV_HOST) or "").strip() or DEFAULT_HOST
    return resolved.rstrip("/")
