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
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "auth",
    "credential",
    "cookie",
    "set-cookie",
    "session",
    "csrf",
    "xsrf",
    "jwt",
    "credit_card",
    "card_number",
    "cvv",
    "ssn",
    "private_key",
)
"""Key names whose values are masked, case-insensitive, also inside longer names
(``db_password``, ``X-Api-Key``, ``credentials``). Names of six letters or more
match anywhere in the key; shorter ones (``pwd``, ``auth``, ``token``, ``jwt``...)
match a whole word of it, so that ``author`` or ``tokens_used`` are left alone.
The same names mask ``name=value`` text in every string (`key_value_patterns`)."""

DEFAULT_PATTERNS: tuple[str, ...] = (
    # "Bearer abc...", "Basic dXNl...": the scheme stays, the credential goes. A
    # credential has a digit, a symbol or a capital inside, or is longer than a word
    # (posthog-python's rule): "basic subscription" is prose.
    r"(?i)(?P<keep>\b(?:bearer|basic)\s+)"
    r"(?=[A-Za-z0-9._~+/=-]*(?:[0-9+/=_~.]|[a-z](?-i:[A-Z]))|[a-z]{16})[A-Za-z0-9._~+/=-]{8,}",
    # Well-known credential formats (a subset of those of posthog-python's exception
    # capture, from the gitleaks rules): also inside a snake_case name.
    r"(?<![A-Za-z0-9])(?:"
    r"ph[cx]_[A-Za-z0-9]{16,}"  # PostHog project and personal keys
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"  # JWTs
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key ids
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{16,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|xox[abeoprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[A-Za-z0-9_-]{35}"  # Google API keys
    r"|sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic
    r")",
    r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
    r"(?i)(?P<keep>://[^/\s:@]+:)[^/\s@]+(?=@)",  # user:password@ in URLs
)
"""Regular expressions whose matches are masked in every string value."""

AWS_SECRET_PATTERN = (
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])"
    r"(?=[A-Za-z0-9/+]*[0-9])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
"""A bare AWS secret access key: 40 characters of base64 with capitals, small
letters and digits (a hex digest of 40, such as a git commit, has no capitals)."""

# Text in which none of these occurs (in lower case) cannot match a default pattern:
# most strings are checked with a few substring tests, not every regular expression.
_DEFAULT_TRIGGERS = (
    "bearer",
    "basic",
    "phc_",
    "phx_",
    "eyj",
    "akia",
    "asia",
    "_live_",
    "_test_",
    "whsec_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "aiza",
    "sk-",
    "private key",
    "://",
)
_AWS_SECRET_CHARS = 40

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


_NAME_PART = r"[\w.-]{0,40}"  # bounded: no backtracking blow-up on a long token
_UNQUOTED = r"(?:(?!%26)[^\s&\"';,)\]}])+"
_KEY_VALUE = (
    r"(?i)(?P<keep>(?<![\w.-])(?:{names})"
    r"(?:[\"']?\s?(?:=(?!=)|%3d)|[\"']?:(?!//))\s?[\"']?)"
    # The value: up to its closing quote; unquoted after "=" to the next space or
    # separator; unquoted after ":" too, unless it is a word of prose ("password: reset").
    r"(?!\[Filtered\])(?:(?<=[\"'])[^\"'\n]+"
    r"|(?:(?<=[=d])|(?<=[=d]\s)){value}"
    r"|(?:(?<=:)|(?<=:\s))(?!(?-i:[a-z]+)(?:[\s.,;!?]|$))(?!(?:bearer|basic|digest)\b){value})"
)


def key_value_pattern(keys: Iterable[str]) -> tuple[Pattern[str], tuple[str, ...]] | None:
    """The pattern that masks the value after each secret key name in text
    (``DATABASE_PASSWORD=x``, ``password='x'``, ``{"password": "x"}``,
    ``password: x2``, ``password%3Dx``), by the rule of `DEFAULT_SECRET_KEYS`;
    and the substrings (in lower case) without which it cannot match."""
    names, triggers = [], []
    for key in keys:
        parts = [p for p in _SPLIT.split(key.lower()) if p]
        if not parts:
            continue
        triggers.append(max(parts, key=len))
        form = r"[_.-]?".join(re.escape(p) for p in parts)
        if len("".join(parts)) >= 6:  # anywhere in the name
            names.append(rf"{_NAME_PART}?{form}{_NAME_PART}")
        else:  # a word of the name (snake_case, kebab-case, camelCase)
            names.append(
                rf"(?:{_NAME_PART}[_.-]|{_NAME_PART}(?-i:[a-z0-9])(?=(?-i:[A-Z])))?{form}"
                rf"(?:[_.-]{_NAME_PART}|(?=(?-i:[A-Z])){_NAME_PART})?"
            )
    if not names:
        return None
    pattern = _KEY_VALUE.format(names="|".join(names), value=_UNQUOTED)
    return re.compile(pattern), tuple(sorted(set(triggers)))


class Scrubber:
    """Masks the values of secret-named keys and credential-shaped text."""

    def __init__(
        self,
        keys: Iterable[str] = DEFAULT_SECRET_KEYS,
        patterns: Iterable[str | Pattern[str]] = DEFAULT_PATTERNS,
    ) -> None:
        keys = list(keys)
        self._anywhere, self._words = _key_names(keys)
        # The default patterns run only on text holding one of their triggers; a
        # pattern of the user's runs on every string. Each masks its matches, keeping
        # its group "keep" (a scheme, a "key=").
        self._defaults, self._others = _compiled_patterns(patterns)
        self._aws = re.compile(AWS_SECRET_PATTERN) if self._defaults else None
        self._key_value = key_value_pattern(keys)
        self._secret_keys: dict[str, bool] = {}
        #: The answers of `key` and (for texts of up to 64 characters) `text`, read
        #: directly by the walk's fast path; bounded in entries.
        self.known_keys: dict[str, str | None] = {}
        self.known_texts: dict[str, str] = {}

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

    def key(self, key: str) -> str | None:
        """None if ``key`` names a secret (its value is masked), else the key as sent:
        with credential-shaped text masked (a token used as a dict key)."""
        try:
            return self.known_keys[key]
        except KeyError:
            pass
        known = None if self.is_secret_key(key) else self.text(key)
        if len(self.known_keys) >= _CACHE_SIZE:
            self.known_keys.clear()
        self.known_keys[key] = known
        return known

    def text(self, value: str) -> str:
        """``value`` with every credential-shaped part masked."""
        # Short values repeat from event to event (logger, module and function
        # names, sources, ids): their answer is kept, in a table bounded in entries.
        if len(value) <= _CACHED_CHARS:
            known = self.known_texts.get(value)
            if known is None:
                known = self._text(value)
                if len(self.known_texts) >= _CACHE_SIZE:
                    self.known_texts.clear()
                self.known_texts[value] = known
            return known
        return self._text(value)

    def _text(self, value: str) -> str:
        if len(value) >= _SHORTEST:
            lower = value.lower()
            key_value = self._key_value
            if key_value is not None and any(t in lower for t in key_value[1]):
                value = key_value[0].sub(_mask, value)
            if self._defaults:
                value = self._default_masks(value, lower)
        for pattern in self._others:
            value = pattern.sub(_mask, value)
        return value

    def _default_masks(self, value: str, lower: str) -> str:
        """``value`` through the default patterns (if it holds one of their triggers)
        and the AWS secret key's."""
        for trigger in _DEFAULT_TRIGGERS:
            if trigger in lower:
                for pattern in self._defaults:
                    value = pattern.sub(_mask, value)
                break
        if self._aws is not None and len(value) >= _AWS_SECRET_CHARS:
            value = self._aws.sub(MASK, value)
        return value


def _key_names(keys: list[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The normalized secret key names: those found anywhere in a key (6 characters
    or more), and the shorter ones, found only as a word of it."""
    names = {_normalized(k) for k in keys if _normalized(k)}
    anywhere = tuple(sorted(n for n in names if len(n) >= 6))
    return anywhere, frozenset(n for n in names if len(n) < 6)


def _compiled_patterns(
    patterns: Iterable[str | Pattern[str]],
) -> tuple[list[Pattern[str]], list[Pattern[str]]]:
    """The default patterns among ``patterns``, and the user's, compiled."""
    patterns = list(patterns)
    defaults = [re.compile(p) for p in patterns if p in DEFAULT_PATTERNS]
    others = [re.compile(p) for p in patterns if p not in DEFAULT_PATTERNS]
    return defaults, others


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
