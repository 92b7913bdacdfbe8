"""`analyticskit dev`: a local server that speaks PostHog's capture contract and its
logs endpoint, keeps events and logs in SQLite (`_devtools.store`), and serves a live viewer.

Routes:

* ``POST /batch/`` and its aliases (events, gzip or not, checked by
  `_devtools.capture_contract`), ``POST /i/v1/logs`` (also ``/otlp/v1/logs`` and
  ``/v1/logs``: OTLP/HTTP logs, JSON or protobuf, gzip or not, `_devtools.otlp_decode`;
  protobuf needs the ``logs`` extra, else 415).
* ``GET /`` (the viewer, `viewer.html`); ``GET /api/events`` and ``GET /api/logs``
  (pages of rows, newest first: ``after=ID`` pages forward, ``before=ID`` back,
  ``limit`` up to 1000, and filters: ``event``, ``distinct_id``, ``q`` for
  events; ``severity`` (at least), ``service``, ``distinct_id``, ``trace_id``,
  ``q`` for logs); ``GET /api/counts``; ``DELETE /api/events`` and ``/api/logs``.

Safe to leave running: it answers only requests whose ``Host`` is an IP address,
``localhost`` or a name allowed with ``allowed_hosts`` (no DNS rebinding), whose
``Origin``, when sent, is the server's own, and POSTs only in the content types the
SDKs send (a web page cannot send them without a preflight, which is refused);
bodies are read with bounded lines and inflated in a bounded stream against the
same cap as the raw body; connections time out when silent and are cut off at a
deadline; at most `MAX_CONNECTIONS` are served at once (503 past it); the
database stays under its size limit.
Every request is answered; none can stop the server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from .._logs.otlp_http import MAX_BODY_BYTES as MAX_LOGS_BODY_BYTES
from .._logs.sink import LOGS_PATH
from .capture_contract import (
    CAPTURE_PATHS,
    Rejected,
    gunzip,
    invalid,
    parse_request,
    read_body,
)
from .otlp_decode import JSON_TYPE, PROTOBUF_TYPE, decode_logs
from .store import DEFAULT_MAX_DB_BYTES, FILTERS, MAX_PAGE, DevStore, StoreFull, severity_floor

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Largest events request body, raw or inflated (PostHog's own limit is 20 MB).
MAX_BODY_BYTES = 20 * 1024 * 1024
#: PostHog Logs' path, the one PostHog's onboarding shows, and OTLP's standard one
#: (a Collector's, or ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` pointed here).
LOGS_PATHS = frozenset({LOGS_PATH, "/otlp/v1/logs", "/v1/logs"})
#: Connections served at once; more are answered 503 at once.
MAX_CONNECTIONS = 32
#: Seconds a connection may stay silent before it is closed.
CONNECTION_TIMEOUT = 10.0
#: Seconds a connection may last in all (a client trickling bytes is cut off).
CONNECTION_DEADLINE = 60.0
_BUSY = b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 2 * MAX_CONNECTIONS
    dev: DevServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or times out mid-request is no news


class _Handler(BaseHTTPRequestHandler):
    server_version = "analyticskit-dev/1.0"
    protocol_version = "HTTP/1.0"
    timeout = CONNECTION_TIMEOUT
    deadline = CONNECTION_DEADLINE

    def setup(self) -> None:
        super().setup()
        self._hang_up = threading.Timer(self.deadline, self._cut_off)
        self._hang_up.daemon = True
        self._hang_up.start()

    def finish(self) -> None:
        self._hang_up.cancel()
        super().finish()

    def _cut_off(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def _dev(self) -> DevServer:
        return cast(_HTTPServer, self.server).dev

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def _send_json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _not_found(self, path: str) -> None:
        self._send_json(404, {"type": "not_found", "code": "not_found", "detail": path})

    def _refused(self) -> bool:
        """Answer 403 (and return True) for a request a web page may have made."""
        host = self.headers.get("Host")
        origin = self.headers.get("Origin")
        if host is not None and not self._dev.host_allowed(host):
            detail = (
                f"Host {host!r} is not this server's (allow it with --allow-host if you"
                " reach the server by that name)"
            )
        elif origin is not None and origin != f"http://{host}":
            detail = f"requests from the page at {origin!r} are refused"
        else:
            return False
        self._send_json(403, {"type": "forbidden", "code": "forbidden", "detail": detail})
        return True

    def do_POST(self) -> None:
        if self._refused():
            return
        path = urlsplit(self.path).path
        logs = path in LOGS_PATHS
        if not logs and path not in CAPTURE_PATHS:
            self._not_found(path)
            return
        content_type = self._content_type(logs)
        if content_type is None:
            return
        try:
            if logs:
                self._post_logs(content_type)
            else:
                self._post_events()
        except Rejected as rejected:
            self._send_json(rejected.status, rejected.body)
        except StoreFull as full:
            self._send_json(507, {"type": "server_error", "code": "full", "detail": str(full)})
        except OSError:
            return
        except Exception as error:  # a bug of ours: answer, and keep serving
            self._send_json(
                500, {"type": "server_error", "code": "internal", "detail": repr(error)}
            )

    def _content_type(self, logs: bool) -> str | None:
        """The request's Content-Type; None (answered 415) if the SDKs never send it."""
        content_type = self.headers.get_content_type()
        if content_type in ((JSON_TYPE, PROTOBUF_TYPE) if logs else (JSON_TYPE,)):
            return content_type
        self._send_json(
            415,
            {
                "type": "validation_error",
                "code": "unsupported_media_type",
                "detail": f"Content-Type {content_type} is not what the SDKs send",
            },
        )
        return None

    def _post_events(self) -> None:
        raw = read_body(self.rfile, self.headers, MAX_BODY_BYTES)
        encoding = self.headers.get("Content-Encoding", "")
        batch = parse_request(encoding, raw, max_bytes=MAX_BODY_BYTES)
        self._dev.store.add_events(batch.events)
        self._send_json(200, {"status": 1})

    def _post_logs(self, content_type: str) -> None:
        raw = read_body(self.rfile, self.headers, MAX_LOGS_BODY_BYTES)
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Rejected(
                401,
                "authentication_error",
                "missing_api_key",
                "send the project API key as Authorization: Bearer <key>",
            )
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity", "gzip"):
            raise invalid("invalid_payload", f"unsupported Content-Encoding: {encoding}")
        if encoding == "gzip":
            raw = gunzip(raw, MAX_LOGS_BODY_BYTES)
        logs = decode_logs(raw, content_type)
        if logs:
            self._dev.store.add_logs(logs)
        # An empty ExportLogsServiceResponse, in the request's encoding.
        self._send(200, b"{}" if content_type == JSON_TYPE else b"", content_type)

    def do_GET(self) -> None:
        if self._refused():
            return
        url = urlsplit(self.path)
        kind = url.path.removeprefix("/api/")
        if url.path in ("/", "/index.html"):
            self._send(200, self._dev.viewer, "text/html; charset=utf-8")
        elif url.path == "/api/counts":
            self._send_json(200, self._dev.store.counts())
        elif kind in FILTERS:
            try:
                query = _query(kind, parse_qs(url.query))
            except Rejected as rejected:
                self._send_json(rejected.status, rejected.body)
                return
            self._send_json(200, self._dev.store.page(kind, **query))
        else:
            self._not_found(url.path)

    def do_DELETE(self) -> None:
        if self._refused():
            return
        kind = urlsplit(self.path).path.removeprefix("/api/")
        if kind in FILTERS:
            self._send_json(200, {"deleted": self._dev.store.clear(kind)})
        else:
            self._not_found(self.path)


