"""A local, PostHog-compatible capture server for the test suite (stdlib only).

``CaptureServer`` mirrors the contract of PostHog's legacy capture endpoint,
``POST /batch/`` (the one the ``posthog`` Python SDK uses by default), closely
enough that the real SDK can deliver to it unchanged::

    with CaptureServer() as server:
        client = posthog.Posthog("phc_test", host=server.url, gzip=True)
        client.capture("signed_up", distinct_id="u1")
        client.flush()
        assert server.wait_for(1)[0]["event"] == "signed_up"

The contract itself (shared by ``/batch/``, ``/batch``, ``/e/``, ``/i/v0/e/`` and
the SDK's AI lane ``/i/v0/ai/batch/``) is the package's own
``analyticskit._devtools.capture_contract``, which ``analyticskit dev`` serves too: one
implementation. Success answers ``200 {"status": 1}``; rejections answer 400,
401 or 413 with capture's JSON error body, and record nothing.

Fault modes for delivery tests can be changed at runtime: ``respond_with``
(forced status codes), ``delay`` (slow server), ``blackhole`` (read the request,
never answer) and ``reset_faults``; ``fault_lane`` limits them to one lane
(``"events"`` or ``"logs"``). ``stop()`` returns promptly even while
connections are held open.

PostHog Logs (``POST /i/v1/logs``, and OTLP's standard ``/v1/logs`` for a
server standing in for a Collector): an OTLP/HTTP protobuf
``ExportLogsServiceRequest`` (gzip or not), the project key as ``Authorization:
Bearer <key>`` (401 when missing, or different from ``expected_api_key``; a
server with ``logs_need_key`` False, a Collector, takes requests without one),
400 for a body that does not decode, 413 for a body over ``logs_max_body``
bytes raw or decompressed (2 MiB, as PostHog's ``capture-logs``). Accepted logs
are kept in ``logs``, each flattened by `otlp_logs.decode_logs`; every logs
request's sizes and answer in ``logs_requests``. ``respond_with`` can add a
``Retry-After`` header (as capture-logs' 429 for a project over its quota).
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypedDict, TypeVar, cast
from urllib.parse import urlsplit

from analyticskit._devtools.capture_contract import (
    CAPTURE_PATHS,
    POSTHOG_MAX_EVENT_BYTES,
    Rejected,
    parse_request,
    read_body,
)
from otlp_logs import decode_logs

__all__ = [
    "CAPTURE_PATHS",
    "LOGS_PATH",
    "MAX_LOGS_BODY",
    "OTLP_LOGS_PATH",
    "POSTHOG_MAX_EVENT_BYTES",
    "CaptureServer",
    "RequestRecord",
]

#: The PostHog Logs (OTLP/HTTP) path.
LOGS_PATH = "/i/v1/logs"
#: OTLP's standard logs path (a Collector's OTLP/HTTP receiver).
OTLP_LOGS_PATH = "/v1/logs"
#: capture-logs' body cap, raw or decompressed.
MAX_LOGS_BODY = 2 * 1024 * 1024

_T = TypeVar("_T")


class RequestRecord(TypedDict):
    """One accepted capture request, as recorded in ``CaptureServer.requests``."""

    path: str
    gzip: bool
    api_key: str
    n_events: int
    status: int
    historical_migration: bool


class LogsRequest(TypedDict):
    """One request to a logs path, as recorded in ``CaptureServer.logs_requests``."""

    path: str
    raw_bytes: int
    decompressed_bytes: int
    n_logs: int
    status: int
    #: When it arrived (``time.monotonic()``).
    at: float


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


def _decompressed_size(raw: bytes) -> int:
    """The size of a gzip body once inflated (-1 if it is not gzip)."""
    try:
        return len(gzip.decompress(raw))
    except (OSError, EOFError, zlib.error):
        return -1


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

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up (timeout) or hung up
            pass

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        try:
            raw = read_body(self.rfile, self.headers)
        except (OSError, Rejected):
            return
        encoding = self.headers.get("Content-Encoding", "")
        headers: dict[str, str] = {}
        if path in (LOGS_PATH, OTLP_LOGS_PATH):
            status, body = self._capture._handle_logs(
                path, encoding, self.headers.get("Authorization", ""), raw
            )
            headers = self._capture._answer_headers(status)
        else:
            status, body = self._capture._handle(path, encoding, raw)
        if status is not None:
            self._send_json(status, body, headers)

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
        #: Logs accepted on ``/i/v1/logs`` or ``/v1/logs``, flattened (see
        #: `otlp_logs.decode_logs`), each with the ``path`` it came to.
        self.logs: list[dict[str, Any]] = []
        #: Every request to a logs path: its sizes, logs and answer.
        self.logs_requests: list[LogsRequest] = []
        #: 413 for a logs body over this many bytes, raw or decompressed.
        self.logs_max_body: int = MAX_LOGS_BODY
        #: False: logs are taken without a key (a Collector's receiver).
        self.logs_need_key: bool = True
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
        self._retry_after: str | None = None
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

    def respond_with(
        self, status: int, times: int | None = None, retry_after: float | None = None
    ) -> None:
        """Answer the next ``times`` capture requests (all, if None) with ``status``,
        with a ``Retry-After: <retry_after>`` header on logs paths when given.

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
            self._retry_after = None if retry_after is None else f"{retry_after:g}"

    def reset_faults(self) -> None:
        """Clear ``respond_with``, ``delay`` and ``blackhole``.

        Connections already held by the blackhole stay held until ``stop()``.
        """
        with self._lock:
            self._forced_status = None
            self._forced_times = None
            self._retry_after = None
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

    def wait_for_logs_requests(self, n: int, timeout: float = 10.0) -> list[LogsRequest]:
        """Wait until at least ``n`` logs requests were answered; return a copy of them."""
        return self._wait(
            lambda: len(self.logs_requests) >= n, timeout, lambda: list(self.logs_requests)
        )

    def events_named(self, name: str) -> list[dict[str, Any]]:
        """Accepted events whose ``event`` equals ``name``."""
        with self._lock:
            return [e for e in self.events if e.get("event") == name]

    def clear(self) -> None:
        """Forget recorded events, requests, status counts and ``received``."""
        with self._lock:
            self.events.clear()
            self.logs.clear()
            self.logs_requests.clear()
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
        except Rejected as rejected:
            self._count(rejected.status)
            return rejected.status, rejected.body
        with self._changed:
            self.events.extend(batch)
            self.requests.append(record)
            self.status_counts[200] = self.status_counts.get(200, 0) + 1
            self._changed.notify_all()
        return 200, {"status": 1}

    def _answer_headers(self, status: int | None) -> dict[str, str]:
        with self._lock:
            retry_after = self._retry_after
        if retry_after is None or status is None or status < 400:
            return {}
        return {"Retry-After": retry_after}

    def _handle_logs(
        self, path: str, content_encoding: str, authorization: str, raw: bytes
    ) -> tuple[int | None, dict[str, Any]]:
        """Process one OTLP logs POST, with the same fault modes as ``/batch/``."""
        gzipped = content_encoding.strip().lower() == "gzip"
        request: LogsRequest = {
            "path": path,
            "raw_bytes": len(raw),
            "decompressed_bytes": _decompressed_size(raw) if gzipped else len(raw),
            "n_logs": 0,
            "status": 0,
            "at": time.monotonic(),
        }
        status, body = self._answer_logs(path, gzipped, authorization, raw, request)
        with self._changed:
            request["status"] = 0 if status is None else status
            self.logs_requests.append(request)
            self._changed.notify_all()
        return status, body

    def _answer_logs(
        self, path: str, gzipped: bool, authorization: str, raw: bytes, request: LogsRequest
    ) -> tuple[int | None, dict[str, Any]]:
        fault = self._fault("logs")
        if fault is not None:
            return fault
        scheme, _, key = authorization.partition(" ")
        expected = self.expected_api_key
        wrong = expected is not None and key != expected
        if self.logs_need_key and (scheme.lower() != "bearer" or not key.strip() or wrong):
            status, body = 401, _forced_body(401)
        elif max(request["raw_bytes"], request["decompressed_bytes"]) > self.logs_max_body:
            status, body = 413, {"error": "payload too large"}
        else:
            try:
                logs = decode_logs(raw, gzipped)
            except ValueError as error:
                status, body = 400, {"type": "validation_error", "detail": str(error)}
            else:
                request["n_logs"] = len(logs)
                with self._changed:
                    self.logs.extend({**log, "path": path} for log in logs)
                    self.status_counts[200] = self.status_counts.get(200, 0) + 1
                    self._changed.notify_all()
                return 200, {}
        self._count(status)
        return status, body

    def _validate(
        self, path: str, content_encoding: str, raw: bytes
    ) -> tuple[RequestRecord, list[dict[str, Any]]]:
        batch = parse_request(content_encoding, raw, self.expected_api_key)
        record: RequestRecord = {
            "path": path,
            "gzip": batch.gzip,
            "api_key": batch.api_key,
            "n_events": len(batch.events),
            "status": 200,
            "historical_migration": batch.historical_migration,
        }
        return record, batch.events
