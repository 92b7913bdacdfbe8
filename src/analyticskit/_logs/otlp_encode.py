"""OTLP logs requests (``ExportLogsServiceRequest``) written as protobuf bytes.

The trick, named: OpenTelemetry's encoder builds a protobuf object for every
record, attribute and value (twenty-odd objects a log, about 40 us on a loaded
core) from SDK records it first validates; writing the wire format directly is a
fifth of that, which keeps the lane's CPU per delivered log under OpenTelemetry's
own recipe. Only what the lane sends is written: one resource, one scope, and
per record the fields of ``opentelemetry/proto/logs/v1/logs.proto``. The test
suite decodes every request with the official ``opentelemetry-proto`` classes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

_fixed64 = struct.Struct("<Q").pack
_double = struct.Struct("<d").pack

# (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited).
_REQUEST_RESOURCE_LOGS = b"\x0a"  # ExportLogsServiceRequest.resource_logs = 1
_RESOURCE = b"\x0a"  # ResourceLogs.resource = 1
_SCOPE_LOGS = b"\x12"  # ResourceLogs.scope_logs = 2
_SCOPE = b"\x0a"  # ScopeLogs.scope = 1
_LOG_RECORD = b"\x12"  # ScopeLogs.log_records = 2
_NAME, _VERSION = b"\x0a", b"\x12"  # InstrumentationScope.name = 1, .version = 2
_ATTRIBUTE = b"\x0a"  # Resource.attributes = 1
_KEY, _VALUE = b"\x0a", b"\x12"  # KeyValue.key = 1, .value = 2
_STRING, _BOOL, _INT, _DOUBLE = b"\x0a", b"\x10", b"\x18", b"\x21"  # AnyValue 1-4
_TIME = b"\x09"  # LogRecord.time_unix_nano = 1 (fixed64)
_SEVERITY_NUMBER = b"\x10"  # = 2
_SEVERITY_TEXT = b"\x1a"  # = 3
_BODY = b"\x2a"  # = 5
_RECORD_ATTRIBUTE = b"\x32"  # = 6
_TRACE_ID, _SPAN_ID = b"\x4a", b"\x52"  # = 9, = 10
_OBSERVED_TIME = b"\x59"  # = 11 (fixed64)


def _varint(value: int) -> bytes:
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag + _varint(len(payload)) + payload


def _any_value(value: Any) -> bytes:
    """An ``AnyValue`` for a str, bool, int (int64) or float; anything else as text."""
    if isinstance(value, str):
        return _field(_STRING, value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bool):
        return _BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return _INT + _varint(value & 0xFFFFFFFFFFFFFFFF)  # two's complement, as int64
    if isinstance(value, float):
        return _DOUBLE + _double(value)
    return _field(_STRING, str(value).encode("utf-8", "surrogatepass"))


def _key_values(tag: bytes, attributes: Mapping[str, Any]) -> bytes:
    return b"".join(
        _field(
            tag,
            _field(_KEY, key.encode("utf-8", "surrogatepass")) + _field(_VALUE, _any_value(value)),
        )
        for key, value in attributes.items()
        if value is not None
    )


def log_record(
    *,
    time_unix_nano: int,
    severity_number: int,
    severity_text: str,
    body: str,
    attributes: Mapping[str, Any],
    trace: tuple[int, int] | None,
) -> bytes:
    """One ``LogRecord``, its observed time equal to its time, as the spec says."""
    stamp = _fixed64(time_unix_nano)
    record = (
        _TIME
        + stamp
        + _SEVERITY_NUMBER
        + _varint(severity_number)
        + _field(_SEVERITY_TEXT, severity_text.encode("utf-8", "surrogatepass"))
        + _field(_BODY, _any_value(body))
        + _key_values(_RECORD_ATTRIBUTE, attributes)
        + _OBSERVED_TIME
        + stamp
    )
    if trace is not None:
        record += _field(_TRACE_ID, trace[0].to_bytes(16, "big"))
        record += _field(_SPAN_ID, trace[1].to_bytes(8, "big"))
    return _field(_LOG_RECORD, record)


def envelope(resource: Mapping[str, Any], scope: tuple[str, str]) -> tuple[bytes, bytes]:
    """The constant parts of every request of a lane: the encoded resource and scope
    (one ``resourceLogs`` with one ``scopeLogs``, as the specification says)."""
    name, version = scope
    return (
        _field(_RESOURCE, _key_values(_ATTRIBUTE, resource)),
        _field(
            _SCOPE, _field(_NAME, name.encode("utf-8")) + _field(_VERSION, version.encode("utf-8"))
        ),
    )


def request(envelope: tuple[bytes, bytes], records: Iterable[bytes]) -> bytes:
    """An ``ExportLogsServiceRequest`` of encoded records."""
    resource, scope = envelope
    scope_logs = _field(_SCOPE_LOGS, scope + b"".join(records))
    return _field(_REQUEST_RESOURCE_LOGS, resource + scope_logs)
