"""EventData, its allowed values, the PostHog event name and the wire properties.

The field names and wire property names follow BackendKit's AnalyticsKit, so a
Python backend and the existing TypeScript/iOS clients share one PostHog project.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_SOURCES",
    "EVENT_TYPES",
    "RELEVANCIES",
    "EventData",
    "EventType",
    "Relevancy",
    "Source",
    "register_source",
    "registered_sources",
]

EventType = Literal["info", "error", "success"]
"""The kind of event: the prefix of the PostHog event name."""

Relevancy = Literal["low", "medium", "high"]
"""How much an event matters; unset resolves to ``medium`` (``high`` for errors)."""

Source = Literal["general", "auth", "db", "analytics", "iap", "notif", "aikit"]
"""The sources AnalyticsKit knows out of the box. Applications may register more."""

EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
RELEVANCIES: tuple[Relevancy, ...] = get_args(Relevancy)
DEFAULT_SOURCES: tuple[str, ...] = get_args(Source)

_sources_lock = threading.Lock()
# Replaced, never mutated, so readers need no lock.
_sources: frozenset[str] = frozenset(DEFAULT_SOURCES)


def register_source(*names: str) -> None:
    """Allow more source names than the original seven (``"billing"``, ``"search"``...).

    Registration is process-wide and idempotent. Names must be non-empty strings.

    .. versionadded:: 0.1.0
    """
    global _sources
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(
                f"register_source: source names must be non-empty strings, got {name!r}"
            )
    with _sources_lock:
        _sources = _sources | frozenset(names)


def registered_sources() -> frozenset[str]:
    """The source names currently accepted: the default seven plus registered ones.

    .. versionadded:: 0.1.0
    """
    return _sources


def _allowed(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in sorted(values))


def _check_choice(field: str, value: object, allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    if not isinstance(value, str):
        raise TypeError(
            f"EventData.{field} must be a str, got {type(value).__name__} {value!r};"
            f" allowed: {_allowed(allowed)}"
        )
    if value not in allowed:
        raise ValueError(
            f"EventData.{field}={value!r} is not allowed; allowed: {_allowed(allowed)}"
        )


@dataclass(frozen=True, slots=True)
class EventData:
    """What happened, in AnalyticsKit's terms. Immutable; validated on creation.

    Args:
        event_type: ``"info"``, ``"error"`` or ``"success"``.
        id: non-empty identifier, snake_case recommended (``"fetch_all_users"``).
        source: one of the default sources or a name given to `register_source`.
        long_description: optional human-readable detail.
        relevancy: ``"low"``, ``"medium"`` or ``"high"``; None resolves to
            ``"medium"``, or ``"high"`` for ``error`` events.

    Raises:
        TypeError: a field has the wrong type.
        ValueError: a field has a value outside its allowed set, or ``id`` is empty.

    .. versionadded:: 0.1.0
    """

    event_type: EventType
    id: str
    source: str = "general"
    long_description: str | None = None
    relevancy: Relevancy | None = None

    def __post_init__(self) -> None:
        _check_choice("event_type", self.event_type, EVENT_TYPES)
        if not isinstance(self.id, str):
            raise TypeError(
                f"EventData.id must be a non-empty str, got {type(self.id).__name__} {self.id!r}"
            )
        if not self.id.strip():
            raise ValueError(f"EventData.id must be a non-empty str, got {self.id!r}")
        _check_choice("source", self.source, _sources)
        if self.long_description is not None and not isinstance(self.long_description, str):
            raise TypeError(
                "EventData.long_description must be a str or None, got"
                f" {type(self.long_description).__name__} {self.long_description!r}"
            )
        if self.relevancy is not None:
            _check_choice("relevancy", self.relevancy, RELEVANCIES)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventData:
        """Build from a mapping with the original camelCase keys or snake_case ones.

        ``{"eventType": "info", "id": "fetch_all_users", "source": "db"}`` ports a
        TypeScript call site by copy. Unknown keys raise ``ValueError``.

        .. versionadded:: 0.1.0
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"EventData.from_dict expects a mapping, got {type(data).__name__}")
        fields: dict[str, Any] = {}
        for key, value in data.items():
            name = _KEY_ALIASES.get(key)
            if name is None:
                raise ValueError(
                    f"EventData.from_dict: unknown key {key!r}; allowed: {_allowed(_KEY_ALIASES)}"
                )
            if name in fields:
                raise ValueError(
                    f"EventData.from_dict: {name!r} given twice (as camelCase and snake_case)"
                )
            fields[name] = value
        for required in ("event_type", "id"):
            if required not in fields:
                raise ValueError(f"EventData.from_dict: missing required key {required!r}")
        return cls(**fields)

    @property
    def resolved_relevancy(self) -> Relevancy:
        """The relevancy sent: as given, else ``high`` for errors and ``medium`` otherwise."""
        if self.relevancy is not None:
            return self.relevancy
        return "high" if self.event_type == "error" else "medium"

    @property
    def event_name(self) -> str:
        """The PostHog event name: ``{event_type}_{id}``, e.g. ``info_fetch_all_users``."""
        return f"{self.event_type}_{self.id}"

    def wire_properties(self) -> dict[str, Any]:
        """The event's properties under the original AnalyticsKit names."""
        props: dict[str, Any] = {
            "eventType": self.event_type,
            "id": self.id,
            "source": self.source,
            "relevancy": self.resolved_relevancy,
        }
        if self.long_description is not None:
            props["longDescription"] = self.long_description
        return props


_KEY_ALIASES: dict[str, str] = {
    "eventType": "event_type",
    "event_type": "event_type",
    "id": "id",
    "source": "source",
    "longDescription": "long_description",
    "long_description": "long_description",
    "relevancy": "relevancy",
}
