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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from pythonjsonlogger.json import JsonEncoder

from .. import _diagnostics
from .._mapping.message import BeforeSend, Message
from .._validate import MAX_DISTINCT_ID, distinct_id_problem
from ..stats import DropReason
from .scrub import MASK, Scrubber

MAX_STRING_CHARS = 64 * 1024
"""A longer string value, at any depth, is cut (with a marker saying how much)."""
MAX_KEY_CHARS = 256
"""A longer property key is cut."""
EVENT_BYTES_CAP = 800 * 1024
"""Our cap on an event's properties, as JSON, below PostHog's limit: the SDK drops
an event over 900 KiB (silently), and PostHog refuses one over 1 MB
(``_devtools.capture_contract.POSTHOG_MAX_EVENT_BYTES``)."""
MAX_INT_BITS = 63
"""Integers beyond 64-bit range become strings: PostHog's JSON cannot hold them,
and Python cannot even print one of more than 4,300 digits."""

MAX_WALK_NODES = 10_000
"""Values one event's walk visits (properties, items, keys, at any depth): past it,
the rest is replaced by a marker saying how much was cut. A cyclic, very wide or
very deep value, a generator or an object whose ``__iter__`` lies costs an
event a few milliseconds of the worker's time at most."""
MAX_WALK_CHARS = 1_000_000
"""Characters of string values one event's walk reads (and scrubs): more than an
event can carry (`EVENT_BYTES_CAP`); the strings past it are replaced by a marker."""
CYCLE = "[cycle]"
"""What a container becomes where it contains itself (at any depth)."""

_MAX_DEPTH = 20
# The SDK's $exception, bounded by the SDK itself (a RecursionError's 1,000 frames
# are about 10,000 values): its frames are never cut by the walk's budget.
_SDK_EVENT_NODES = 200_000
_SMALLEST_CUT = 256  # per-string cap below which an oversized event is dropped instead
_OVER_BUDGET = "[cut: over the walk's budget]"
_SEQUENCES = (list, tuple)
_NOTHING: dict[str, Any] = {}
# Without a scrubber, the keys sent as they are (short, ASCII), answered inline as
# the scrubber's table answers them; bounded in entries.
_PLAIN_KEYS: dict[str, str | None] = {}
_PLAIN_KEYS_SIZE = 4096
_NOT_ENCODED = "__could_not_encode__"  # python-json-logger's answer when str and repr raise
_encoder = JsonEncoder()

RENAMED_KEYS = frozenset({"distinct_id", "token", "$process_person_profile"})
"""Keys with a meaning in PostHog that are renamed (``extra_distinct_id``...) when
set in ``extra`` or ``properties``: the distinct id, the project key and
personless processing are analyticskit's to set. (``$set``, ``$set_once``,
``$groups`` and ``$ip`` pass on purpose: person and group properties, GeoIP.)"""


