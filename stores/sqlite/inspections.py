"""Inspection records in the embedded database: one table beside the events, in the same file."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import date

import orjson

from soc_core.alert import Alert
from soc_core.errors import StoreError
from soc_core.event import Event
from stores.inspection_records import MAX_DOCS, InspectionRecords
from stores.sqlite.tables import SqliteTables


class SqliteInspectionRepository(SqliteTables, InspectionRecords):
    WHAT = "inspection"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS inspection_docs (
      kind TEXT NOT NULL, id TEXT NOT NULL, unit_id TEXT, plan_id TEXT, visit_id TEXT, status TEXT,
      due TEXT, sha256 TEXT, created TEXT, doc BLOB NOT NULL, PRIMARY KEY (kind, id));
    CREATE INDEX IF NOT EXISTS inspection_docs_unit ON inspection_docs(kind, unit_id, created);
    CREATE INDEX IF NOT EXISTS inspection_docs_visit ON inspection_docs(kind, visit_id);
    CREATE INDEX IF NOT EXISTS inspection_docs_due ON inspection_docs(kind, status, due);
    """
    FILTERS = ("unit_id", "plan_id", "visit_id", "status", "sha256")

    def _put(self, kind: str, doc_id: str, keys: dict[str, str | None], doc: bytes, *, create: bool) -> bool:
        verb = "INSERT OR IGNORE" if create else "INSERT OR REPLACE"
        with self._lock:
            try:
                cur = self._conn.execute(
                    f"{verb} INTO inspection_docs (kind, id, unit_id, plan_id, visit_id, status, due, sha256,"
                    " created, doc) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        kind,
                        doc_id,
                        keys["unit_id"],
                        keys["plan_id"],
                        keys["visit_id"],
                        keys["status"],
                        keys["due"],
                        keys["sha256"],
                        keys["created"],
                        doc,
                    ),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"inspection write failed: {exc}", kind=kind, id=doc_id) from exc
            return cur.rowcount > 0

    def _get(self, kind: str, doc_id: str) -> bytes | None:
        rows = self._run("SELECT doc FROM inspection_docs WHERE kind = ? AND id = ?", (kind, doc_id))
        return bytes(rows[0][0]) if rows else None

    def _find(
        self,
        kind: str,
        equals: dict[str, str],
        *,
        status: Sequence[str] = (),
        due_before: date | None = None,
        newest_first: bool = False,
        limit: int = MAX_DOCS,
    ) -> list[bytes]:
        where, params = ["kind = ?"], [kind]
        for key, value in equals.items():
            if key not in self.FILTERS:
                raise StoreError(f"unknown inspection filter {key!r}")
            where.append(f"{key} = ?")
            params.append(value)
        if status:
            where.append(f"status IN ({','.join('?' * len(status))})")
            params.extend(status)
        if due_before is not None:
            where.append("due <= ?")
            params.append(due_before.isoformat())
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT doc FROM inspection_docs WHERE {' AND '.join(where)}"
            f" ORDER BY created {order}, id {order} LIMIT {int(limit)}"
        )
        return [bytes(r[0]) for r in self._run(sql, params)]

    def evidence_events(self, *, unit_id: str, file_id: str, limit: int = 100) -> list[Event]:
        rows = self._run(
            "SELECT doc FROM events WHERE evidence = 1 AND unit_id = ?"
            " AND json_extract(CAST(doc AS TEXT), '$.soc.evidence.file_id') = ? ORDER BY ts, id LIMIT ?",
            (unit_id, file_id, limit),
        )
        return [Event.from_doc(orjson.loads(r[0])) for r in rows]

    def evidence_alerts(self, *, unit_id: str, limit: int = 20_000) -> list[Alert]:
        rows = self._run(
            "SELECT doc FROM alerts WHERE unit_id = ?"
            " AND json_extract(CAST(doc AS TEXT), '$.soc.evidence') IS NOT NULL ORDER BY ts, id LIMIT ?",
            (unit_id, limit),
        )
        return [Alert.model_validate(orjson.loads(r[0])) for r in rows]
