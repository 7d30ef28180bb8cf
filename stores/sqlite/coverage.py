"""Coverage history in the embedded database: snapshots and gaps, in the same file as the events."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import orjson

from soc_core.coverage import CoverageSnapshot, Gap
from soc_core.errors import StoreError
from stores.coverage_records import (
    ANTIMALWARE_DATASET_PREFIX,
    ANTIMALWARE_MODULES,
    figure_of,
    iso,
    parse,
    snapshot_record,
)
from stores.sqlite.tables import SqliteTables


class SqliteCoverageRepository(SqliteTables):
    WHAT = "coverage"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS coverage_snapshots (at TEXT PRIMARY KEY, doc BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS coverage_gaps (
      kind TEXT NOT NULL, subject_id TEXT NOT NULL, start TEXT NOT NULL, end TEXT, reason TEXT NOT NULL,
      PRIMARY KEY (kind, subject_id, start));
    CREATE INDEX IF NOT EXISTS coverage_gaps_open ON coverage_gaps(end);
    CREATE INDEX IF NOT EXISTS events_ingested ON events(ingested);
    """

    def save_snapshot(self, snapshot: CoverageSnapshot) -> None:
        record = snapshot_record(snapshot)
        self._run(
            "INSERT OR REPLACE INTO coverage_snapshots (at, doc) VALUES (?, ?)",
            (iso(snapshot.at), orjson.dumps(record)),
        )

    def history(
        self, scope: str, unit_id: str | None, start: datetime, end: datetime, max_points: int = 500
    ) -> list[tuple[datetime, int, int]]:
        rows = self._run(
            "SELECT at, doc FROM coverage_snapshots WHERE at >= ? AND at < ? ORDER BY at",
            (iso(start), iso(end)),
        )
        stride = max(1, len(rows) // max_points + (1 if len(rows) % max_points else 0))
        points = []
        for i, (at, doc) in enumerate(rows):
            if i % stride and i != len(rows) - 1:
                continue
            fig = figure_of(orjson.loads(doc), scope, unit_id)
            if fig is not None:
                points.append((parse(at), fig[0], fig[1]))
        return points

    def open_gaps(self) -> dict[tuple[str, str], Gap]:
        rows = self._run("SELECT kind, subject_id, start, reason FROM coverage_gaps WHERE end IS NULL")
        return {
            (k, s): Gap(kind=k, subject_id=s, start=parse(st), end=None, reason=r) for k, s, st, r in rows
        }

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                for g in opened:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO coverage_gaps (kind, subject_id, start, end, reason)"
                        " VALUES (?,?,?,?,?)",
                        (g.kind, g.subject_id, iso(g.start), None, g.reason),
                    )
                for g in closed:
                    assert g.end is not None
                    self._conn.execute(
                        "UPDATE coverage_gaps SET end = ? WHERE kind = ? AND subject_id = ? AND start = ?",
                        (iso(g.end), g.kind, g.subject_id, iso(g.start)),
                    )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"coverage gap write failed: {exc}") from exc

    def gaps(
        self,
        *,
        kind: str | None = None,
        subject_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Gap]:
        where, params = [], []
        if kind:
            where.append("kind = ?")
            params.append(kind)
        if subject_id:
            where.append("subject_id = ?")
            params.append(subject_id)
        if start:
            where.append("(end IS NULL OR end >= ?)")
            params.append(iso(start))
        if end:
            where.append("start < ?")
            params.append(iso(end))
        sql = "SELECT kind, subject_id, start, end, reason FROM coverage_gaps"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY start"
        return [
            Gap(kind=k, subject_id=s, start=parse(st), end=parse(en) if en else None, reason=r)
            for k, s, st, en, r in self._run(sql, params)
        ]

    def first_ingest_after(self, source_id: str, after: datetime) -> datetime | None:
        rows = self._run(
            "SELECT MIN(ingested) FROM events WHERE source_id = ? AND ingested > ? AND evidence = 0",
            (source_id, iso(after)),
        )
        return parse(rows[0][0]) if rows and rows[0][0] else None

    def antimalware_last_report(self, since: datetime) -> dict[str, datetime]:
        marks = ",".join("?" * len(ANTIMALWARE_MODULES))
        rows = self._run(
            "SELECT lower(host_name), MAX(ingested) FROM events WHERE evidence = 0 AND ingested >= ?"
            f" AND host_name IS NOT NULL AND (json_extract(doc, '$.event.module') IN ({marks})"
            " OR json_extract(doc, '$.event.dataset') LIKE ?) GROUP BY lower(host_name)",
            (iso(since), *ANTIMALWARE_MODULES, ANTIMALWARE_DATASET_PREFIX + "%"),
        )
        return {h: parse(t) for h, t in rows if t}
