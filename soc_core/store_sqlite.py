"""SQLite adapter of the `Store` port: the embedded mode's store, one file in the data folder.

WAL mode so the console reads while the pipeline writes; one connection guarded by a lock (the
embedded process is small; SQLite serialises writers anyway). Documents are stored as JSON with
the columns we filter on beside them; paging is keyset (`@timestamp`, id), like `search_after`.
"""

from __future__ import annotations

import base64
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from soc_core.alert import Alert
from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.records import DeadLetter
from soc_core.registry import CoverageTarget, Endpoint, InformationSystem, LogSource, Registry, Unit
from soc_core.store import (
    AlertQuery,
    DeadLetterQuery,
    EventQuery,
    Page,
    SourceActivity,
    WriteResult,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY, ts TEXT NOT NULL, ingested TEXT, source_id TEXT, unit_id TEXT, system_id TEXT,
  host_name TEXT, evidence INTEGER NOT NULL DEFAULT 0, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_source ON events(source_id, ingested);
CREATE INDEX IF NOT EXISTS events_unit ON events(unit_id, ts);
CREATE TABLE IF NOT EXISTS alerts (
  id TEXT PRIMARY KEY, ts TEXT NOT NULL, severity TEXT, status TEXT, rule_id TEXT, unit_id TEXT,
  host_name TEXT, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts DESC, id DESC);
CREATE TABLE IF NOT EXISTS deadletters (
  id TEXT PRIMARY KEY, at TEXT NOT NULL, source_id TEXT, stage TEXT, format_tried TEXT, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS deadletters_at ON deadletters(at DESC, id DESC);
CREATE TABLE IF NOT EXISTS registry (
  kind TEXT NOT NULL, id TEXT NOT NULL, token_sha256 TEXT, doc BLOB NOT NULL, PRIMARY KEY (kind, id));
"""

REGISTRY_KINDS: dict[str, type[Any]] = {
    "units": Unit,
    "systems": InformationSystem,
    "sources": LogSource,
    "endpoints": Endpoint,
    "targets": CoverageTarget,
}


def _iso(value: datetime | None) -> str | None:
    """UTC ISO text that sorts lexically in time order."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_cursor(ts: str, doc_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, doc_id])).decode()


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        ts, doc_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise StoreError("invalid paging cursor", cursor=cursor) from exc
    return str(ts), str(doc_id)


class SqliteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.RLock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"sqlite write failed: {exc}", path=str(self.path)) from exc
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite query failed: {exc}", path=str(self.path)) from exc

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(SCHEMA)

    def health(self) -> dict[str, str]:
        try:
            self._query("SELECT 1")
        except StoreError as exc:
            return {"store": f"down: {exc}"}
        return {"store": f"ok (sqlite {self.path})"}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def refresh(self) -> None:
        return None

    # -- writes ---------------------------------------------------------------------------------

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> WriteResult:
        result = WriteResult()
        if not rows:
            return result
        with self._tx() as conn:
            for row in rows:
                cur = conn.execute(sql, row)
                if cur.rowcount == 1:
                    result.created += 1
                else:
                    result.duplicates += 1
        return result

    def put_events(self, events: Sequence[Event]) -> WriteResult:
        rows = []
        for ev in events:
            doc = ev.to_doc()
            rows.append(
                (
                    ev.id,
                    _iso(ev.timestamp),
                    _iso(ev.event.ingested),
                    ev.soc.source.id,
                    ev.soc.unit.id,
                    ev.soc.system.id,
                    ev.host.name if ev.host else None,
                    int(ev.soc.evidence is not None),
                    orjson.dumps(doc),
                )
            )
        return self._insert(
            "INSERT INTO events (id, ts, ingested, source_id, unit_id, system_id, host_name, evidence, doc)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
            rows,
        )

    def put_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        rows = [
            (
                a.id,
                _iso(a.timestamp),
                a.severity.value,
                a.triage.status.value,
                a.rule.id,
                a.soc.unit.id,
                a.host_name,
                orjson.dumps(a.to_doc()),
            )
            for a in alerts
        ]
        return self._insert(
            "INSERT INTO alerts (id, ts, severity, status, rule_id, unit_id, host_name, doc)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
            rows,
        )

    def put_deadletters(self, letters: Sequence[DeadLetter]) -> WriteResult:
        rows = [(d.id, _iso(d.at), d.source_id, d.stage, d.format_tried, d.to_json()) for d in letters]
        return self._insert(
            "INSERT INTO deadletters (id, at, source_id, stage, format_tried, doc) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO NOTHING",
            rows,
        )

    # -- reads ----------------------------------------------------------------------------------

    def get_event(self, event_id: str) -> Event | None:
        rows = self._query("SELECT doc FROM events WHERE id = ?", (event_id,))
        return Event.from_json(rows[0][0]) if rows else None

    def get_alert(self, alert_id: str) -> Alert | None:
        rows = self._query("SELECT doc FROM alerts WHERE id = ?", (alert_id,))
        return Alert.from_json(rows[0][0]) if rows else None

    @staticmethod
    def _page_sql(
        table: str, ts_col: str, filters: list[tuple[str, Any]], size: int, cursor: str | None
    ) -> tuple[str, str, list[Any], list[Any]]:
        where = [f"{clause}" for clause, _ in filters]
        params = [value for _, value in filters]
        count_sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
        count_params = list(params)
        if cursor:
            ts, doc_id = decode_cursor(cursor)
            where.append(f"({ts_col} < ? OR ({ts_col} = ? AND id < ?))")
            params.extend([ts, ts, doc_id])
        sql = (
            f"SELECT {ts_col}, id, doc FROM {table}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {ts_col} DESC, id DESC LIMIT ?"
        )
        params.append(size)
        return sql, count_sql, params, count_params

    def _page(
        self, table: str, ts_col: str, filters: list[tuple[str, Any]], size: int, cursor: str | None
    ) -> tuple[list[bytes], int, str | None]:
        sql, count_sql, params, count_params = self._page_sql(table, ts_col, filters, size, cursor)
        rows = self._query(sql, params)
        total = int(self._query(count_sql, count_params)[0][0])
        next_cursor = encode_cursor(rows[-1][0], rows[-1][1]) if len(rows) == size else None
        return [r[2] for r in rows], total, next_cursor

    @staticmethod
    def _time_filters(col: str, start: datetime | None, end: datetime | None) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        if start:
            out.append((f"{col} >= ?", _iso(start)))
        if end:
            out.append((f"{col} < ?", _iso(end)))
        return out

    def search_events(self, query: EventQuery) -> Page[Event]:
        filters = self._time_filters("ts", query.start, query.end)
        for col, value in (
            ("source_id", query.source_id),
            ("unit_id", query.unit_id),
            ("system_id", query.system_id),
            ("host_name", query.host_name),
        ):
            if value:
                filters.append((f"{col} = ?", value))
        if query.text:
            filters.append(("instr(lower(CAST(doc AS TEXT)), ?) > 0", query.text.lower()))
        docs, total, cursor = self._page("events", "ts", filters, query.size, query.cursor)
        return Page([Event.from_json(d) for d in docs], total, cursor)

    def search_alerts(self, query: AlertQuery) -> Page[Alert]:
        filters = self._time_filters("ts", query.start, query.end)
        for col, value in (
            ("severity", query.severity),
            ("status", query.status),
            ("rule_id", query.rule_id),
            ("unit_id", query.unit_id),
            ("host_name", query.host_name),
        ):
            if value:
                filters.append((f"{col} = ?", value))
        docs, total, cursor = self._page("alerts", "ts", filters, query.size, query.cursor)
        return Page([Alert.from_json(d) for d in docs], total, cursor)

    def list_deadletters(self, query: DeadLetterQuery) -> Page[DeadLetter]:
        filters = self._time_filters("at", query.start, query.end)
        for col, value in (
            ("source_id", query.source_id),
            ("format_tried", query.format_tried),
            ("stage", query.stage),
        ):
            if value:
                filters.append((f"{col} = ?", value))
        docs, total, cursor = self._page("deadletters", "at", filters, query.size, query.cursor)
        return Page([DeadLetter.from_json(d) for d in docs], total, cursor)

    # -- registry -------------------------------------------------------------------------------

    def save_registry(self, registry: Registry) -> None:
        with self._tx() as conn:
            for kind in REGISTRY_KINDS:
                for item in getattr(registry, kind):
                    conn.execute(
                        "INSERT INTO registry (kind, id, token_sha256, doc) VALUES (?,?,?,?)"
                        " ON CONFLICT(kind, id) DO UPDATE SET token_sha256=excluded.token_sha256,"
                        " doc=excluded.doc",
                        (
                            kind,
                            item.id,
                            getattr(item, "token_sha256", None),
                            orjson.dumps(item.model_dump(mode="json")),
                        ),
                    )

    def load_registry(self) -> Registry:
        parts: dict[str, list[Any]] = {kind: [] for kind in REGISTRY_KINDS}
        for kind, doc in self._query("SELECT kind, doc FROM registry ORDER BY kind, id"):
            if kind in REGISTRY_KINDS:
                parts[kind].append(REGISTRY_KINDS[kind].model_validate(orjson.loads(doc)))
        return Registry(**parts)

    def source_activity(self) -> dict[str, SourceActivity]:
        rows = self._query(
            "SELECT source_id, COUNT(*), MAX(ingested) FROM events WHERE evidence = 0 GROUP BY source_id"
        )
        return {
            str(sid): SourceActivity(str(sid), int(n), datetime.fromisoformat(last) if last else None)
            for sid, n, last in rows
            if sid is not None
        }
