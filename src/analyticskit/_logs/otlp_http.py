"""One OTLP/HTTP logs request, and what PostHog's SDK logs specification makes of
its answer.

The specification (``openspec/specs/logs/spec.md`` in PostHog's ``sdk-specs``,
"Error handling and retries" and "Server-side contract") and PostHog's
``capture-logs`` service (``rust/capture-logs``: ``errors.rs``, ``quota.rs``)
say: a body over 2 MB, raw or decompressed, is answered 413 (halve the batch
and retry; a single record that still does not fit is dropped); a project over
its logs quota is answered 429 with ``Retry-After`` (900 s); 408, 429, 5xx and
network errors are retried with backoff, honouring ``Retry-After``; any other
4xx drops the batch, which must not block the queue.
"""

from __future__ import annotations

import gzip
import math
import os
import time
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any, NamedTuple
from urllib.parse import urlsplit

#: capture-logs refuses a body over 2 MiB, compressed or decompressed; every
#: request stays strictly under it, before and after gzip.
MAX_BODY_BYTES = 2 * 1024 * 1024

ENV_ENDPOINT = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
ENV_HEADERS = "OTEL_EXPORTER_OTLP_LOGS_HEADERS"

_CONTENT_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
_GZIP_LEVEL = 6  # zlib's default: within a few per cent of 9's size, at a third of its CPU


class Verdict(Enum):
    """What to do with a batch after one request."""

    SENT = "sent"
    TOO_LARGE = "too_large"  # 413: halve and retry; a single record is dropped
    RETRY = "retry"  # 408, 429, 5xx, no answer: keep the records, wait, try again
    REJECTED = "rejected"  # any other 4xx (or 3xx): drop the batch


class Answer(NamedTuple):
    """One request's outcome: the status (None: no answer) and ``Retry-After`` (s)."""

    status: int | None
    retry_after: float | None

    @property
    def verdict(self) -> Verdict:
        status = self.status
        if status is not None and 200 <= status < 300:
            return Verdict.SENT
        if status == 413:
            return Verdict.TOO_LARGE
        if status is None or status in (408, 429) or status >= 500:
            return Verdict.RETRY
        return Verdict.REJECTED


def compress(raw: bytes) -> bytes:
    """The gzip body of a serialized request."""
    return gzip.compress(raw, compresslevel=_GZIP_LEVEL, mtime=0)


def fits(raw: bytes, body: bytes) -> bool:
    """Whether a request is under the body cap before and after compression."""
    return len(raw) < MAX_BODY_BYTES and len(body) < MAX_BODY_BYTES


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delay-seconds or an HTTP-date); None
    when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def post(session: Any, url: str, headers: dict[str, str], body: bytes, timeout: float) -> Answer:
    """POST one gzipped protobuf body; never raises (no answer is ``status`` None)."""
    try:
        response = session.post(
            url, data=body, headers={**_CONTENT_HEADERS, **headers}, timeout=timeout
        )
    except Exception:  # connection refused or reset, timeout: retried like a 503
        return Answer(None, None)
    with response:
        return Answer(int(response.status_code), retry_after(response.headers.get("Retry-After")))


def endpoint_problem(value: object) -> Exception | None:
    """Why ``value`` is not a ``logs_endpoint``: an absolute http(s) URL, or a path
    starting with ``/`` on the PostHog host."""
    if value is None:
        return None
    if not isinstance(value, str):
        return TypeError(
            f"logs_endpoint must be a URL or a path starting with '/', got {type(value).__name__}"
        )
    if value.startswith("/") and not value.startswith("//"):
        return None
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    return ValueError(
        f"logs_endpoint must be an http(s) URL such as 'http://localhost:4318/v1/logs'"
        f" or a path such as '/otlp/v1/logs', got {value!r}"
    )


def env_endpoint() -> str | None:
    """``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``: the full URL of the logs endpoint, as
    OpenTelemetry defines it (used as is, no path appended); None when unset."""
    return os.environ.get(ENV_ENDPOINT, "").strip() or None


def env_endpoint_problem() -> Exception | None:
    """Why ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` is not a usable endpoint, naming it."""
    value = env_endpoint()
    problem = endpoint_problem(value)
    if problem is None or value is None:
        return None
    return ValueError(f"{ENV_ENDPOINT} must be an http(s) URL, got {value!r}")


def env_headers() -> dict[str, str]:
    """``OTEL_EXPORTER_OTLP_LOGS_HEADERS`` (``key1=value1,key2=value2``, values
    percent-encoded), parsed by OpenTelemetry's own parser."""
    raw = os.environ.get(ENV_HEADERS, "")
    if not raw.strip():
        return {}
    from opentelemetry.util.re import parse_env_headers

    return dict(parse_env_headers(raw, liberal=True))
