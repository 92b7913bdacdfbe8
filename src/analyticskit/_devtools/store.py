"""The dev server's SQLite store: events and logs side by side, paged both ways,
filtered, counted, cleared, and kept under a size limit.

At the limit the oldest quarter of the rows is deleted to make room (SQLite reuses
the freed pages, so the file stops growing) and counted in ``dropped``: the store
is safe to leave running, and nothing goes without a count.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

#: Most rows one page holds.
MAX_PAGE = 1000
#: Default size limit of the database file.
DEFAULT_MAX_DB_BYTES = 512 * 1024 * 1024

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    event TEXT NOT NULL,
    distinct_id TEXT NOT NULL,
    timestamp TEXT,
    uuid TEXT,
    properties TEXT NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    timestamp TEXT,
    severity_text TEXT NOT NULL,
    severity_number INTEGER NOT NULL,
    service TEXT NOT NULL,
    distinct_id TEXT,
    body TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    attributes TEXT NOT NULL,
    resource TEXT NOT NULL
)""",
)

#: OpenTelemetry's severity names, at the first number of each range.
SEVERITIES: Mapping[str, int] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "warn": 13,
    "warning": 13,
    "error": 17,
    "fatal": 21,
    "critical": 21,
}


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    json_columns: frozenset[str]
    exact: Mapping[str, str]  # query parameter -> column compared with =
    text: str  # the SQL expression ``q`` searches


_TABLES: Mapping[str, _Table] = {
    "events": _Table(
        "events",
        ("id", "received_at", "event", "distinct_id", "timestamp", "uuid", "properties"),
        frozenset({"properties"}),
        {"event": "event", "distinct_id": "distinct_id"},
        "event || ' ' || distinct_id || ' ' || properties",
    ),
    "logs": _Table(
        "logs",
        (
            "id",
            "received_at",
            "timestamp",
            "severity_text",
            "severity_number",
            "service",
            "distinct_id",
            "body",
            "trace_id",
            "span_id",
            "scope",
            "attributes",
            "resource",
        ),
        frozenset({"attributes", "resource"}),
        {"service": "service", "distinct_id": "distinct_id", "trace_id": "trace_id"},
        "body || ' ' || attributes",
    ),
}
#: The filters each kind takes (besides the paging ones).
FILTERS: Mapping[str, frozenset[str]] = {
    kind: frozenset({*table.exact, "q"} | ({"severity"} if kind == "logs" else set()))
    for kind, table in _TABLES.items()
}


class StoreFull(Exception):
    """One batch larger than the whole size limit."""


