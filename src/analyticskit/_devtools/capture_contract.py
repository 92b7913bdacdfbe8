"""PostHog's capture contract, ``POST /batch/``: what a request must hold, and the
answers PostHog gives to one that does not. One implementation, used by the dev
server (`analyticskit dev`) and the test suite's capture server.

* The body is JSON, gunzipped first when ``Content-Encoding: gzip`` is sent:
  ``{"api_key": str, "batch": [event, ...], "sent_at": str,
  "historical_migration": bool?}``. Each event carries ``event``,
  ``distinct_id``, ``properties`` (an object), and usually ``timestamp``,
  ``uuid`` and ``type``.
* Rejections carry a JSON body ``{"type": ..., "code": ..., "detail": ...}``:
  401 when the api key is missing (or differs from the one expected), 413 when
  one event's JSON encoding exceeds 1,000,000 bytes, and 400 for an
  undecodable body (bad gzip, bad JSON, bare ``NaN``/``Infinity``), a batch
  that is missing, empty or not a list, or any event that is not an object,
  lacks a non-empty ``event`` name or ``distinct_id``, has a distinct id over
  200 characters, a ``uuid`` that is not a UUID, a ``timestamp`` that is not
  ISO-8601, or non-object ``properties``. A batch is accepted or rejected whole.
* Reading is bounded: every line of a chunked body (`MAX_LINE`), and a gzip body
  is inflated in a bounded stream (`gunzip`) against the cap given for the raw one.
"""

from __future__ import annotations

import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from typing import Any, Protocol, cast

from .._validate import MAX_DISTINCT_ID

#: Paths accepted with the ``/batch/`` contract (the SDK's default, its aliases and
#: its AI lane).
CAPTURE_PATHS: frozenset[str] = frozenset(
    {"/batch/", "/batch", "/e/", "/e", "/i/v0/e/", "/i/v0/e", "/i/v0/ai/batch/", "/i/v0/ai/batch"}
)
#: PostHog's largest accepted event, measured as its compact UTF-8 JSON encoding.
POSTHOG_MAX_EVENT_BYTES = 1_000_000


class Rejected(Exception):
    """A request the contract refuses: ``status`` and the JSON ``body`` to answer."""

    def __init__(self, status: int, type_: str, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "code": code, "detail": detail}


@dataclass(frozen=True)
class Batch:
    """An accepted request."""

    api_key: str
    gzip: bool
    events: list[dict[str, Any]]
    historical_migration: bool


class _Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...


#: Longest chunk-size or trailer line read, and most trailer lines.
MAX_LINE = 1024
MAX_TRAILERS = 64