def _query(kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """The `DevStore.page` arguments of one API query string."""
    page: dict[str, Any] = {"limit": MAX_PAGE}
    for name, top in (("after", 2**62), ("before", 2**62), ("limit", MAX_PAGE)):
        if name not in query:
            continue
        text = query[name][-1]
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= top:
            raise invalid("invalid_query", f"{name} must be an integer from 0 to {top}")
        page[name] = value
    filters = {name: values[-1] for name, values in query.items() if name in FILTERS[kind]}
    if "severity" in filters:
        try:
            severity_floor(filters["severity"])
        except ValueError as error:
            raise invalid("invalid_query", str(error)) from None
    unknown = set(query) - set(page) - {"after", "before"} - FILTERS[kind]
    if unknown:
        known = ", ".join(sorted({"after", "before", "limit", *FILTERS[kind]}))
        raise invalid("invalid_query", f"unknown parameter {min(unknown)!r} (known: {known})")
    page["filters"] = filters
    return page


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


class DevServer:
    """The dev server: capture contract, logs endpoint, SQLite store, viewer.

    Args:
        host, port: where to listen (127.0.0.1 by default: the events are yours).
            ``port=0`` picks a free one.
        db: the SQLite file to keep events and logs in (created if absent, appended
            to if present); default a temporary file, deleted by `stop`.
        max_db_bytes: the database's size limit; at it, the oldest quarter of the
            rows is deleted, and counted (``dropped`` in the API's answers).
        allowed_hosts: host names the server also answers to (besides IP
            addresses and ``localhost``), e.g. a Docker Compose service name.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        db: str | None = None,
        *,
        max_db_bytes: int = DEFAULT_MAX_DB_BYTES,
        allowed_hosts: Iterable[str] = (),
    ) -> None:
        self._temporary = db is None
        if db is None:
            handle, db = tempfile.mkstemp(prefix="analyticskit-dev-", suffix=".sqlite3")
            os.close(handle)
        self._allowed = frozenset(name.strip().lower() for name in allowed_hosts)
        self.store = DevStore(db, max_db_bytes)
        self.viewer = resources.files(__package__).joinpath("viewer.html").read_bytes()
        try:
            self._httpd = _HTTPServer((host, port))
        except BaseException:
            self._close_store()
            raise
        self._httpd.dev = self
        self._thread: threading.Thread | None = None

    def host_allowed(self, host: str) -> bool:
        """Whether a request's ``Host`` names this server: an IP address,
        ``localhost`` (or a name under it), or one of ``allowed_hosts``."""
        name = host.strip().lower()
        if name.startswith("["):
            name = name[1:].partition("]")[0]
        elif name.count(":") == 1:
            name = name.partition(":")[0]
        return (
            _is_ip(name)
            or name == "localhost"
            or name.endswith(".localhost")
            or name in self._allowed
        )

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8000``: the ``POSTHOG_HOST`` to set."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def temporary(self) -> bool:
        """True when the database is a temporary file, deleted by `stop`."""
        return self._temporary

    def serve_forever(self) -> None:
        """Serve on this thread until `stop` (from another thread) or KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.1)

    def start(self) -> DevServer:
        """Serve on a daemon thread; return ``self``."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="analyticskit-dev", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the database (deleting a temporary one). Idempotent."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=2)
            self._thread = None
        self._httpd.server_close()
        self._close_store()

    def _close_store(self) -> None:
        self.store.close()
        if self._temporary:
            for suffix in ("", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.store.path + suffix)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