class DevStore:
    """Events and logs in one SQLite file; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_DB_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        #: Rows deleted at the size limit, per kind.
        self.dropped = dict.fromkeys(_TABLES, 0)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False)
        try:
            with self._lock, self._db:
                for statement in _SCHEMA:
                    self._db.execute(statement)
                page = self._db.execute("PRAGMA page_size").fetchone()[0]
                self._db.execute(f"PRAGMA max_page_count = {max(16, max_bytes // page)}")
        except BaseException:
            self._db.close()  # not a database: say so, leave nothing open
            raise

    def add_events(self, events: list[dict[str, Any]]) -> None:
        """Store one accepted batch of events (in one transaction)."""
        received = _now()
        self._insert(
            "events",
            [
                (
                    received,
                    str(event["event"]),
                    str(event["distinct_id"]),
                    event.get("timestamp"),
                    event.get("uuid"),
                    json.dumps(event.get("properties") or {}, ensure_ascii=False),
                )
                for event in events
            ],
        )

    def add_logs(self, logs: list[dict[str, Any]]) -> None:
        """Store one accepted batch of logs, as `_devtools.otlp_decode.decode_logs` gives them."""
        received = _now()
        rows = []
        for log in logs:
            nanos = log["time_unix_nano"]
            body = log["body"]
            attributes = log["attributes"]
            distinct_id = attributes.get("posthogDistinctId")
            rows.append(
                (
                    received,
                    _iso(nanos) if nanos else received,
                    log["severity_text"],
                    log["severity_number"],
                    str(log["resource"].get("service.name") or ""),
                    None if distinct_id is None else str(distinct_id),
                    _text(body),
                    log["trace_id"],
                    log["span_id"],
                    log["scope"],
                    json.dumps(attributes, ensure_ascii=False),
                    json.dumps(log["resource"], ensure_ascii=False),
                )
            )
        self._insert("logs", rows)

    def _insert(self, kind: str, rows: list[tuple[Any, ...]]) -> None:
        columns = _TABLES[kind].columns[1:]
        sql = f"INSERT INTO {kind} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        size = sum(len(str(value)) for row in rows for value in row)
        with self._lock:
            while size <= self.max_bytes // 2:
                try:
                    with self._db:
                        self._db.executemany(sql, rows)
                    return
                except sqlite3.OperationalError as error:
                    if "full" not in str(error):  # SQLITE_FULL: "database or disk is full"
                        raise
                    if not self._drop_oldest():
                        break
            raise StoreFull(
                f"a batch of {len(rows)} {kind} does not fit the database's size limit"
                f" of {self.max_bytes} bytes"
            )

    def _drop_oldest(self) -> bool:
        """Delete the oldest quarter of each table (at least one row); False if empty."""
        freed = False
        with self._db:
            for kind in _TABLES:
                (count,) = self._db.execute(f"SELECT count(*) FROM {kind}").fetchone()
                if count:
                    n = max(1, count // 4)
                    self._db.execute(
                        f"DELETE FROM {kind} WHERE id IN"
                        f" (SELECT id FROM {kind} ORDER BY id LIMIT ?)",
                        (n,),
                    )
                    self.dropped[kind] += n
                    freed = True
        return freed

    def page(
        self,
        kind: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = MAX_PAGE,
        filters: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """One page of ``kind`` (``"events"`` or ``"logs"``), newest first.

        With ``after``: the *oldest* ``limit`` rows above that id (paging forward
        never skips a row); otherwise the newest ``limit`` rows, below ``before``
        when given. ``more`` says whether rows remain in that direction; ``total``
        counts every row that matches ``filters``.
        """
        table = _TABLES[kind]
        where, params = _where(table, filters or {})
        total = self._one(f"SELECT count(*) FROM {kind}{_sql(where)}", params)
        if after is not None:
            where.append("id > ?")
            params.append(after)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        order = "ASC" if after is not None else "DESC"
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(table.columns)} FROM {kind}{_sql(where)}"
                f" ORDER BY id {order} LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        if after is not None:
            rows.reverse()
        items = [
            {
                column: json.loads(value) if column in table.json_columns else value
                for column, value in zip(table.columns, row, strict=True)
            }
            for row in rows
        ]
        return {kind: items, "total": total, "more": more, "dropped": self.dropped[kind]}

    def counts(self) -> dict[str, Any]:
        """Rows kept and rows dropped at the size limit, per kind."""
        return {
            **{kind: self._one(f"SELECT count(*) FROM {kind}", []) for kind in _TABLES},
            "dropped": dict(self.dropped),
        }

    def clear(self, kind: str) -> int:
        """Delete every row of ``kind``; return how many."""
        with self._lock, self._db:
            deleted: int = self._db.execute(f"DELETE FROM {kind}").rowcount
        self.dropped[kind] = 0
        return deleted

    def _one(self, sql: str, params: list[Any]) -> int:
        with self._lock:
            value: int = self._db.execute(sql, params).fetchone()[0]
        return value

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _where(table: _Table, filters: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for name, value in filters.items():
        if name in table.exact:
            where.append(f"{table.exact[name]} = ?")
            params.append(value)
        elif name == "q":
            where.append(f"instr(lower({table.text}), ?) > 0")
            params.append(value.lower())
        elif name == "severity":
            where.append("severity_number >= ?")
            params.append(severity_floor(value))
    return where, params


def severity_floor(text: str) -> int:
    """The least severity number a ``severity`` filter keeps: a name (``warn``) or
    a number from 1 to 24.

    Raises:
        ValueError: neither.
    """
    name = text.strip().lower()
    if name in SEVERITIES:
        return SEVERITIES[name]
    if name.isdigit() and 1 <= int(name) <= 24:
        return int(name)
    raise ValueError(f"severity must be one of {', '.join(SEVERITIES)} or 1 to 24, got {text!r}")


def _text(body: Any) -> str:
    """A log's body as text: a string as is, another value as JSON, none as ``""``."""
    if body is None or isinstance(body, str):
        return body or ""
    return json.dumps(body, ensure_ascii=False)


def _sql(where: list[str]) -> str:
    return " WHERE " + " AND ".join(where) if where else ""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _iso(nanos: int) -> str:
    try:
        return datetime.fromtimestamp(nanos / 1e9, timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return _now()
