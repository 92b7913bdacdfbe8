"""What every event goes through on the worker before it leaves the process.

In this order: its properties are made JSON-safe and scrubbed of secrets, with
every string, key and number cut to what PostHog and the SDK can carry; keys
PostHog gives a meaning to are renamed when set by accident; the
``before_send`` hooks (the handler's, then the `Analytics` object's) may
change or drop the event; and an event still over PostHog's size limit is
cut further, or dropped as ``too_large``. Whatever is dropped here is
returned as a drop reason, for the delivery engine to count.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from pythonjsonlogger.defaults import unknown_default
from pythonjsonlogger.json import JsonEncoder

from . import _diagnostics
from ._message import BeforeSend, Message
from ._scrub import MASK, Scrubber
from .stats import DropReason

MAX_STRING_CHARS = 64 * 1024
"""A longer string value, at any depth, is cut (with a marker saying how much)."""
MAX_KEY_CHARS = 256
"""A longer property key is cut."""
MAX_EVENT_BYTES = 800 * 1024
"""An event's properties, as JSON, stay under this: the SDK drops an event over
900 KiB (silently), and PostHog refuses one over 1 MB."""
MAX_INT_BITS = 63
"""Integers beyond 64-bit range become strings: PostHog's JSON cannot hold them,
and Python cannot even print one of more than 4,300 digits."""

_MAX_DEPTH = 20
_SMALLEST_CUT = 256  # per-string cap below which an oversized event is dropped instead
_encoder = JsonEncoder()

RENAMED_KEYS = frozenset({"distinct_id", "token", "$process_person_profile"})
"""Keys with a meaning in PostHog that are renamed (``extra_distinct_id``...) when
set in ``extra`` or ``properties``: the distinct id, the project key and
personless processing are analyticskit's to set. (``$set``, ``$set_once``,
``$groups`` and ``$ip`` pass on purpose: person and group properties, GeoIP.)"""


class _Walk:
    """One pass over the properties with one cap on string lengths."""

    def __init__(self, scrubber: Scrubber | None, string_cap: int) -> None:
        self.scrubber = scrubber
        self.cap = string_cap
        self.cut = 0  # characters cut
        self.size = 0  # estimated JSON bytes (an upper bound)
        self.longest = 0  # the longest string seen (before cutting)

    def value(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool):
            self.size += 8
            return value
        if isinstance(value, float):
            self.size += 24
            # JSON has no NaN or Infinity: null, as the posthog SDK sends them.
            return value if math.isfinite(value) else None
        if isinstance(value, int):
            self.size += 24
            return value if value.bit_length() <= MAX_INT_BITS else _big_int(value)
        if depth >= _MAX_DEPTH:
            return self.text(unknown_default(value))  # a cycle or absurd nesting
        if isinstance(value, Mapping):
            return self.mapping(value, depth + 1)
        if isinstance(value, (list, tuple)):
            self.size += 2
            return [self.value(item, depth + 1) for item in value]
        return self.value(_encoder.default(value), depth + 1)

    def mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        scrubber = self.scrubber
        for raw_key, item in value.items():
            # The common cases inline (this runs for every property of every event).
            if type(raw_key) is str and len(raw_key) <= MAX_KEY_CHARS and raw_key.isascii():
                key = raw_key
                self.size += len(key) + 4
            else:
                key = self.key(raw_key)
            if scrubber is not None and scrubber.is_secret_key(key):
                self.size += len(MASK)
                out[key] = MASK
            elif type(item) is str:
                out[key] = self.text(item)
            else:
                out[key] = self.value(item, depth)
        return out

    def key(self, key: object) -> str:
        text = key if isinstance(key, str) else str(key)
        if len(text) > MAX_KEY_CHARS:
            self.cut += len(text) - MAX_KEY_CHARS
            text = f"{text[:MAX_KEY_CHARS]}...[cut]"
        self.size += _json_bytes(text) + 4
        return text

    def text(self, value: str) -> str:
        if len(value) < 8 and value.isascii():  # nothing to cut or mask
            self.size += len(value) + 2
            return value
        self.longest = max(self.longest, len(value))
        if len(value) > self.cap:
            cut = len(value) - self.cap
            self.cut += cut
            value = f"{value[: self.cap]}... [truncated {cut} characters]"
        if self.scrubber is not None:
            value = self.scrubber.text(value)
        self.size += _json_bytes(value) + 2
        return value


def _json_bytes(text: str) -> int:
    """An upper bound of ``text``'s size in the SDK's JSON (ASCII-escaped)."""
    return len(text) if text.isascii() else 12 * len(text)


def _big_int(value: int) -> str:
    digits = int(value.bit_length() * 0.30103) + 1
    if digits < 4_000:
        return str(value)
    return f"[an integer of about {digits} digits]"


def _exact_size(properties: dict[str, Any]) -> int:
    return len(json.dumps(properties, default=str).encode())


class Outgoing:
    """The last steps of every event, with one `Analytics` object's options."""

    def __init__(self, scrubber: Scrubber | None, before_send: BeforeSend | None) -> None:
        self.scrubber = scrubber
        self.before_send = before_send

    def prepare(self, message: Message) -> Message | DropReason:
        """The event as it may leave, or why it may not."""
        properties = self._clean(message.properties)
        if properties is None:
            return "too_large"
        hooks = message.before_send
        if self.before_send is not None:
            hooks = (*hooks, self.before_send)
        message = _with_properties(message, properties, self.scrubber)
        if not hooks:
            return message
        for hook in hooks:
            edited = _run_before_send(hook, message)
            if edited is None:
                return "before_send"
            message = edited
        # A hook may have added anything: the caps apply to what it returned.
        properties = self._clean(message.properties)
        return (
            "too_large"
            if properties is None
            else _with_properties(message, properties, self.scrubber)
        )

    def _clean(self, properties: Mapping[str, Any]) -> dict[str, Any] | None:
        cap = MAX_STRING_CHARS
        while True:
            walk = _Walk(self.scrubber, cap)
            cleaned = _renamed(walk.mapping(properties, 0))
            if walk.size <= MAX_EVENT_BYTES or _exact_size(cleaned) <= MAX_EVENT_BYTES:
                break
            cap //= 4
            # Cutting strings again helps only if some string is longer than the new cap.
            if cap < _SMALLEST_CUT or walk.longest <= cap:
                _diagnostics.report_once(
                    "too-large",
                    f"an event stayed over {MAX_EVENT_BYTES} bytes with its strings cut to"
                    f" {cap * 4} characters; it was dropped (too_large). Reported once.",
                )
                return None
        if walk.cut:
            _diagnostics.report_once(
                "truncated",
                f"string properties are cut at {cap} characters and keys at"
                f" {MAX_KEY_CHARS}, at any depth, so that an event stays under PostHog's"
                f" size limit; an event lost {walk.cut} characters so. Reported once.",
            )
        return cleaned


