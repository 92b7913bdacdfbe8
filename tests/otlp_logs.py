"""Decoding of OTLP/HTTP log requests for the capture server (``opentelemetry-proto``)."""

from __future__ import annotations

import gzip
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def decode_logs(raw: bytes, gzipped: bool) -> list[dict[str, Any]]:
    """One dict per log record: ``body``, ``severity_text``, ``severity_number``,
    ``time_unix_nano``, ``trace_id`` and ``span_id`` (hex, "" when absent),
    ``attributes``, ``resource`` and ``scope``. Raises
    ValueError for a body that is not a (gzipped) ``ExportLogsServiceRequest``."""
    try:
        data = gzip.decompress(raw) if gzipped else raw
        request = ExportLogsServiceRequest.FromString(data)
    except Exception as error:  # bad gzip, or protobuf's DecodeError
        raise ValueError(f"not an OTLP logs request: {error}") from error
    logs: list[dict[str, Any]] = []
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                logs.append(
                    {
                        "body": _value(record.body),
                        "severity_text": record.severity_text,
                        "severity_number": int(record.severity_number),
                        "time_unix_nano": int(record.time_unix_nano),
                        "trace_id": record.trace_id.hex(),
                        "span_id": record.span_id.hex(),
                        "attributes": _attributes(record.attributes),
                        "resource": resource,
                        "scope": scope_logs.scope.name,
                        "gzip": gzipped,
                    }
                )
    return logs