def read_body(rfile: _Reader, headers: Message, max_bytes: int | None = None) -> bytes:
    """Read a request's body, ``Content-Length`` or chunked. Every line read is
    bounded (`MAX_LINE`), so a client cannot make it buffer an endless line.

    Raises:
        Rejected: 413 past ``max_bytes``; 400 for a malformed length, chunk size
            or chunk line.
        OSError: the client hung up.
    """
    try:
        if "chunked" in headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(_line(rfile).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    for _ in range(MAX_TRAILERS):
                        if _line(rfile) in (b"\r\n", b"\n", b""):
                            return b"".join(chunks)
                    raise ValueError("too many trailer lines")
                total += size
                _check_size(total, max_bytes)
                chunks.append(rfile.read(size))
                _line(rfile)
        length = int(headers.get("Content-Length") or 0)
    except ValueError as exc:
        raise invalid("invalid_payload", f"malformed body length: {exc}") from exc
    _check_size(length, max_bytes)
    return rfile.read(length) if length > 0 else b""


def _line(rfile: _Reader) -> bytes:
    line = rfile.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise ValueError(f"a chunk line over {MAX_LINE} bytes")
    return line


def gunzip(raw: bytes, max_bytes: int | None = None) -> bytes:
    """Decompress a gzip body (every member), in a bounded stream: at most
    ``max_bytes`` are ever inflated, so a small body cannot expand to gigabytes.

    Raises:
        Rejected: 413 past ``max_bytes``; 400 for a body that is not gzip.
    """
    out: list[bytes] = []
    total = 0
    try:
        while raw:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            while not inflater.eof:
                room = 0 if max_bytes is None else max_bytes - total + 1  # 0: no bound
                chunk = inflater.decompress(raw, room)
                total += len(chunk)
                if max_bytes is not None and total > max_bytes:
                    raise Rejected(
                        413,
                        "validation_error",
                        "payload_too_large",
                        f"body inflates past {max_bytes} bytes",
                    )
                out.append(chunk)
                raw = inflater.unconsumed_tail
                if not chunk and not raw:
                    raise EOFError("gzip body ends before its end marker")
            raw = inflater.unused_data
    except (EOFError, zlib.error) as exc:
        raise invalid("invalid_payload", f"failed to decompress gzip body: {exc}") from exc
    return b"".join(out)


def _check_size(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise Rejected(413, "validation_error", "payload_too_large", f"body over {max_bytes} bytes")


def invalid(code: str, detail: str) -> Rejected:
    """A 400 ``validation_error``."""
    return Rejected(400, "validation_error", code, detail)


def parse_request(
    content_encoding: str,
    raw: bytes,
    expected_api_key: str | None = None,
    max_bytes: int | None = None,
) -> Batch:
    """Decode and check one capture request's body (gunzipped to at most
    ``max_bytes``).

    Raises:
        Rejected: with PostHog's status and error body.
    """
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise invalid("invalid_payload", f"unsupported Content-Encoding: {encoding}")
    gzipped = encoding == "gzip"
    body = _parse_body(gunzip(raw, max_bytes) if gzipped else raw)
    api_key = body.get("api_key")
    if not isinstance(api_key, str) or not api_key.strip():
        raise Rejected(401, "authentication_error", "missing_api_key", "api_key is missing")
    if expected_api_key is not None and api_key != expected_api_key:
        raise Rejected(401, "authentication_error", "invalid_api_key", "api_key is invalid")
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise invalid("invalid_payload", "batch is missing or not a list")
    if not batch:
        raise invalid("empty_batch", "batch is empty")
    for index, event in enumerate(batch):
        _check_event(index, event)
    return Batch(
        api_key=api_key,
        gzip=gzipped,
        events=cast(list[dict[str, Any]], batch),
        historical_migration=bool(body.get("historical_migration", False)),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise invalid("invalid_payload", f"failed to decode JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise invalid("invalid_payload", "request body must be a JSON object")
    return cast(dict[str, Any], body)


def _check_event(index: int, event: Any) -> None:
    where = f"batch[{index}]"
    if not isinstance(event, dict):
        raise invalid("invalid_event", f"{where} is not a JSON object")
    _check_name(where, event.get("event"))
    _check_distinct_id(where, event.get("distinct_id"))
    _check_properties(where, event.get("properties"))
    _check_uuid(where, event.get("uuid"))
    _check_timestamp(where, event.get("timestamp"))
    _check_event_size(where, event)


def _check_name(where: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        raise invalid("missing_event_name", f"{where} has no event name")


def _check_distinct_id(where: str, distinct_id: object) -> None:
    if distinct_id is None or not str(distinct_id).strip():
        raise invalid("missing_distinct_id", f"{where} has no distinct_id")
    if len(str(distinct_id)) > MAX_DISTINCT_ID:
        raise invalid("invalid_distinct_id", f"{where}.distinct_id is over {MAX_DISTINCT_ID} chars")


def _check_properties(where: str, properties: object) -> None:
    if properties is not None and not isinstance(properties, dict):
        raise invalid("invalid_event", f"{where}.properties is not a JSON object")


def _check_uuid(where: str, event_uuid: Any) -> None:
    if event_uuid is None:
        return
    try:
        uuid.UUID(event_uuid)
    except (TypeError, ValueError, AttributeError) as exc:
        raise invalid("invalid_event", f"{where}.uuid is not a UUID: {event_uuid!r}") from exc


def _check_timestamp(where: str, timestamp: object) -> None:
    if timestamp is None:
        return
    if not isinstance(timestamp, str):
        raise invalid("invalid_event", f"{where}.timestamp is not a string")
    iso = timestamp[:-1] + "+00:00" if timestamp.endswith(("Z", "z")) else timestamp
    try:
        datetime.fromisoformat(iso)
    except ValueError as exc:
        raise invalid("invalid_event", f"{where}.timestamp is not ISO-8601: {timestamp!r}") from exc


def _check_event_size(where: str, event: dict[str, Any]) -> None:
    size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > POSTHOG_MAX_EVENT_BYTES:
        raise Rejected(
            413,
            "validation_error",
            "event_too_big",
            f"{where} is {size} bytes, over the {POSTHOG_MAX_EVENT_BYTES} byte limit",
        )
