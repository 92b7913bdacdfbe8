"""The ``$exception`` event a record's exception becomes, built with the posthog SDK's
own helpers, and cut so that the whole event stays under PostHog's size limit.

The SDK's ``capture_exception`` queues any size: its consumer later drops an event
over 900 KiB without a word to the caller, so a deep traceback was counted as
sent. Here the frames of each stack are cut when the event is too large (the
outermost and the innermost kept, a marker frame saying how many were cut
between them), and an event that still does not fit is not handed over at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import posthog
from posthog.exception_utils import (
    exc_info_from_error,
    exception_is_already_captured,
    exceptions_from_error_tuple,
    handle_in_app,
)

from .._engine.outgoing import EVENT_BYTES_CAP, MAX_STRING_CHARS

# Frames kept at each end of a stack that must be cut, in the order tried.
_KEPT_AT_EACH_END = (64, 16, 4)


def exception_properties(
    client: posthog.Posthog,
    exception: BaseException,
    properties: dict[str, Any],
    scrub: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The ``$exception`` event's properties for ``exception`` (with ``properties``),
    passed through ``scrub``, under `EVENT_BYTES_CAP` as JSON; None if it cannot
    fit with its frames cut.

    Raises ValueError if the exception was captured by posthog already.
    """
    if exception_is_already_captured(exception):
        raise ValueError("captured by posthog already")
    event = {
        "$exception_list": _exception_list(client, exception),
        "$exception_level": "error",
        **properties,
    }
    if scrub is not None:
        event = scrub(event)
    exceptions = event["$exception_list"]
    if _size(event) <= EVENT_BYTES_CAP:
        return event
    return _with_frames_cut(event, exceptions)


def _exception_list(client: posthog.Posthog, exception: BaseException) -> list[dict[str, Any]]:
    """posthog's ``$exception_list``, in-app frames marked, long messages cut."""
    exceptions: list[dict[str, Any]] = exceptions_from_error_tuple(exc_info_from_error(exception))
    handle_in_app(
        {"exception": {"values": exceptions}},
        in_app_include=client.in_app_modules,
        project_root=client.project_root,
    )
    for value in exceptions:
        text = value.get("value")
        if isinstance(text, str) and len(text) > MAX_STRING_CHARS:
            value["value"] = f"{text[:MAX_STRING_CHARS]}... [truncated]"
    return exceptions


def _with_frames_cut(
    event: dict[str, Any], exceptions: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """``event`` with fewer frames kept in each stack until it fits; None if it never does."""
    stacks = [v["stacktrace"] for v in exceptions if isinstance(v.get("stacktrace"), dict)]
    whole = [list(stack.get("frames") or ()) for stack in stacks]
    for kept in _KEPT_AT_EACH_END:
        for stack, frames in zip(stacks, whole, strict=True):
            stack["frames"] = _cut(frames, kept)
        if _size(event) <= EVENT_BYTES_CAP:
            return event
    return None


def _cut(frames: list[Any], kept: int) -> list[Any]:
    """The outermost and innermost ``kept`` frames, a marker frame between them."""
    if len(frames) <= 2 * kept + 1:
        return frames
    cut = len(frames) - 2 * kept
    marker: dict[str, Any] = {
        "platform": "python",
        "filename": "[analyticskit]",
        "abs_path": None,
        "function": f"[{cut} frames cut by analyticskit to fit PostHog's size limit]",
        "module": None,
        "lineno": None,
        "pre_context": [],
        "context_line": None,
        "post_context": [],
        "in_app": False,
    }
    return [*frames[:kept], marker, *frames[-kept:]]


def _size(event: dict[str, Any]) -> int:
    return len(json.dumps(event, default=str).encode())