class _Walk:
    """One pass over the properties with one cap on string lengths, one budget of
    values and characters, and the containers on the current path (cycles)."""

    def __init__(
        self, scrubber: Scrubber | None, string_cap: int, nodes: int = MAX_WALK_NODES
    ) -> None:
        self.scrubber = scrubber
        self.cap = string_cap
        self.cut = 0  # characters cut
        self.size = 0  # estimated JSON bytes (an upper bound)
        self.longest = 0  # the longest string seen (before cutting)
        self.nodes = nodes  # values left to visit
        self.chars = MAX_WALK_CHARS  # string characters left to read
        self.over = 0  # values replaced by a marker: cycles, nesting, the budget
        self.errors = 0  # a user's object raised while read
        self.path: set[int] = set()  # ids of the containers being walked
        # Every property of every event is looked up here: the keys and short
        # strings seen before are answered from the scrubber's tables, inline.
        self.known_keys: dict[str, str | None] = _PLAIN_KEYS
        self.known_texts: dict[str, str] = _NOTHING
        if scrubber is not None:
            self.known_keys, self.known_texts = scrubber.known_keys, scrubber.known_texts

    def properties(self, value: Mapping[str, Any]) -> dict[str, Any]:
        """The event's own properties dict (read as it is: it is analyticskit's)."""
        self.path.add(id(value))
        return self.mapping(value, 0)

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
        return self.container(value, depth)

    def container(self, value: Any, depth: int) -> Any:
        """A value of the user's that is not a plain scalar: walked once per path, in
        budget; what raises while read costs that value only (counted)."""
        if depth >= _MAX_DEPTH:
            return self.marker(f"[cut: nested deeper than {_MAX_DEPTH}]")
        if self.nodes <= 0:
            return self.marker(_OVER_BUDGET)
        key = id(value)
        path = self.path
        if key in path:
            return self.marker(CYCLE)
        path.add(key)
        try:
            if isinstance(value, Mapping):
                return self.mapping(value, depth + 1)
            if isinstance(value, _SEQUENCES):
                return self.sequence(value, depth + 1)
            return self.other(value, depth + 1)
        except Exception as error:
            self.errors += 1
            return self.marker(f"[unreadable {type(value).__name__}: {type(error).__name__}]")
        finally:
            path.discard(key)

    def other(self, value: Any, depth: int) -> Any:
        """A dataclass, as a mapping; any other object, as python-json-logger encodes it."""
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            # One level at a time (dataclasses.asdict copies the whole graph).
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self.mapping(fields, depth)
        converted = _encoder.default(value)
        if converted == _NOT_ENCODED:  # its __str__ and __repr__ raised
            self.errors += 1
            return self.marker(f"[unreadable {type(value).__name__}]")
        return self.value(converted, depth)

    def marker(self, text: str) -> str:
        self.over += 1
        self.size += len(text) + 2
        return text

    def sequence(self, value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
        self.size += 2
        if type(value) in _SEQUENCES:  # a list or tuple of its own: its len is true
            items = value if len(value) <= self.nodes else value[: max(self.nodes, 0)]
            self.nodes -= len(items)
            out = [self.value(item, depth) for item in items]
            if len(items) < len(value):
                out.append(self.marker(f"[cut: {len(value) - len(items)} more items]"))
            return out
        out = []
        for item in value:  # a subclass's __iter__ may never end
            if self.nodes <= 0:
                out.append(self.marker(_OVER_BUDGET))
                break
            self.nodes -= 1
            out.append(self.value(item, depth))
        return out

    def mapping(self, value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        items: Iterable[tuple[Any, Any]] = value.items()
        if type(value) is dict and len(value) <= self.nodes:
            self.nodes -= len(value)  # the common case: no check per item
        else:
            items = self.in_budget(items)
        keys, texts = self.known_keys, self.known_texts
        size = 0
        for raw_key, item in items:
            key = keys.get(raw_key) if type(raw_key) is str else None
            if key is None:  # a key not seen yet, or a secret's name
                key, item = self.new_key(raw_key, item)
            size += len(key) + 4
            if type(item) is str:
                known = texts.get(item)
                if known is not None and known.isascii():
                    out[key] = known
                    size += len(known) + 2
                else:
                    out[key] = self.text(item)
            else:
                out[key] = self.value(item, depth)
        self.size += size
        if self.nodes < 0:
            out["[cut]"] = self.marker(_OVER_BUDGET)
        return out

    def new_key(self, raw_key: object, item: Any) -> tuple[str, Any]:
        """A key not answered from the scrubber's table, as sent, and its value (masked
        if the key names a secret)."""
        name = self.key(raw_key)
        if self.scrubber is None:
            plain = type(raw_key) is str and name is raw_key and name.isascii()
            if plain and len(_PLAIN_KEYS) < _PLAIN_KEYS_SIZE:
                _PLAIN_KEYS[name] = name  # sent as it is, its size counted exactly
            return name, item
        key = self.scrubber.key(name)
        if key is None:
            return name, MASK  # a secret's name: its value is masked
        return key, item

    def in_budget(self, items: Iterable[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
        for item in items:
            self.nodes -= 1
            if self.nodes < 0:
                return
            yield item

    def key(self, key: object) -> str:
        """The key as a str, cut (the caller scrubs it and counts its size)."""
        text = key if isinstance(key, str) else str(key)
        if len(text) > MAX_KEY_CHARS:
            self.cut += len(text) - MAX_KEY_CHARS
            text = f"{text[:MAX_KEY_CHARS]}...[cut]"
        if not text.isascii():
            self.size += _json_bytes(text) - len(text)
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
        self.chars -= len(value)
        if self.chars < 0:
            return self.marker(_OVER_BUDGET)
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
        #: Values that raised while read (a property, an ``__iter__``), each sent as a marker.
        self.unreadable = 0

    def prepare(
        self, message: Message, entering: Callable[[str], None] | None = None
    ) -> Message | DropReason:
        """The event as it may leave, or why it may not. ``entering`` is told of each
        step that runs the application's code (a value's ``__str__``, a hook)."""
        if entering is not None:
            entering("the scrubbing of an event's values (a value's __str__)")
        properties = self._clean(message.properties)
        if properties is None:
            return "too_large"
        hooks = message.before_send
        if self.before_send is not None:
            hooks = (*hooks, self.before_send)
        message = _with_properties(message, properties, self.scrubber)
        if not hooks:
            return _with_checked_id(message)
        if entering is not None:
            entering("a before_send")
        for hook in hooks:
            edited = _run_before_send(hook, message)
            if edited is None:
                return "before_send"
            message = edited
        if entering is not None:
            entering("the scrubbing of an event's values (a value's __str__)")
        # A hook may have added anything: the caps apply to what it returned.
        properties = self._clean(message.properties)
        return (
            "too_large"
            if properties is None
            else _with_checked_id(_with_properties(message, properties, self.scrubber))
        )

    def _clean(self, properties: Mapping[str, Any]) -> dict[str, Any] | None:
        cap = MAX_STRING_CHARS
        while True:
            walk = _Walk(self.scrubber, cap)
            cleaned = _renamed(walk.properties(properties))
            if walk.size <= EVENT_BYTES_CAP or _exact_size(cleaned) <= EVENT_BYTES_CAP:
                break
            cap //= 4
            # Cutting strings again helps only if some string is longer than the new cap.
            if cap < _SMALLEST_CUT or walk.longest <= cap:
                _diagnostics.report_once(
                    "too-large",
                    f"an event stayed over {EVENT_BYTES_CAP} bytes with its strings cut to"
                    f" {cap * 4} characters; it was dropped (too_large). Reported once.",
                )
                return None
        if walk.over:
            _diagnostics.report_once(
                "walk-cut",
                "a value in an event's properties contained itself, was nested deeper than"
                f" {_MAX_DEPTH} or was over the budget of one event ({MAX_WALK_NODES} values,"
                f" {MAX_WALK_CHARS} characters); it was sent cut, with a marker. Reported once.",
            )
        if walk.errors:
            self.unreadable += walk.errors
            _diagnostics.report_once(
                "unreadable",
                "a value in an event's properties raised while it was read; it was sent as"
                " '[unreadable ...]' (counted in stats().unreadable_values). Reported once.",
            )
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
    # The name too: an EventData.id holding a credential is sent masked.
    # What dataclasses.replace does, at a quarter of its cost (once per event).
    return Message(
        message.name if scrubber is None else scrubber.text(message.name),
        message.distinct_id,
        properties,
        message.timestamp,
        message.uuid,
        message.exception,
        message.before_send,
        message.trace,
    )


def _with_checked_id(message: Message) -> Message:
    """``message`` with a distinct id PostHog accepts, whatever set it (posthog's
    context, a ``before_send``): PostHog refuses the whole batch of an event whose id
    is too long or blank, so such an id becomes personless (reported once)."""
    distinct_id = message.distinct_id
    if distinct_id is None or (
        type(distinct_id) is str and len(distinct_id) <= MAX_DISTINCT_ID and distinct_id.strip()
    ):
        return message
    problem = distinct_id_problem("distinct_id", distinct_id)
    if problem is None:  # a str subclass PostHog takes as it is
        return message
    _diagnostics.report_once(
        "bad-final-distinct-id",
        f"an event's final distinct id was refused ({problem}); it was sent personless."
        " (The id came from posthog's context or a before_send.) Reported once.",
    )
    return dataclasses.replace(message, distinct_id=None)


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


def scrub_exception(scrubber: Scrubber | None) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """What scrubs an Error Tracking ``$exception``'s properties (messages, paths,
    source lines), built with the SDK's helpers: with ``scrubber`` None, strings
    are only capped."""

    def scrub(properties: dict[str, Any]) -> dict[str, Any]:
        return _Walk(scrubber, MAX_STRING_CHARS, _SDK_EVENT_NODES).properties(properties)

    return scrub
