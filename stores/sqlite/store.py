"""SQLite adapter of the `Store` port: the embedded mode's store, one file in the data folder.

WAL mode so the console reads while the pipeline writes; one connection guarded by a lock (the
embedded process is small; SQLite serialises writers anyway). Documents are stored as JSON with
the columns we filter on beside them; paging is keyset (`@timestamp`, id), like `search_after`.
"""

from __future__ import annotations

import base64
import functools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson

from soc_core.alert import Alert, AlertRepeat, Incident, Triage, alert_group
from soc_core.errors import QueryTimeout, StoreError
from soc_core.event import Event
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS
from soc_core.records import DeadLetter
from soc_core.registry import REGISTRY_KINDS, Registry
from soc_core.store import (
    AlertGroup,
    AlertQuery,
    AlertSearch,
    ApiTokenRecord,
    AuditEntry,
    AuditQuery,
    DeadLetterQuery,
    EventQuery,
    FacetBucket,
    HistogramBucket,
    IncidentQuery,
    OpenAlertQuery,
    Page,
    SessionRecord,
    SourceActivity,
    UserRecord,
    WriteResult,
    check_histogram,
    group_runs,
)
from stores.sqlite.kql import Target, compile_where, fts_text, register_functions

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

# Free text (issue 15): each table's documents' words (`stores.sqlite.kql.fts_text`: the words of
# `soc_core.kql.text.search_text`, so "da xoa" finds "Đã xóa") in a contentless FTS5 table keyed by
# the row's rowid. `put_events`/`put_alerts` write a new row's words in the same transaction, from
# the document they just serialised (an insert trigger calling back into Python to re-parse it cut
# event writes from 40,900 to 8,900 a second); triggers keep the index in step on delete and update:
# a contentless table forgets a row by being told its old words ('delete'), which the same
# deterministic function recomputes from the old document.
FTS_TABLES = ("events", "alerts")


def fts_schema(table: str) -> str:
    return f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {table}_fts USING fts5(
  body, content='', tokenize='unicode61 remove_diacritics 2');
DROP TRIGGER IF EXISTS {table}_fts_insert;
CREATE TRIGGER IF NOT EXISTS {table}_fts_delete AFTER DELETE ON {table} BEGIN
  INSERT INTO {table}_fts({table}_fts, rowid, body) VALUES ('delete', old.rowid, kql_search_text(old.doc));
END;
CREATE TRIGGER IF NOT EXISTS {table}_fts_update AFTER UPDATE OF doc ON {table} BEGIN
  INSERT INTO {table}_fts({table}_fts, rowid, body) VALUES ('delete', old.rowid, kql_search_text(old.doc));
  INSERT INTO {table}_fts(rowid, body) VALUES (new.rowid, kql_search_text(new.doc));
