"""A local, PostHog-compatible capture server for the test suite (stdlib only).

``CaptureServer`` mirrors the contract of PostHog's legacy capture endpoint,
``POST /batch/`` (the one the ``posthog`` Python SDK uses by default), closely
enough that the real SDK can deliver to it unchanged::

    with CaptureServer() as server:
        client = posthog.Posthog("phc_test", host=server.url, gzip=True)
        client.capture("signed_up", distinct_id="u1")
        client.flush()
        assert server.wait_for(1)[0]["event"] == "signed_up"

Contract (shared by ``/batch/``, ``/batch``, ``/e/``, ``/i/v0/e/`` and the SDK's
AI lane ``/i/v0/ai/batch/``):

* The body is JSON, gunzipped first when ``Content-Encoding: gzip`` is sent:
  ``{"api_key": str, "batch": [event, ...], "sent_at": str,
  "historical_migration": bool?}``. Each event carries ``event``,
  ``distinct_id``, ``properties`` (an object), and usually ``timestamp``,
  ``uuid`` and ``type``.
* Success answers ``200 {"status": 1}``. Rejections answer with a JSON error
  body ``{"type": ..., "code": ..., "detail": ...}`` shaped like capture's:
  401 when the api key is missing (or differs from ``expected_api_key``),
  413 when one event's JSON encoding exceeds 1,000,000 bytes, and 400 for an
  undecodable body (bad gzip, bad JSON, bare ``NaN``/``Infinity``), a batch
  that is missing, empty or not a list, or any event that is not an object,
  lacks a non-empty ``event`` name or ``distinct_id``, has a ``uuid`` that is
  not a UUID, a ``timestamp`` that is not ISO-8601, or non-object
  ``properties``. A batch is accepted or rejected as a whole: a rejected
  request records nothing.

Fault modes for delivery tests can be changed at runtime: ``respond_with``
(forced status codes), ``delay`` (slow server), ``blackhole`` (read the request,
never answer) and ``reset_faults``; ``fault_lane`` limits them to one lane
(``"events"`` or ``"logs"``). ``stop()`` returns promptly even while
connections are held open.

PostHog Logs (``POST /i/v1/logs``): an OTLP/HTTP protobuf
``ExportLogsServiceRequest`` (gzip or not), the project key as ``Authorization:
Bearer <key>`` (401 when missing, or different from ``expected_api_key``), 400
for a body that does not decode. Accepted logs are kept in ``logs``, each
flattened by `otlp_logs.decode_logs`.
"""

from __future__ import annotations

import gzip
import json
import threading
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypedDict, TypeVar, cast
from urllib.parse import urlsplit

from otlp_logs import decode_logs

__all__ = ["CAPTURE_PATHS", "LOGS_PATH", "MAX_EVENT_BYTES", "CaptureServer", "RequestRecord"]

#: Paths accepted with the ``/batch/`` contract.
CAPTURE_PATHS: frozenset[str] = frozenset(
    {"/batch/", "/batch", "/e/", "/e", "/i/v0/e/", "/i/v0/e", "/i/v0/ai/batch/", "/i/v0/ai/batch"}
)
#: The PostHog Logs (OTLP/HTTP) path.
LOGS_PATH = "/i/v1/logs"
#: Largest accepted event, measured as its compact UTF-8 JSON encoding.
MAX_EVENT_BYTES = 1_000_000
MAX_DISTINCT_ID = 200  # PostHog refuses a longer distinct id, and the batch it came in

_T = TypeVar("_T")


class RequestRecord(TypedDict):
    """One accepted capture request, as recorded in ``CaptureServer.requests``."""

    path: str
    gzip: bool
    api_key: str
    n_events: int
    status: int
    historical_migration: bool


class _Rejected(Exception):
    """Raised while validating a request; becomes an error response."""

    def __init__(self, status: int, type_: str, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "code": code, "detail": detail}