def _with_properties(
    message: Message, properties: dict[str, Any], scrubber: Scrubber | None
) -> Message:
    if type(message) is not Message:  # a log (the logs lane's LogMessage): its body too
        body = getattr(message, "body", "")
        if scrubber is not None and isinstance(body, str):
            body = scrubber.text(body)
        return dataclasses.replace(message, properties=properties, body=body)  # type: ignore[call-arg]  # LogMessage
    # What dataclasses.replace does, at a quarter of its cost (once per event).
    return Message(
        message.name,
        message.distinct_id,
        properties,
        message.timestamp,
        message.uuid,
        message.exception,
        message.before_send,
        message.trace,
    )


def _renamed(properties: dict[str, Any]) -> dict[str, Any]:
    clashes = RENAMED_KEYS.intersection(properties)
    for key in clashes:
        properties[f"extra_{key.lstrip('$')}"] = properties.pop(key)
        _diagnostics.report_once(
            f"renamed-{key}",
            f"the property {key!r} has a meaning in PostHog that analyticskit sets itself;"
            f" it was sent as 'extra_{key.lstrip('$')}'. Reported once.",
        )
    return properties


def _run_before_send(hook: BeforeSend, message: Message) -> Message | None:
    """``hook`` on the event as a dict; None if it dropped the event or failed (fail
    closed: the exception's type is reported once, never the event's content)."""
    event = {
        "event": message.name,
        "distinct_id": message.distinct_id,
        "properties": message.properties,
        "timestamp": message.timestamp,
        "uuid": message.uuid,
    }
    try:
        result = hook(event)
    except Exception as error:
        _diagnostics.report_once(
            f"before-send-{type(error).__name__}",
            f"before_send raised {type(error).__name__}; the event was dropped (before_send)."
            " Reported once per exception type.",
        )
        return None
    if result is None:
        return None
    if (
        not isinstance(result, dict)
        or not isinstance(result.get("event"), str)
        or not result["event"]
        or not isinstance(result.get("properties"), dict)
    ):
        _diagnostics.report_once(
            "before-send-result",
            "before_send returned something other than None or an event dict with 'event'"
            " and 'properties'; the event was dropped (before_send). Reported once.",
        )
        return None
    return replace(
        message,
        name=result["event"],
        distinct_id=result.get("distinct_id"),
        properties=result["properties"],
    )


def scrub_sdk_event(scrubber: Scrubber) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A posthog client ``before_send`` that scrubs the events the SDK builds itself
    (Error Tracking's ``$exception``: messages, paths, source lines)."""

    def scrub(event: dict[str, Any]) -> dict[str, Any]:
        if event.get("event") == "$exception" and isinstance(event.get("properties"), dict):
            walk = _Walk(scrubber, MAX_STRING_CHARS)
            event["properties"] = walk.mapping(event["properties"], 0)
        return event

    return scrub
