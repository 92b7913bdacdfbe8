"""Where secrets are masked: values of secret-named keys, and credential-shaped text.

Runs on the delivery worker over every property (nested dicts and lists too)
and over the ``$exception`` events of Error Tracking. PostHog's own ``$``
properties (``$session_id``...) are not secrets and are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import Pattern

MASK = "[Filtered]"

DEFAULT_SECRET_KEYS: tuple[str, ...] = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "cookie",
    "set-cookie",
    "session",
    "csrf",
    "credit_card",
    "card_number",
    "cvv",
    "ssn",
    "private_key",
)
"""Key names whose values are masked, case-insensitive, also inside longer names
(``db_password``, ``X-Api-Key``). Names of six letters or more match anywhere in
the key; shorter ones (``pwd``, ``auth``, ``token``...) match a whole word of it,
so that ``author`` or ``tokens_used`` are left alone."""

DEFAULT_PATTERNS: tuple[str, ...] = (
    # "Bearer abc...", "Basic dXNl...": the scheme stays, the credential goes.
    r"(?i)(?P<keep>\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}",
    r"\bph[cx]_[A-Za-z0-9]{16,}",  # PostHog project and personal keys
    r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}",  # JWTs
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",  # AWS access key ids
    r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    # password=..., token=... in URLs, query strings and "key=value" text
    r"(?i)(?P<keep>\b(?:password|passwd|pwd|secret|token|api_?key|access_token|auth)=)"
    r"[^&\s\"';,]+",
    r"(?P<keep>://[^/\s:@]+:)[^/\s@]+(?=@)",  # user:password@ in URLs
)
"""Regular expressions whose matches are masked in every string value."""

# Text in which none of these occurs (in lower case) cannot match a default pattern:
# most strings are checked with a few substring tests, not seven regular expressions.
_DEFAULT_TRIGGERS = ("bearer", "basic", "ph", "eyj", "akia", "asia", "private key", "=", "://")

_SHORTEST = 8  # no credential pattern matches fewer characters
_CACHED_CHARS = 64
_CACHE_SIZE = 4096
_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normalized(key: str) -> str:
    return _SPLIT.sub("", key.lower())


def _words(key: str) -> set[str]:
    return set(_SPLIT.split(_CAMEL.sub("_", key).lower()))


def _mask(match: re.Match[str]) -> str:
    keep = match.groupdict().get("keep")
    return (keep or "") + MASK


class Scrubber:
    """Masks the values of secret-named keys and credential-shaped text."""

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_SECRET_KEYS,
        patterns: Iterable[str | Pattern[str]] = DEFAULT_PATTERNS,
    ) -> None:
        names = {_normalized(k) for k in keys if _normalized(k)}
        self._anywhere = tuple(sorted(n for n in names if len(n) >= 6))
        self._words = frozenset(n for n in names if len(n) < 6)
        patterns = list(patterns)
        # The default patterns run only on text holding one of their triggers; a
        # pattern of the user's runs on every string. Each masks its matches, keeping
        # its group "keep" (a scheme, a "key=").
        self._defaults = [re.compile(p) for p in patterns if p in DEFAULT_PATTERNS]
        self._others = [
            p if isinstance(p, Pattern) else re.compile(p)
            for p in patterns
            if p not in DEFAULT_PATTERNS
        ]
        self._secret_keys: dict[str, bool] = {}
        self._texts: dict[str, str] = {}

    def is_secret_key(self, key: str) -> bool:
        """Whether ``key`` names a secret (PostHog's ``$`` properties never do)."""
        known = self._secret_keys.get(key)
        if known is None:
            normalized = _normalized(key)
            known = not key.startswith("$") and (
                any(name in normalized for name in self._anywhere)
                or not self._words.isdisjoint(_words(key))
            )
            if len(self._secret_keys) < _CACHE_SIZE and len(key) <= 256:
                self._secret_keys[key] = known
        return known

    def text(self, value: str) -> str:
        """``value`` with every credential-shaped part masked."""
        # Short values repeat from event to event (logger, module and function
        # names, sources, ids): their answer is kept, in a table bounded in entries.
        if len(value) <= _CACHED_CHARS:
            known = self._texts.get(value)
            if known is None:
                known = self._text(value)
                if len(self._texts) >= _CACHE_SIZE:
                    self._texts.clear()
                self._texts[value] = known
            return known
        return self._text(value)

    def _text(self, value: str) -> str:
        if self._defaults and len(value) >= _SHORTEST:
            lower = value.lower()
            for trigger in _DEFAULT_TRIGGERS:
                if trigger in lower:
                    for pattern in self._defaults:
                        value = pattern.sub(_mask, value)
                    break
        for pattern in self._others:
            value = pattern.sub(_mask, value)
        return value


def compile_patterns(field: str, patterns: object) -> list[Pattern[str]]:
    """User patterns (strings or compiled), checked: TypeError or ValueError naming ``field``."""
    if patterns is None:
        return []
    if isinstance(patterns, (str, Pattern)):
        patterns = [patterns]
    if not isinstance(patterns, Iterable):
        raise TypeError(f"{field} must be a list of regular expressions, got {patterns!r}")
    compiled = []
    for pattern in patterns:
        if isinstance(pattern, Pattern):
            compiled.append(pattern)
            continue
        if not isinstance(pattern, str) or not pattern:
            raise TypeError(f"{field} must hold non-empty strings, got {pattern!r}")
        try:
            compiled.append(re.compile(pattern))
        except re.error as error:
            raise ValueError(f"{field}: {pattern!r} is not a regular expression: {error}") from None
    return compiled