END;
"""


# Event fields the explorer filters on most (its pivots: user, addresses, event code and action,
# process; the unit, system and source of the province), as virtual columns computed from the stored
# document (nothing stored twice; older files gain them on `setup()`) with an index each beside the
# time, so a filter reads the index, pages in time order and counts without opening a document.
# One value per event only: a list field (`event.category`, `host.ip`) cannot be one column. Each
# index costs writes (bench/bench_kql_sqlite.py) and buys the filter (bench/bench_explorer.py).
EVENT_GENERATED_COLUMNS = {
    "user_name": "$.user.name",
    "source_ip": "$.source.ip",
    "destination_ip": "$.destination.ip",
    "event_code": "$.event.code",
    "event_action": "$.event.action",
    "process_name": "$.process.name",
}
# Number fields the explorer filters by range (ports): their number, NULL when the document holds
# anything else (a string, a list), as `json_each` compares only numbers with a number.
EVENT_NUMBER_COLUMNS = {
    "source_port": "$.source.port",
    "destination_port": "$.destination.port",
}
EVENT_TARGET = Target(
    EVENT_FIELDS,
    "events",
    "events_fts",
    time_columns={"@timestamp": "ts"},
    # the `soc` ids are written from `Event.soc`, the model the document's `soc` is dumped from
    columns={
        "host.name": "host_name",
        "soc.source.id": "source_id",
        "soc.unit.id": "unit_id",
        "soc.system.id": "system_id",
        **{path[2:]: column for column, path in EVENT_GENERATED_COLUMNS.items()},
        **{path[2:]: column for column, path in EVENT_NUMBER_COLUMNS.items()},
    },
    indexes={
        "host_name": "events_host_ts",
        "source_id": "events_source",
        "unit_id": "events_unit",
        **{
            column: f"events_{column}_ts"
            for column in ("system_id", *EVENT_GENERATED_COLUMNS, *EVENT_NUMBER_COLUMNS)
        },
    },
)
ALERT_TARGET = Target(
    ALERT_FIELDS,
    "alerts",
    "alerts_fts",
    time_columns={"@timestamp": "ts"},
    julian_columns={"created_at": "created_jd"},
    columns={
        "severity": "severity",
        "triage.status": "status",
        "rule.id": "rule_id",
        "soc.unit.id": "unit_id",
        "host_name": "host_name",
        "user_name": "user_name",
        "soc.system.id": "system_id",
        "triage.assignee": "assignee",
    },
    indexes={
        "severity": "alerts_severity_ts",
        "status": "alerts_status_ts",
        "rule_id": "alerts_rule_unit",
        "host_name": "alerts_host_ts",
        "user_name": "alerts_user_ts",
        "system_id": "alerts_system_ts",
        "created_jd": "alerts_created",
    },
)

TRIAGE_SCHEMA = """
CREATE INDEX IF NOT EXISTS alerts_status_ts ON alerts(status, ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_severity_ts ON alerts(severity, ts DESC, id DESC);
CREATE INDEX IF NOT EXISTS alerts_rule_unit ON alerts(rule_id, unit_id, ts);
CREATE INDEX IF NOT EXISTS alerts_host_ts ON alerts(host_name, ts);
CREATE TABLE IF NOT EXISTS incidents (
  id TEXT PRIMARY KEY, detected TEXT NOT NULL, status TEXT, severity TEXT, owner TEXT,
  version INTEGER NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_detected ON incidents(detected DESC, id DESC);
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
  token_sha256 TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires TEXT NOT NULL, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE TABLE IF NOT EXISTS api_tokens (
  token_sha256 TEXT PRIMARY KEY, id TEXT NOT NULL, doc BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (key TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_key_at ON login_failures(key, at);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures(at);
CREATE TABLE IF NOT EXISTS audit (
  id TEXT PRIMARY KEY, at TEXT NOT NULL, actor TEXT, action TEXT, target_id TEXT, doc BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS audit_at ON audit(at DESC, id DESC);
"""

# Alert fields the triage queue filters on, as virtual columns computed from the stored document, so
# `put_alerts` stays as it is and older files gain them on `setup()`.
ALERT_GENERATED_COLUMNS = {
    "system_id": "$.soc.system.id",
    "user_name": "$.user_name",
    "assignee": "$.triage.assignee",
    "incident_id": "$.triage.incident_id",
    "rule_name": "$.rule.name",
    "group_key": "$.group",
    "visit_id": "$.soc.evidence.visit_id",
}
# Computed columns that are not one JSON path: whether an alert came from an evidence file.
ALERT_COMPUTED_COLUMNS = {  # column -> (type, expression)
    "origin": (
        "TEXT",
        "CASE WHEN json_type(CAST(doc AS TEXT), '$.soc.evidence') IS NULL THEN 'live' ELSE 'evidence' END",
    ),
    # when the alert was stored, as a number (its text may end in `Z` or `+00:00`, with or without
    # a fraction, which do not sort as text): the queue's new-alerts poll asks `created_at > since`
    "created_jd": ("REAL", "julianday(json_extract(CAST(doc AS TEXT), '$.created_at'))"),
}
ORIGIN_FILTER = {"live": ("origin = ?", "live"), "evidence": ("origin = ?", "evidence")}

# facet name -> SQL expression over `alerts` (single-valued) or a json_each path (multi-valued)
SQLITE_FACETS: dict[str, str] = {
    "severity": "severity",
    "status": "status",
    "rule": "rule_id",
    "unit": "unit_id",
    "system": "system_id",
    "host": "host_name",
    "user": "user_name",
    "assignee": "assignee",
}
SQLITE_MULTI_FACETS: dict[str, tuple[str, str]] = {
    "checklist": ("$.checklist", "j.value"),
    "technique": ("$.threat", "json_extract(j.value, '$.technique.id')"),
}


#: Tables retention deletes from (`stores.sqlite.retention`), with their time column.
RETENTION_COLUMNS = {"events": "ts", "alerts": "ts", "deadletters": "at", "audit": "at"}


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


P = ParamSpec("P")
R = TypeVar("R")

# How many SQLite virtual-machine steps pass between two looks at a search's deadline: about a
# millisecond of work, so a stopped search overruns its limit by that, and the look costs nothing.
PROGRESS_STEPS = 5_000
PAGE_CACHE_KIB = 65_536


def time_limited(method: Callable[P, R]) -> Callable[P, R]:
    """A search an analyst's query drives (a `SqliteStore` method): stopped past the store's
    `query_timeout_s`."""

    @functools.wraps(method)
    def limited(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        assert isinstance(store, SqliteStore)
        with store._time_limit():
            return method(*args, **kwargs)

    return limited


class SqliteStore:
    def __init__(self, path: Path, *, query_timeout_s: float | None = None) -> None:
        """`query_timeout_s`: the longest a search (`time_limited`) runs before `QueryTimeout`;
        None: no limit (tools, the pipeline's own reads)."""
        self.path = path
        self.query_timeout_s = query_timeout_s
        self._deadline: float | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        # a search's sorts and its sets of row ids (`rowid IN (...)`: 400,000 of them for
        # `source.ip:10.0.0.0/8`) in memory, not in a temporary file, and a page cache that holds
        # the column indexes' hot pages (the default, 2 MB, rereads them for every query)
        self._conn.execute("PRAGMA temp_store=MEMORY")
        self._conn.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KIB}")
        register_functions(self._conn)
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
            except sqlite3.OperationalError as exc:
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    raise QueryTimeout(
                        f"the search ran longer than {self.query_timeout_s:g} s and was stopped:"
                        " narrow the time range or the query",
                        timeout_s=self.query_timeout_s,
                    ) from exc
                raise StoreError(f"sqlite query failed: {exc}", path=str(self.path)) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite query failed: {exc}", path=str(self.path)) from exc

    @contextmanager
    def _time_limit(self) -> Iterator[None]:
        """Hold the connection for one search and have SQLite interrupt it past the deadline (a
        progress handler: the statement fails with "interrupted", which `_query` names). Nested
        searches keep the outer deadline; the handler is gone once the search is over, so writes
        and the pipeline's reads are never cut short."""
        if self.query_timeout_s is None or self._deadline is not None:
            yield
            return
        with self._lock:
            deadline = time.monotonic() + self.query_timeout_s
            self._deadline = deadline
            self._conn.set_progress_handler(lambda: time.monotonic() >= deadline, PROGRESS_STEPS)
            try:
                yield
            finally:
                self._conn.set_progress_handler(None, 0)
                self._deadline = None

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(SCHEMA)
        self._setup_triage()
        self._setup_search()

    def _setup_search(self) -> None:
        """The FTS5 tables and their triggers; a table new to this file gets the rows already
        there (once: a file from before issue 15)."""
        with self._lock:
            have = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with self._lock:
            have = self._add_generated("events", EVENT_GENERATED_COLUMNS)
            for column, path in EVENT_NUMBER_COLUMNS.items():
                if column not in have:
                    value = f"json_extract(CAST(doc AS TEXT), '{path}')"
                    self._conn.execute(
                        f"ALTER TABLE events ADD COLUMN {column} NUMERIC GENERATED ALWAYS AS"
                        f" (CASE WHEN typeof({value}) IN ('integer', 'real') THEN {value} END) VIRTUAL"
                    )
            self._conn.execute("CREATE INDEX IF NOT EXISTS events_host_ts ON events(host_name, ts)")
            for column in ("system_id", *EVENT_GENERATED_COLUMNS, *EVENT_NUMBER_COLUMNS):
                self._conn.execute(f"CREATE INDEX IF NOT EXISTS events_{column}_ts ON events({column}, ts)")
        for table in FTS_TABLES:
            with self._tx() as conn:
                for statement in _statements(fts_schema(table)):
                    conn.execute(statement)
                if f"{table}_fts" not in have:
                    conn.execute(
                        f"INSERT INTO {table}_fts(rowid, body)"
                        f" SELECT rowid, kql_search_text(doc) FROM {table}"
                    )

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

    def _insert(self, sql: str, rows: list[tuple[Any, ...]], fts: str | None = None) -> WriteResult:
        """Insert `rows` (duplicates ignored); with `fts`, each row's last value is its JSON
        document, whose words go into that FTS5 table for the rows actually created."""
        result = WriteResult()
        if not rows:
            return result
        words: list[tuple[int | None, str]] = []
        with self._tx() as conn:
            for row in rows:
                cur = conn.execute(sql, row)
                if cur.rowcount == 1:
                    result.created += 1
                    if fts is not None:
                        words.append((cur.lastrowid, fts_text(orjson.loads(row[-1]))))
                else:
                    result.duplicates += 1
            if words:
                conn.executemany(f"INSERT INTO {fts}(rowid, body) VALUES (?, ?)", words)
        return result

    def put_events(self, events: Iterable[Event]) -> WriteResult:
        rows = []
        for ev in events:
            host = ev.host
            rows.append(
                (
                    ev.id,
                    _iso(ev.timestamp),
                    _iso(ev.event.get("ingested")),
                    ev.soc.source.id,
                    ev.soc.unit.id,
                    ev.soc.system.id,
                    host.get("name") if host else None,
                    int(ev.soc.evidence is not None),
                    ev.to_json(),
                )
            )
        return self._insert(
            "INSERT INTO events (id, ts, ingested, source_id, unit_id, system_id, host_name, evidence, doc)"
            " VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
            rows,
            "events_fts",
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
            "alerts_fts",
        )

    def record_repeats(self, repeats: Sequence[AlertRepeat]) -> int:
        changed = 0
        with self._tx() as conn:
            for repeat in repeats:
                row = conn.execute("SELECT doc FROM alerts WHERE id = ?", (repeat.alert_id,)).fetchone()
                if row is None:
                    raise StoreError("repeat of an alert that is not stored", alert_id=repeat.alert_id)
                alert = Alert.from_json(row[0])
                updated = repeat.apply(alert)
                if updated != alert:
                    conn.execute(
                        "UPDATE alerts SET doc = ? WHERE id = ?",
                        (orjson.dumps(updated.to_doc()), repeat.alert_id),
                    )
                    changed += 1
        return changed

    def put_deadletters(self, letters: Sequence[DeadLetter]) -> WriteResult:
        rows = [(d.id, _iso(d.at), d.source_id, d.stage, d.format_tried, d.to_json()) for d in letters]
        return self._insert(
            "INSERT INTO deadletters (id, at, source_id, stage, format_tried, doc) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO NOTHING",
            rows,
        )

    def delete_before(self, table: str, before: datetime, *, batch: int = 5000) -> int:
        """Delete the rows of `table` older than `before`, `batch` rows per transaction, so writers
        wait for one batch at most; the FTS delete triggers keep free text in step. Returns the count."""
        column = RETENTION_COLUMNS[table]
        sql = (
            f"DELETE FROM {table} WHERE rowid IN "
            f"(SELECT rowid FROM {table} WHERE {column} < ? ORDER BY {column} LIMIT ?)"
        )
        deleted = 0
        while True:
            with self._tx() as conn:
                n = conn.execute(sql, (_iso(before), batch)).rowcount
            deleted += n
            if n < batch:
                return deleted

    # -- reads ----------------------------------------------------------------------------------

    def get_event(self, event_id: str) -> Event | None:
        rows = self._query("SELECT doc FROM events WHERE id = ?", (event_id,))
        return Event.from_json(rows[0][0]) if rows else None

    def get_alert(self, alert_id: str) -> Alert | None:
        rows = self._query("SELECT doc FROM alerts WHERE id = ?", (alert_id,))
        return Alert.from_json(rows[0][0]) if rows else None

    @staticmethod
    def _page_sql(
        table: str,
        ts_col: str,
        filters: list[tuple[str, Any]],
        size: int,
        cursor: str | None,
        bound: Sequence[tuple[str, Any]] = (),
    ) -> tuple[str, str, list[Any], list[Any]]:
        """The page's query and the count's; `bound` narrows the page's alone."""
        where, params = SqliteStore._flatten(filters)
        count_sql = f"SELECT COUNT(*) FROM {table}" + (" WHERE " + " AND ".join(where) if where else "")
        count_params = list(params)
        more, more_params = SqliteStore._flatten(list(bound))
        where.extend(more)
        params.extend(more_params)
        if cursor:
            ts, doc_id = decode_cursor(cursor)
            where.append(f"({ts_col} < ? OR ({ts_col} = ? AND id < ?))")
            params.extend([ts, ts, doc_id])
        # the page's rows are chosen first and their documents read after: sorting the matches
        # with their documents (50,000 free-text matches) took seconds, with their keys a fraction
        sql = (
            f"SELECT {ts_col}, id, doc FROM {table} WHERE rowid IN (SELECT rowid FROM {table}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY {ts_col} DESC, id DESC LIMIT ?) ORDER BY {ts_col} DESC, id DESC"
        )
        params.append(size)
        return sql, count_sql, params, count_params

    def _page(
        self,
        table: str,
        ts_col: str,
        filters: list[tuple[str, Any]],
        size: int,
        cursor: str | None,
        *,
        count_total: bool = True,
        bound: Sequence[tuple[str, Any]] = (),
    ) -> tuple[list[bytes], int, str | None]:
        sql, count_sql, params, count_params = self._page_sql(table, ts_col, filters, size, cursor, bound)
        rows = self._query(sql, params)
        total = int(self._query(count_sql, count_params)[0][0]) if count_total else len(rows)
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

    @time_limited
    def search_events(self, query: EventQuery) -> Page[Event]:
        filters = self._event_filters(query)
        docs, total, cursor = self._page(
            "events",
            "ts",
            filters,
            query.size,
            query.cursor,
            count_total=query.count_total,
            bound=self._page_bound(filters, query.size, query.cursor),
        )
        return Page([Event.from_json(d) for d in docs], total, cursor)

    def _page_bound(
        self, filters: list[tuple[str, Any]], size: int, cursor: str | None
    ) -> list[tuple[str, Any]]:
        """`+ts >= <the size-th newest match's time>`, read first from the time alone: a page of
        matches a column's range finds (`destination.port < 3390`, a network, a wildcard: 200,000
        rows not in time order) then sorts only the rows of its own times by (time, id) where it
        looked each match's id up in the table (3 s). After a cursor the bound is the size-th
        newest before the cursor's time, never newer than the page's last. `+` keeps the time
        index out of it: the bound narrows the matches, it does not choose how they are found.
        Only where the plan sorts every match: not where an index gives them in time order
        (`event.code:4625`: by code then time), nor where FTS5 finds them (free text, a field's
        words: each would be looked up for its time once more, for a sort that costs little
        beside that)."""
        where, params = self._flatten(filters)
        if any(EVENT_TARGET.fts in clause for clause in where):
            return []
        cond = " WHERE " + " AND ".join(where) if where else ""
        plan = self._query(
            f"EXPLAIN QUERY PLAN SELECT rowid FROM events{cond} ORDER BY ts DESC, id DESC LIMIT ?",
            [*params, size],
        )
        if not any(str(row[-1]) == "USE TEMP B-TREE FOR ORDER BY" for row in plan):
            return []
        if cursor:
            cond += (" AND" if where else " WHERE") + " ts < ?"
            params.append(decode_cursor(cursor)[0])
        rows = self._query(
            f"SELECT ts FROM events{cond} ORDER BY ts DESC LIMIT 1 OFFSET ?", [*params, size - 1]
        )
        return [("+ts >= ?", rows[0][0])] if rows else []

    @time_limited
    def event_histogram(self, query: EventQuery, interval_s: int, offset_s: int = 0) -> list[HistogramBucket]:
        check_histogram(interval_s, query.start, query.end)
        return self._histogram(
            "events", self._event_filters(query), interval_s, offset_s, (query.start, query.end)
        )

    def _histogram(
        self,
        table: str,
        filters: list[tuple[str, Any]],
        interval_s: int,
        offset_s: int,
        span: tuple[datetime | None, datetime | None] = (None, None),
    ) -> list[HistogramBucket]:
        """Counts per bucket. Over a known time span, when an index seeks the condition and the
        time together, one count per bucket range (each reads only its own index entries); else
        one pass grouping the matches on the bucket computed from `ts` (a function call and a
        temporary b-tree per match: five times slower over a million events, but one pass when
        the condition is a list of rows, as free text is)."""
        where, params = self._flatten(filters)
        offset_s %= interval_s  # the same buckets, and a bucket start never before the epoch
        start, end = span
        if start is not None and end is not None and end > start:
            first = (int(start.timestamp()) - offset_s) // interval_s * interval_s + offset_s
            starts = list(range(first, int(end.timestamp()), interval_s))
            bounds = [
                _iso(datetime.fromtimestamp(moment, UTC)) for b in starts for moment in (b, b + interval_s)
            ]
            cond = "".join(f" AND {w}" for w in where)
            sql = (
                f"WITH b(s, e) AS (VALUES {','.join(['(?, ?)'] * len(starts))}) SELECT"
                f" (SELECT COUNT(*) FROM {table} WHERE ts >= b.s AND ts < b.e{cond}) FROM b"
            )
            plan = " ".join(str(r[-1]) for r in self._query(f"EXPLAIN QUERY PLAN {sql}", [*bounds, *params]))
            if _SEEKS_TIME.search(plan):
                counts = self._query(sql, [*bounds, *params])
                return [
                    HistogramBucket(datetime.fromtimestamp(b, UTC), int(n))
                    for b, (n,) in zip(starts, counts, strict=True)
                    if n
                ]
        bucket = "((unixepoch(substr(ts, 1, 19)) - ?) / ?) * ? + ?"
        sql = (
            f"SELECT {bucket} AS b, COUNT(*) FROM {table}"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " GROUP BY b ORDER BY b"
        )
        rows = self._query(sql, [offset_s, interval_s, interval_s, offset_s, *params])
        return [
            HistogramBucket(datetime.fromtimestamp(int(b), UTC), int(n)) for b, n in rows if b is not None
        ]

    def _event_filters(self, query: EventQuery) -> list[tuple[str, Any]]:
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
        if query.kql is not None:
            filters.append(compile_where(query.kql, EVENT_TARGET))
        return filters

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
        if query.origin in ORIGIN_FILTER:
            filters.append(ORIGIN_FILTER[query.origin])
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

    def delete_registry_entry(self, kind: str, entry_id: str) -> bool:
        with self._tx() as conn:
            return (
                conn.execute("DELETE FROM registry WHERE kind = ? AND id = ?", (kind, entry_id)).rowcount == 1
            )

    def source_activity(self) -> dict[str, SourceActivity]:
        rows = self._query(
            "SELECT source_id, COUNT(*), MAX(ingested) FROM events WHERE evidence = 0 GROUP BY source_id"
        )
        return {
            str(sid): SourceActivity(str(sid), int(n), datetime.fromisoformat(last) if last else None)
            for sid, n, last in rows
            if sid is not None
        }

    # -- triage (issue 6) -----------------------------------------------------------------------

    def _setup_triage(self) -> None:
        with self._lock:
            have = self._add_generated("alerts", ALERT_GENERATED_COLUMNS)
            for col, (kind, expr) in ALERT_COMPUTED_COLUMNS.items():
                if col not in have:
                    self._conn.execute(
                        f"ALTER TABLE alerts ADD COLUMN {col} {kind} GENERATED ALWAYS AS ({expr}) VIRTUAL"
                    )
            self._conn.executescript(
                TRIAGE_SCHEMA + "CREATE INDEX IF NOT EXISTS alerts_system_ts ON alerts(system_id, ts);"
                "CREATE INDEX IF NOT EXISTS alerts_user_ts ON alerts(user_name, ts);"
                "CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident_id);"
                # alert groups (issue 13): the collapsed queue pages and counts by group key (status in
                # the index: the open queue's groups without reading a document); origin keeps
                # evidence-file alerts out of the live queue; the visit lists its own.
                "CREATE INDEX IF NOT EXISTS alerts_origin_group ON alerts(origin, group_key, status);"
                "CREATE INDEX IF NOT EXISTS alerts_origin_status_ts"
                " ON alerts(origin, status, ts DESC, id DESC);"
                # the rules pages: one rule's alerts per day, and every rule's alerts in a time range
                # (without them SQLite walked every live alert through alerts_origin_status_ts)
                "CREATE INDEX IF NOT EXISTS alerts_rule_origin_ts ON alerts(rule_id, origin, ts);"
                "CREATE INDEX IF NOT EXISTS alerts_origin_ts ON alerts(origin, ts);"
                "CREATE INDEX IF NOT EXISTS alerts_visit ON alerts(visit_id);"
                "CREATE INDEX IF NOT EXISTS alerts_group ON alerts(group_key);"
                # the queue's poll (issue 15): alerts stored since the page was shown, and one
                # unit's queue in time order (without it, a unit's filter read every alert of the
                # severities asked from its document)
                "CREATE INDEX IF NOT EXISTS alerts_created ON alerts(created_jd);"
                "CREATE INDEX IF NOT EXISTS alerts_unit_ts ON alerts(unit_id, ts DESC, id DESC);"
            )
        self._backfill_groups()

    def _add_generated(self, table: str, columns: dict[str, str]) -> set[str]:
        """Add `table`'s missing virtual columns (column -> JSON path); the columns it had."""
        have = {row[1] for row in self._conn.execute(f"PRAGMA table_xinfo({table})")}
        for col, path in columns.items():
            if col not in have:
                self._conn.execute(
                    f"ALTER TABLE {table} ADD COLUMN {col} TEXT GENERATED ALWAYS AS "
                    f"(json_extract(CAST(doc AS TEXT), '{path}')) VIRTUAL"
                )
        return have

    def _backfill_groups(self, batch: int = 1000) -> int:
        """Alerts stored before groups existed get theirs: each was raised on its first event id."""
        done = 0
        while True:
            rows = self._query(
                "SELECT id, ts, json_extract(CAST(doc AS TEXT), '$.event_ids[0]') FROM alerts"
                " WHERE group_key IS NULL LIMIT ?",
                (batch,),
            )
            if not rows:
                return done
            with self._tx() as conn:
                for doc_id, ts, first_event in rows:
                    key = alert_group(datetime.fromisoformat(ts), [first_event or doc_id])
                    conn.execute(
                        "UPDATE alerts SET doc = CAST(json_set(CAST(doc AS TEXT), '$.group', ?) AS BLOB)"
                        " WHERE id = ?",
                        (key, doc_id),
                    )
            done += len(rows)

    @staticmethod
    def _alert_search_filters(query: AlertSearch) -> list[tuple[str, Any]]:
        filters = SqliteStore._time_filters("ts", query.start, query.end)
        for col, values in (("severity", query.severity), ("status", query.status)):
            if values:
                filters.append((f"{col} IN ({','.join('?' * len(values))})", list(values)))
        for col, value in (
            ("rule_id", query.rule_id),
            ("unit_id", query.unit_id),
            ("system_id", query.system_id),
            ("host_name", query.host_name),
            ("user_name", query.user_name),
            ("assignee", query.assignee),
            ("incident_id", query.incident_id),
        ):
            if value:
                filters.append((f"{col} = ?", value))
        if query.checklist:
            filters.append(
                (
                    "EXISTS (SELECT 1 FROM json_each(CAST(doc AS TEXT), '$.checklist') WHERE value = ?)",
                    query.checklist,
                )
            )
        if query.technique:
            filters.append(
                (
                    "EXISTS (SELECT 1 FROM json_each(CAST(doc AS TEXT), '$.threat') j"
                    " WHERE json_extract(j.value, '$.technique.id') = ?)",
                    query.technique,
                )
            )
        if query.ids is not None:
            filters.append((f"id IN ({','.join('?' * len(query.ids))})", list(query.ids)))
        if query.origin in ORIGIN_FILTER:
            filters.append(ORIGIN_FILTER[query.origin])
        for col, value in (("visit_id", query.visit_id), ("group_key", query.group)):
            if value:
                filters.append((f"{col} = ?", value))
        if query.text:
            filters.append(("instr(lower(CAST(doc AS TEXT)), ?) > 0", query.text.lower()))
        if query.kql is not None:
            filters.append(compile_where(query.kql, ALERT_TARGET))
        return filters

    @staticmethod
    def _flatten(filters: list[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        for clause, value in filters:
            where.append(clause)
            if isinstance(value, list):
                params.extend(value)
            else:
                params.append(value)
        return where, params

    @time_limited
    def search_alert_queue(self, query: AlertSearch) -> Page[Alert]:
        if query.ids is not None and not query.ids:
            return Page([], 0, None)
        where, params = self._flatten(self._alert_search_filters(query))
        count_sql = "SELECT COUNT(*) FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        count_params = list(params)
        direction, cmp = ("ASC", ">") if query.ascending else ("DESC", "<")
        if query.cursor:
            ts, doc_id = decode_cursor(query.cursor)
            where.append(f"(ts {cmp} ? OR (ts = ? AND id {cmp} ?))")
            params.extend([ts, ts, doc_id])
        sql = (
            "SELECT ts, id, doc FROM alerts"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY ts {direction}, id {direction} LIMIT ?"
        )
        rows = self._query(sql, [*params, query.size])
        total = int(self._query(count_sql, count_params)[0][0])
        cursor = encode_cursor(rows[-1][0], rows[-1][1]) if rows and len(rows) == query.size else None
        return Page([Alert.from_json(r[2]) for r in rows], total, cursor)

    @time_limited
    def alert_histogram(
        self, query: AlertSearch, interval_s: int, offset_s: int = 0
    ) -> list[HistogramBucket]:
        check_histogram(interval_s, query.start, query.end)
        if query.ids is not None and not query.ids:
            return []
        return self._histogram(
            "alerts", self._alert_search_filters(query), interval_s, offset_s, (query.start, query.end)
        )

    @time_limited
    def search_alert_groups(self, query: AlertSearch) -> Page[AlertGroup]:
        """The page's group keys first (the key starts with the time, so key order is time order),
        then their members; the cursor is the last group's (time, key), Elasticsearch's shape."""
        if query.ids is not None and not query.ids:
            return Page([], 0, None)
        where, params = self._flatten(self._alert_search_filters(query))
        cond = " AND ".join(where) if where else "1"
        # DISTINCT in a subquery reads the (origin, group_key, status) index alone; COUNT(DISTINCT)
        # took the status index and parsed every document (10x slower on 200,000 alerts)
        total = int(
            self._query(f"SELECT COUNT(*) FROM (SELECT DISTINCT group_key FROM alerts WHERE {cond})", params)[
                0
            ][0]
        )
        direction, cmp = ("ASC", ">") if query.ascending else ("DESC", "<")
        page_cond, page_params = cond, list(params)
        if query.cursor:
            page_cond += f" AND group_key {cmp} ?"
            page_params.append(decode_cursor(query.cursor)[1])
        keys = [
            str(r[0])
            for r in self._query(
                f"SELECT DISTINCT group_key FROM alerts WHERE {page_cond}"
                f" ORDER BY group_key {direction} LIMIT ?",
                [*page_params, query.size],
            )
        ]
        if not keys:
            return Page([], total, None)
        rows = self._query(
            f"SELECT group_key, ts, doc FROM alerts WHERE {cond}"
            f" AND group_key IN ({','.join('?' * len(keys))}) ORDER BY group_key, ts, id",
            [*params, *keys],
        )
        by_key: dict[str, list[tuple[Alert, Any]]] = {k: [] for k in keys}
        for key, ts, doc in rows:
            by_key[str(key)].append((Alert.from_json(doc), ts))
        runs = [run for key in keys for run in group_runs(by_key[key])]
        cursor = encode_cursor(runs[-1].sort, runs[-1].group.key) if len(keys) == query.size else None
        return Page([r.group for r in runs], total, cursor)

    def open_alert_candidates(self, query: OpenAlertQuery) -> list[Alert]:
        filters = [*self._time_filters("ts", query.start, query.end), ("origin = ?", "live")]
        if query.rule_id is not None:
            filters.append(("rule_id = ?", query.rule_id))
        if query.host_key is not None:
            filters.append(
                (
                    "lower(COALESCE(NULLIF(host_name, ''),"
                    " NULLIF(json_extract(CAST(doc AS TEXT), '$.soc.source.id'), ''), '')) = ?",
                    query.host_key,
                )
            )
        where, params = self._flatten(filters)
        rows = self._query(
            f"SELECT doc FROM alerts WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?",
            [*params, query.limit],
        )
        return [Alert.from_json(r[0]) for r in rows]

    def open_alert_candidates_many(self, queries: Sequence[OpenAlertQuery]) -> list[list[Alert]]:
        return [self.open_alert_candidates(query) for query in queries]  # in process: no round trips

    @time_limited
    def alert_facets(
        self, query: AlertSearch, facets: Sequence[str], size: int = 10
    ) -> dict[str, list[FacetBucket]]:
        where, params = self._flatten(self._alert_search_filters(query))
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        out: dict[str, list[FacetBucket]] = {}
        for facet in facets:
            if facet in SQLITE_FACETS:
                col = SQLITE_FACETS[facet]
                label = ", MAX(rule_name)" if facet == "rule" else ", NULL"
                sql = (
                    f"SELECT {col}, COUNT(*){label} FROM alerts"
                    + (cond + " AND " if cond else " WHERE ")
                    + f"{col} IS NOT NULL GROUP BY {col} ORDER BY COUNT(*) DESC, {col} LIMIT ?"
                )
            elif facet in SQLITE_MULTI_FACETS:
                path, expr = SQLITE_MULTI_FACETS[facet]
                sql = (
                    f"SELECT {expr} AS v, COUNT(DISTINCT alerts.id), NULL FROM alerts,"
                    f" json_each(CAST(alerts.doc AS TEXT), '{path}') j"
                    + (cond + " AND " if cond else " WHERE ")
                    + f"{expr} IS NOT NULL GROUP BY v ORDER BY COUNT(DISTINCT alerts.id) DESC, v LIMIT ?"
                )
            else:
                raise StoreError(f"unknown facet {facet!r}")
            rows = self._query(sql, [*params, size])
            out[facet] = [
                FacetBucket(str(v), int(n), str(lbl) if lbl is not None else None) for v, n, lbl in rows
            ]
        return out

    @staticmethod
    def _version(doc: bytes) -> str:
        import hashlib

        return hashlib.blake2b(doc, digest_size=12).hexdigest()

    def get_alert_versioned(self, alert_id: str) -> tuple[Alert, str] | None:
        rows = self._query("SELECT doc FROM alerts WHERE id = ?", (alert_id,))
        if not rows:
            return None
        return Alert.from_json(rows[0][0]), self._version(bytes(rows[0][0]))

    def update_alert_triage(self, alert_id: str, triage: Triage, *, version: str) -> bool:
        with self._tx() as conn:
            row = conn.execute("SELECT doc FROM alerts WHERE id = ?", (alert_id,)).fetchone()
            if row is None:
                raise StoreError("no such alert", alert_id=alert_id)
            if self._version(bytes(row[0])) != version:
                return False
            alert = Alert.from_json(row[0])
            alert.triage = triage
            conn.execute(
                "UPDATE alerts SET doc = ?, status = ? WHERE id = ?",
                (orjson.dumps(alert.to_doc()), triage.status.value, alert_id),
            )
        return True

    # -- incidents --------------------------------------------------------------------------------

    def create_incident(self, incident: Incident) -> None:
        with self._tx() as conn:
            cur = conn.execute(
                "INSERT INTO incidents (id, detected, status, severity, owner, version, doc)"
                " VALUES (?,?,?,?,?,1,?) ON CONFLICT(id) DO NOTHING",
                (
                    incident.id,
                    _iso(incident.detected_at),
                    incident.status.value,
                    incident.severity.value,
                    incident.owner,
                    orjson.dumps(incident.to_doc()),
                ),
            )
            if cur.rowcount != 1:
                raise StoreError("incident already exists", incident_id=incident.id)

    def get_incident_versioned(self, incident_id: str) -> tuple[Incident, str] | None:
        rows = self._query("SELECT doc, version FROM incidents WHERE id = ?", (incident_id,))
        if not rows:
            return None
        return Incident.model_validate(orjson.loads(rows[0][0])), str(rows[0][1])

    def update_incident(self, incident: Incident, *, version: str) -> bool:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE incidents SET detected = ?, status = ?, severity = ?, owner = ?,"
                " version = version + 1, doc = ? WHERE id = ? AND version = ?",
                (
                    _iso(incident.detected_at),
                    incident.status.value,
                    incident.severity.value,
                    incident.owner,
                    orjson.dumps(incident.to_doc()),
                    incident.id,
                    int(version) if version.isdigit() else -1,
                ),
            )
            return cur.rowcount == 1

    def search_incidents(self, query: IncidentQuery) -> Page[Incident]:
        filters: list[tuple[str, Any]] = []
        for col, values in (("status", query.status), ("severity", query.severity)):
            if values:
                filters.append((f"{col} IN ({','.join('?' * len(values))})", list(values)))
        if query.owner:
            filters.append(("owner = ?", query.owner))
        if query.unit_id:
            filters.append(
                (
                    "EXISTS (SELECT 1 FROM json_each(CAST(doc AS TEXT), '$.unit_ids') WHERE value = ?)",
                    query.unit_id,
                )
            )
        if query.text:
            filters.append(("instr(lower(CAST(doc AS TEXT)), ?) > 0", query.text.lower()))
        where, params = self._flatten(filters)
        flat = [(w, None) for w in where]
        sql, count_sql, _, _ = self._page_sql("incidents", "detected", flat, query.size, query.cursor)
        page_params = list(params)
        if query.cursor:
            ts, doc_id = decode_cursor(query.cursor)
            page_params.extend([ts, ts, doc_id])
        rows = self._query(sql, [*page_params, query.size])
        total = int(self._query(count_sql, params)[0][0])
        cursor = encode_cursor(rows[-1][0], rows[-1][1]) if len(rows) == query.size else None
        return Page([Incident.model_validate(orjson.loads(r[2])) for r in rows], total, cursor)

    # -- users, sessions, API tokens --------------------------------------------------------------

    def put_user(self, user: UserRecord) -> None:
        with self._tx() as conn:
            other = conn.execute(
                "SELECT id FROM users WHERE username = ? AND id != ?", (user.username, user.id)
            ).fetchone()
            if other:
                raise StoreError("username already taken", username=user.username)
            conn.execute(
                "INSERT INTO users (id, username, doc) VALUES (?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET username = excluded.username, doc = excluded.doc",
                (user.id, user.username, orjson.dumps(user.model_dump(mode="json"))),
            )

    def get_user(self, user_id: str) -> UserRecord | None:
        rows = self._query("SELECT doc FROM users WHERE id = ?", (user_id,))
        return UserRecord.model_validate(orjson.loads(rows[0][0])) if rows else None

    def get_user_by_name(self, username: str) -> UserRecord | None:
        rows = self._query("SELECT doc FROM users WHERE username = ?", (username,))
        return UserRecord.model_validate(orjson.loads(rows[0][0])) if rows else None

    def list_users(self) -> list[UserRecord]:
        return [
            UserRecord.model_validate(orjson.loads(r[0]))
            for r in self._query("SELECT doc FROM users ORDER BY username")
        ]

    def put_session(self, session: SessionRecord) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sessions (token_sha256, user_id, expires, doc) VALUES (?,?,?,?)",
                (
                    session.token_sha256,
                    session.user_id,
                    _iso(session.expires_at),
                    orjson.dumps(session.model_dump(mode="json")),
                ),
            )
            conn.execute("DELETE FROM sessions WHERE expires < ?", (_iso(datetime.now(UTC)),))

    def get_session(self, token_sha256: str) -> SessionRecord | None:
        rows = self._query("SELECT doc FROM sessions WHERE token_sha256 = ?", (token_sha256,))
        return SessionRecord.model_validate(orjson.loads(rows[0][0])) if rows else None

    def delete_session(self, token_sha256: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", (token_sha256,))

    def delete_user_sessions(self, user_id: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

    # -- failed logins (every process on this file sees the same counts) -----------------------------

    def record_login_failure(self, keys: Sequence[str], at: datetime, *, forget_before: datetime) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM login_failures WHERE at < ?", (_iso(forget_before),))
            conn.executemany(
                "INSERT INTO login_failures (key, at) VALUES (?, ?)", [(key, _iso(at)) for key in keys]
            )

    def login_failures(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        count, oldest = self._query(
            "SELECT count(*), min(at) FROM login_failures WHERE key = ? AND at >= ?", (key, _iso(since))
        )[0]
        return int(count), datetime.fromisoformat(oldest) if oldest else None

    def clear_login_failures(self, key: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))

    def put_api_token(self, token: ApiTokenRecord) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_tokens (token_sha256, id, doc) VALUES (?,?,?)",
                (token.token_sha256, token.id, orjson.dumps(token.model_dump(mode="json"))),
            )

    def get_api_token(self, token_sha256: str) -> ApiTokenRecord | None:
        rows = self._query("SELECT doc FROM api_tokens WHERE token_sha256 = ?", (token_sha256,))
        return ApiTokenRecord.model_validate(orjson.loads(rows[0][0])) if rows else None

    def list_api_tokens(self) -> list[ApiTokenRecord]:
        return [
            ApiTokenRecord.model_validate(orjson.loads(r[0]))
            for r in self._query("SELECT doc FROM api_tokens ORDER BY id")
        ]

    # -- audit ------------------------------------------------------------------------------------

    def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        self._insert(
            "INSERT INTO audit (id, at, actor, action, target_id, doc) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO NOTHING",
            [
                (e.id, _iso(e.at), e.actor, e.action, e.target_id, orjson.dumps(e.model_dump(mode="json")))
                for e in entries
            ],
        )

    def search_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        filters = self._time_filters("at", query.start, query.end)
        for col, value in (("actor", query.actor), ("target_id", query.target_id)):
            if value:
                filters.append((f"{col} = ?", value))
        if query.action:
            filters.append(("action LIKE ? ESCAPE '\\'", _like_prefix(query.action)))
        docs, total, cursor = self._page("audit", "at", filters, query.size, query.cursor)
        return Page([AuditEntry.model_validate(orjson.loads(d)) for d in docs], total, cursor)


# A plan whose count per bucket seeks an index on the time range (`... (ts>? AND ts<?)`, maybe after
# an equality on the column before it), not a scan of a list of rows checking each one's time.
_SEEKS_TIME = re.compile(r"SEARCH \w+ USING (?:COVERING )?INDEX \w+ \((?:\w+=\? AND )*ts>\? AND ts<\?\)")


def _like_prefix(text: str) -> str:
    """`login` matches `login.success` and `login.failure`: a LIKE prefix with wildcards escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _statements(script: str) -> list[str]:
    """`script`'s statements one by one (`executescript` would commit the open transaction)."""
    out: list[str] = []
    current = ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            out.append(current.strip())
            current = ""
    return out
