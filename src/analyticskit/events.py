"""EventData, its allowed values, the PostHog event name and the wire properties.

The field names and wire property names follow BackendKit's AnalyticsKit, so a
Python backend and the existing TypeScript/iOS clients share one PostHog project.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ._validate import check, choice_problem, describe, optional_text_problem, text_problem

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

MAX_ID_CHARS = 200
"""The longest ``id``: the event name is ``{event_type}_{id}``."""

EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
RELEVANCIES: tuple[Relevancy, ...] = get_args(Relevancy)
DEFAULT_SOURCES: tuple[str, ...] = get_args(Source)

_sources_lock = threading.Lock()
# Replaced, never mutated, so readers need no lock.
_sources: frozenset[str] = frozenset(DEFAULT_SOURCES)


def register_source(*names: str) -> None:
    """Allow more source names than the original seven (``"billing"``, ``"search"``...).

    Registration is process-wide and idempotent. Names must be non-empty strings
    (TypeError for a non-string, ValueError for a blank one); nothing is
    registered if one of them is not.
    """
    global _sources
    for name in names:
        check(text_problem("register_source: a source name", name))
    with _sources_lock:
        _sources = _sources | frozenset(names)


def registered_sources() -> frozenset[str]:
    """The source names currently accepted: the default seven plus registered ones."""
    return _sources


@dataclass(frozen=True, slots=True)
class EventData:
    """What happened, in AnalyticsKit's terms. Immutable; validated on creation.

    Args:
        event_type: ``"info"``, ``"error"`` or ``"success"``.
        id: non-empty identifier of at most 200 characters, snake_case recommended
            (``"fetch_all_users"``).
        source: one of the default sources or a name given to `register_source`.
        long_description: optional human-readable detail.
        relevancy: ``"low"``, ``"medium"`` or ``"high"``; None resolves to
            ``"medium"``, or ``"high"`` for ``error`` events.

    Raises:
        TypeError: a field has the wrong type.
        ValueError: a field has a value outside its allowed set, or ``id`` is blank.
    """

    event_type: EventType
    id: str
    source: str = "general"
    long_description: str | None = None
    relevancy: Relevancy | None = None

    def __post_init__(self) -> None:
        check(choice_problem("EventData.event_type", self.event_type, EVENT_TYPES))
        check(text_problem("EventData.id", self.id, max_chars=MAX_ID_CHARS))
        check(choice_problem("EventData.source", self.source, _sources))
        check(optional_text_problem("EventData.long_description", self.long_description))
        if self.relevancy is not None:
            check(choice_problem("EventData.relevancy", self.relevancy, RELEVANCIES))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EventData:
        """Build from a mapping with the original camelCase keys or snake_case ones.

        ``{"eventType": "info", "id": "fetch_all_users", "source": "db"}`` ports a
        TypeScript call site by copy. Unknown keys raise ``ValueError``.
        """
        if not isinstance(data, Mapping):
            raise TypeError(
                f"EventData.from_dict expects a mapping, got {type(data).__name__} {describe(data)}"
            )
        fields: dict[str, Any] = {}
        for key, value in data.items():
            name = _KEY_ALIASES.get(key)
            if name is None:
                problem = choice_problem("EventData.from_dict: key", key, _KEY_ALIASES)
                raise ValueError(str(problem))
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
