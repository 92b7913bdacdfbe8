"""Reading an OTLP/HTTP logs request (``ExportLogsServiceRequest``) for the dev server.

Two encodings, as OTLP/HTTP defines them: JSON (``application/json``, decoded with
the standard library) and protobuf (``application/x-protobuf``, what the logs lane's
exporter sends). Protobuf needs ``opentelemetry-proto``, which the ``logs`` extra
installs; without it a protobuf request is answered 415 with the hint, never
guessed at, so the dev server adds no runtime dependency.

Each record comes out flat: ``body``, ``severity_text``, ``severity_number``,
``time_unix_nano``, ``trace_id`` and ``span_id`` (hex, or ``""``),
``attributes``, ``resource`` (its attributes) and ``scope``.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from typing import Any, cast

from .capture_contract import Rejected, invalid

JSON_TYPE = "application/json"
PROTOBUF_TYPE = "application/x-protobuf"
PROTOBUF_HINT = (
    "a protobuf logs request needs opentelemetry-proto:"
    " pip install 'analyticskit-posthog[logs]' (or send OTLP JSON, application/json)"
)


def decode_logs(raw: bytes, content_type: str) -> list[dict[str, Any]]:
    """The records of one request body (already gunzipped), ``content_type`` being
    `PROTOBUF_TYPE` or `JSON_TYPE`.

    Raises:
        Rejected: 400 for a body that does not decode, 415 for protobuf without
            ``opentelemetry-proto``.
    """
    if content_type == PROTOBUF_TYPE:
        return _records(_from_protobuf(raw), hex_ids=False)
    try:
        request = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise invalid("invalid_payload", f"not OTLP JSON: {error}") from error
    return _records(request, hex_ids=True)


def _from_protobuf(raw: bytes) -> Any:
    try:
        json_format = importlib.import_module("google.protobuf.json_format")
        service = importlib.import_module("opentelemetry.proto.collector.logs.v1.logs_service_pb2")
    except ImportError:
        raise Rejected(415, "validation_error", "protobuf_unavailable", PROTOBUF_HINT) from None
    try:
        message = service.ExportLogsServiceRequest.FromString(raw)
    except Exception as error:  # protobuf's DecodeError
        raise invalid("invalid_payload", f"not an OTLP protobuf logs request: {error}") from error
    return json_format.MessageToDict(message, use_integers_for_enums=True)


def _records(request: Any, *, hex_ids: bool) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for resource_logs in _list(_object(request, "request").get("resourceLogs"), "resourceLogs"):
        resource_logs = _object(resource_logs, "resourceLogs[]")
        resource = _attributes(_object(resource_logs.get("resource") or {}, "resource"))
        for scope_logs in _list(resource_logs.get("scopeLogs"), "scopeLogs"):
            scope_logs = _object(scope_logs, "scopeLogs[]")
            scope = _object(scope_logs.get("scope") or {}, "scope").get("name") or ""
            for record in _list(scope_logs.get("logRecords"), "logRecords"):
                record = _object(record, "logRecords[]")
                records.append(
                    {
                        "body": _value(record.get("body")),
                        "severity_text": str(record.get("severityText") or ""),
                        "severity_number": _int(record.get("severityNumber"), "severityNumber"),
                        "time_unix_nano": _int(
                            record.get("timeUnixNano") or record.get("observedTimeUnixNano"),
                            "timeUnixNano",
                        ),
                        "trace_id": _id(record.get("traceId"), hex_ids),
                        "span_id": _id(record.get("spanId"), hex_ids),
                        "attributes": _attributes(record),
                        "resource": resource,
                        "scope": str(scope),
                    }
                )
    return records


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("invalid_payload", f"{where} is not an object")
    return cast(dict[str, Any], value)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("invalid_payload", f"{where} is not a list")
    return value


def _int(value: Any, where: str) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(value)  # int64 travels as a string in OTLP JSON
    except (TypeError, ValueError):
        raise invalid("invalid_payload", f"{where} is not an integer: {value!r}") from None


def _id(value: Any, hex_ids: bool) -> str:
    if not value:
        return ""
    if not isinstance(value, str):
        raise invalid("invalid_payload", f"a trace or span id is not a string: {value!r}")
    if hex_ids:
        return value.lower()
    try:
        return base64.b64decode(value).hex()  # protobuf's JSON form of bytes
    except binascii.Error:
        raise invalid("invalid_payload", f"a trace or span id is not base64: {value!r}") from None


def _attributes(holder: dict[str, Any]) -> dict[str, Any]:
    pairs = _list(holder.get("attributes") or holder.get("values"), "attributes")
    return {str(_object(pair, "attribute").get("key")): _value(pair.get("value")) for pair in pairs}


def _value(value: Any) -> Any:
    """An ``AnyValue`` as plain JSON (an int64 stays the string it travelled as)."""
    if value is None:
        return None
    value = _object(value, "value")
    for kind, item in value.items():
        if kind == "arrayValue":
            return [_value(v) for v in _list(_object(item, kind).get("values"), kind)]
        if kind == "kvlistValue":
            return _attributes(_object(item, kind))
        return item
    return None
