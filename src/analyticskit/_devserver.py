"""`analyticskit dev`: a local server that speaks PostHog's capture contract, keeps
events in SQLite, and serves a live viewer.

Routes: the capture paths (``POST /batch/`` and its aliases, gzip or not, checked
by `_capture_contract`), ``GET /`` (the viewer, `_viewer.html`), ``GET
/api/events?after=ID&limit=N`` (the events stored after id ``ID``, newest first,
as JSON). Every request is answered; none can stop the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from ._capture_contract import CAPTURE_PATHS, Rejected, invalid, parse_request, read_body

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Largest request body read (PostHog's own limit is 20 MB).
MAX_BODY_BYTES = 20 * 1024 * 1024
#: Most events one ``/api/events`` answer holds.
MAX_PAGE = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    event TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    timestamp TEXT,
    uuid TEXT,
    properties TEXT NOT NULL
)
"""


class EventStore:
    """Events in one SQLite file; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        try:
            with self._lock, self._db:
                self._db.execute(_SCHEMA)
        except BaseException:
            self._db.close()  # not a database: say so, leave nothing open
            raise

    def add(self, events: list[dict[str, Any]]) -> None:
        """Store one accepted batch (in one transaction)."""
        received = datetime.now(timezone.utc).isoformat()
        rows = [
            (
                received,
                str(event["event"]),
                str(event["distinct_id"]),
                event.get("timestamp"),
                event.get("uuid"),
                json.dumps(event.get("properties") or {}, ensure_ascii=False),
            )
            for event in events
        ]
        with self._lock, self._db:
            self._db.executemany(
                "INSERT INTO events (received_at, event, distinct_id, timestamp, uuid,"
                " properties) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def after(self, after: int = 0, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        """The newest ``limit`` events with an id above ``after``, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, event, distinct_id, timestamp, uuid, properties"
                " FROM events WHERE id > ? ORDER BY id DESC LIMIT ?",
                (after, limit),
            ).fetchall()
        return [
            {
                "id": row[0],
                "received_at": row[1],
                "event": row[2],
                "distinct_id": row[3],
                "timestamp": row[4],
                "uuid": row[5],
                "properties": json.loads(row[6]),
            }
            for row in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    dev: DevServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up mid-request is no news


class _Handler(BaseHTTPRequestHandler):
    server_version = "analyticskit-dev/1.0"
    protocol_version = "HTTP/1.0"

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
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass

    def _send_json(self, status: int, body: object) -> None:
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _not_found(self, path: str) -> None:
        self._send_json(404, {"type": "not_found", "code": "not_found", "detail": path})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path not in CAPTURE_PATHS:
            self._not_found(path)
            return
        try:
            raw = read_body(self.rfile, self.headers, MAX_BODY_BYTES)
            batch = parse_request(self.headers.get("Content-Encoding", ""), raw)
            self._dev.store.add(batch.events)
        except Rejected as rejected:
            self._send_json(rejected.status, rejected.body)
        except OSError:
            return
        except Exception as error:  # a bug of ours: answer, and keep serving
            self._send_json(
                500, {"type": "server_error", "code": "internal", "detail": repr(error)}
            )
        else:
            self._send_json(200, {"status": 1})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/", "/index.html"):
            self._send(200, self._dev.viewer, "text/html; charset=utf-8")
        elif url.path == "/api/events":
            try:
                after, limit = _page(parse_qs(url.query))
            except Rejected as rejected:
                self._send_json(rejected.status, rejected.body)
                return
            self._send_json(200, {"events": self._dev.store.after(after, limit)})
        else:
            self._not_found(url.path)


def _page(query: dict[str, list[str]]) -> tuple[int, int]:
    values = []
    for name, default, top in (("after", 0, 2**62), ("limit", MAX_PAGE, MAX_PAGE)):
        text = query.get(name, [str(default)])[-1]
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= top:
            raise invalid("invalid_query", f"{name} must be an integer from 0 to {top}")
        values.append(value)
    return values[0], values[1]


class DevServer:
    """The dev server: capture contract, SQLite store, viewer. ``port=0`` picks a free one.

    Args:
        host, port: where to listen (127.0.0.1 by default: the events are yours).
        db: the SQLite file to keep events in (created if absent, appended to if
            present); default a temporary file, deleted by `stop`.
    """

    def __init__(
        self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, db: str | None = None
    ) -> None:
        self._temporary = db is None
        if db is None:
            handle, db = tempfile.mkstemp(prefix="analyticskit-dev-", suffix=".sqlite3")
            os.close(handle)
        self.store = EventStore(db)
        self.viewer = resources.files(__package__).joinpath("_viewer.html").read_bytes()
        try:
            self._httpd = _HTTPServer((host, port), _Handler)
        except BaseException:
            self._close_store()
            raise
        self._httpd.dev = self
        self._thread: threading.Thread | None = None

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