def _invalid(code: str, detail: str) -> _Rejected:
    return _Rejected(400, "validation_error", code, detail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def _parse_batch(raw: bytes, gzipped: bool) -> dict[str, Any]:
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise _invalid("invalid_payload", f"failed to decompress gzip body: {exc}") from exc
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise _invalid("invalid_payload", f"failed to decode JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise _invalid("invalid_payload", "request body must be a JSON object")
    return cast(dict[str, Any], body)


def _validate_event(index: int, event: Any) -> None:
    where = f"batch[{index}]"
    if not isinstance(event, dict):
        raise _invalid("invalid_event", f"{where} is not a JSON object")
    name = event.get("event")
    if not isinstance(name, str) or not name:
        raise _invalid("missing_event_name", f"{where} has no event name")
    distinct_id = event.get("distinct_id")
    if distinct_id is None or not str(distinct_id).strip():
        raise _invalid("missing_distinct_id", f"{where} has no distinct_id")
    if len(str(distinct_id)) > MAX_DISTINCT_ID:
        raise _invalid(
            "invalid_distinct_id", f"{where}.distinct_id is over {MAX_DISTINCT_ID} chars"
        )
    properties = event.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise _invalid("invalid_event", f"{where}.properties is not a JSON object")
    event_uuid = event.get("uuid")
    if event_uuid is not None:
        try:
            uuid.UUID(event_uuid)
        except (TypeError, ValueError, AttributeError) as exc:
            raise _invalid("invalid_event", f"{where}.uuid is not a UUID: {event_uuid!r}") from exc
    timestamp = event.get("timestamp")
    if timestamp is not None:
        if not isinstance(timestamp, str):
            raise _invalid("invalid_event", f"{where}.timestamp is not a string")
        iso = timestamp[:-1] + "+00:00" if timestamp.endswith(("Z", "z")) else timestamp
        try:
            datetime.fromisoformat(iso)
        except ValueError as exc:
            raise _invalid(
                "invalid_event", f"{where}.timestamp is not ISO-8601: {timestamp!r}"
            ) from exc
    size = len(json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_EVENT_BYTES:
        raise _Rejected(
            413,
            "validation_error",
            "event_too_big",
            f"{where} is {size} bytes, over the {MAX_EVENT_BYTES} byte limit",
        )


def _forced_body(status: int) -> dict[str, Any]:
    if status == 401:
        type_ = "authentication_error"
    elif status == 429:
        type_ = "rate_limited"
    elif status >= 500:
        type_ = "server_error"
    else:
        type_ = "validation_error"
    return {"type": type_, "code": "forced", "detail": f"forced {status} response"}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    capture: CaptureServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-request are part of fault tests.
        pass


class _Handler(BaseHTTPRequestHandler):
    server_version = "CaptureServer/1.0"
    # HTTP/1.0: one request per connection, so no idle keep-alive threads linger.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def _capture(self) -> CaptureServer:
        return cast(_HTTPServer, self.server).capture

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timeout) or hung up
            pass

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            raw = self._read_body()
        except (OSError, ValueError):
            return
        encoding = self.headers.get("Content-Encoding", "")
        if path == LOGS_PATH:
            status, body = self._capture._handle_logs(
                encoding, self.headers.get("Authorization", ""), raw
            )
        else:
            status, body = self._capture._handle(path, encoding, raw)
        if status is not None:
            self._send_json(status, body)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self._capture._count(404)
        self._send_json(404, {"type": "not_found", "code": "not_found", "detail": path})


class CaptureServer:
    """In-process HTTP server speaking PostHog's ``/batch/`` capture contract.

    Thread-safe. Binds ``host`` on an ephemeral port; ``url`` is valid once
    ``start()`` has run (or inside ``with CaptureServer() as server:``).
    """

    def __init__(self, *, expected_api_key: str | None = None, host: str = "127.0.0.1") -> None:
        #: When set, any other api key is refused with 401 ``invalid_api_key``.
        self.expected_api_key: str | None = expected_api_key
        #: Seconds to wait before handling each request (slow server).
        self.delay: float = 0.0
        #: Read each request and never answer, holding the connection until stop().
        self.blackhole: bool = False
        #: Which requests the fault modes apply to: "all", "events" or "logs".
        self.fault_lane: str = "all"
        #: Logs accepted on ``/i/v1/logs``, flattened (see `otlp_logs.decode_logs`).
        self.logs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.requests: list[RequestRecord] = []
        #: Answered requests per HTTP status, forced and 404 answers included.
        self.status_counts: dict[int, int] = {}
        self._host = host
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._received = 0
        self._forced_status: int | None = None
        self._forced_times: int | None = None
        self._release = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL to pass as the SDK's ``host``, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("CaptureServer is not started")
        port = self._httpd.server_address[1]
        return f"http://{self._host}:{port}"

    def start(self) -> CaptureServer:
        """Bind and serve in a daemon thread. Returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("CaptureServer already started")
        httpd = _HTTPServer((self._host, 0), _Handler)
        httpd.capture = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="capture-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release held connections. Idempotent; returns promptly."""
        self._release.set()
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=1.0)
        self._thread = None
        with self._changed:
            self._changed.notify_all()

    def __enter__(self) -> CaptureServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- fault modes -------------------------------------------------------------------------

    def respond_with(self, status: int, times: int | None = None) -> None:
        """Answer the next ``times`` capture requests (all, if None) with ``status``.

        Forced answers record no events or requests; they are counted in
        ``status_counts``. A forced 200 acknowledges and drops the batch.
        """
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        if times is not None and times < 1:
            raise ValueError("times must be None or >= 1")
        with self._lock:
            self._forced_status = status
            self._forced_times = times

    def reset_faults(self) -> None:
        """Clear ``respond_with``, ``delay`` and ``blackhole``.

        Connections already held by the blackhole stay held until ``stop()``.
        """
        with self._lock:
            self._forced_status = None
            self._forced_times = None
            self.delay = 0.0
            self.blackhole = False
            self.fault_lane = "all"

    # -- inspection --------------------------------------------------------------------------

    @property
    def received(self) -> int:
        """Requests received on capture paths, whatever became of them."""
        with self._lock:
            return self._received

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` events are accepted; return a copy of ``events``.

        Never raises: at the timeout it returns whatever has arrived.
        """
        return self._wait(lambda: len(self.events) >= n, timeout, lambda: list(self.events))

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> int:
        """Wait until ``received >= n`` (any outcome, held ones included); return it."""
        return self._wait(lambda: self._received >= n, timeout, lambda: self._received)

    def wait_for_logs(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` logs are accepted; return a copy of ``logs``."""
        return self._wait(lambda: len(self.logs) >= n, timeout, lambda: list(self.logs))

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Accepted events whose ``event`` equals ``name``."""
        with self._lock:
            return [e for e in self.events if e.get("event") == name]

    def clear(self) -> None:
        """Forget recorded events, requests, status counts and ``received``."""
        with self._lock:
            self.events.clear()
            self.logs.clear()
            self.requests.clear()
            self.status_counts.clear()
            self._received = 0

    # -- internals ---------------------------------------------------------------------------

    def _wait(self, done: Callable[[], bool], timeout: float, result: Callable[[], _T]) -> _T:
        with self._changed:
            self._changed.wait_for(done, timeout=timeout)
            return result()

    def _count(self, status: int) -> None:
        with self._changed:
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
            self._changed.notify_all()

    def _fault(self, lane: str) -> tuple[int | None, dict[str, Any]] | None:
        """Count one capture request and apply the fault modes: the answer they force
        (``(None, {})``: none at all), or None to process the request."""
        with self._changed:
            self._received += 1
            blackhole, delay = self.blackhole, self.delay
            self._changed.notify_all()
            if self.fault_lane not in ("all", lane):
                return None
        if blackhole:
            self._release.wait()
            return None, {}
        if delay > 0 and self._release.wait(delay):
            return None, {}  # stopped while sleeping
        with self._changed:
            if self._forced_status is None:
                return None
            status = self._forced_status
            if self._forced_times is not None:
                self._forced_times -= 1
                if self._forced_times <= 0:
                    self._forced_status = self._forced_times = None
            self.status_counts[status] = self.status_counts.get(status, 0) + 1
            self._changed.notify_all()
        if status == 200:
            return 200, {"status": 1}
        return status, _forced_body(status)

    def _handle(
        self, path: str, content_encoding: str, raw: bytes
    ) -> tuple[int | None, dict[str, Any]]:
        """Process one POST; ``(None, {})`` means send no answer at all."""
        if path not in CAPTURE_PATHS:
            self._count(404)
            return 404, {"type": "not_found", "code": "not_found", "detail": path}
        fault = self._fault("events")
        if fault is not None:
            return fault
        try:
            record, batch = self._validate(path, content_encoding, raw)
        except _Rejected as rejected:
            self._count(rejected.status)
            return rejected.status, rejected.body
        with self._changed:
            self.events.extend(batch)
            self.requests.append(record)
            self.status_counts[200] = self.status_counts.get(200, 0) + 1
            self._changed.notify_all()
        return 200, {"status": 1}

    def _handle_logs(
        self, content_encoding: str, authorization: str, raw: bytes
    ) -> tuple[int | None, dict[str, Any]]:
        """Process one OTLP logs POST, with the same fault modes as ``/batch/``."""
        fault = self._fault("logs")
        if fault is not None:
            return fault
        scheme, _, key = authorization.partition(" ")
        expected = self.expected_api_key
        wrong = expected is not None and key != expected
        if scheme.lower() != "bearer" or not key.strip() or wrong:
            status, body = 401, _forced_body(401)
        else:
            try:
                logs = decode_logs(raw, content_encoding.strip().lower() == "gzip")
            except ValueError as error:
                status, body = 400, {"type": "validation_error", "detail": str(error)}
            else:
                with self._changed:
                    self.logs.extend(logs)
                    self.status_counts[200] = self.status_counts.get(200, 0) + 1
                    self._changed.notify_all()
                return 200, {}
        self._count(status)
        return status, body

    def _validate(
        self, path: str, content_encoding: str, raw: bytes
    ) -> tuple[RequestRecord, list[dict[str, Any]]]:
        encoding = content_encoding.strip().lower()
        if encoding not in ("", "identity", "gzip"):
            raise _invalid("invalid_payload", f"unsupported Content-Encoding: {encoding}")
        gzipped = encoding == "gzip"
        body = _parse_batch(raw, gzipped)
        api_key = body.get("api_key")
        if not isinstance(api_key, str) or not api_key.strip():
            raise _Rejected(401, "authentication_error", "missing_api_key", "api_key is missing")
        expected = self.expected_api_key
        if expected is not None and api_key != expected:
            raise _Rejected(401, "authentication_error", "invalid_api_key", "api_key is invalid")
        batch = body.get("batch")
        if not isinstance(batch, list):
            raise _invalid("invalid_payload", "batch is missing or not a list")
        if not batch:
            raise _invalid("empty_batch", "batch is empty")
        for index, event in enumerate(batch):
            _validate_event(index, event)
        record: RequestRecord = {
            "path": path,
            "gzip": gzipped,
            "api_key": api_key,
            "n_events": len(batch),
            "status": 200,
            "historical_migration": bool(body.get("historical_migration", False)),
        }
        return record, cast(list[dict[str, Any]], batch)
