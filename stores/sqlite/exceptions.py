"""Analysts' exceptions in the embedded database: one table beside the alerts, in the same file.

The document (with its Sigma filter text) is kept whole; the columns are what queries filter and
sort on, a version for optimistic updates, and the suppressed counts, which the detect stage adds
to in place (`suppressed = suppressed + ?`) so that a revoke and a count never overwrite each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime

import orjson

from soc_core.errors import StoreError
from soc_core.exceptions import AnalystException
from stores.coverage_records import iso, parse
from stores.sqlite.tables import SqliteTables

_COLUMNS = "doc, version, suppressed, last_suppressed"


class SqliteExceptionRepository(SqliteTables):
    WHAT = "exception"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS exceptions (
      id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL,
      revoked TEXT, version INTEGER NOT NULL, suppressed INTEGER NOT NULL DEFAULT 0,
      last_suppressed TEXT, doc BLOB NOT NULL);
    CREATE INDEX IF NOT EXISTS exceptions_live ON exceptions(revoked, expires);
    CREATE INDEX IF NOT EXISTS exceptions_rule ON exceptions(rule_id, created);
    """

    @staticmethod
    def _read(row: tuple[bytes, int, int, str | None]) -> AnalystException:
        doc, _, suppressed, last = row
        exception = AnalystException.model_validate(orjson.loads(doc))
        return exception.model_copy(
            update={"suppressed": int(suppressed), "last_suppressed_at": parse(last) if last else None}
        )

    @staticmethod
    def _doc(exception: AnalystException) -> bytes:
        # counts live in their columns only: the document never carries a stale copy
        return orjson.dumps(
            exception.model_copy(update={"suppressed": 0, "last_suppressed_at": None}).to_doc()
        )

    def create(self, exception: AnalystException) -> None:
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO exceptions (id, rule_id, created, expires, revoked, version, doc)"
                    " VALUES (?,?,?,?,?,1,?)",
                    (
                        exception.id,
                        exception.rule_id,
                        iso(exception.created_at),
                        iso(exception.expires_at),
                        iso(exception.revoked_at) if exception.revoked_at else None,
                        self._doc(exception),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError("exception already exists", id=exception.id) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"exception write failed: {exc}", id=exception.id) from exc

    def get_versioned(self, exception_id: str) -> tuple[AnalystException, str] | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM exceptions WHERE id = ?", (exception_id,))
        if not rows:
            return None
        return self._read(rows[0]), str(rows[0][1])

    def update(self, exception: AnalystException, *, version: str) -> bool:
        with self._lock:
            try:
                cur = self._conn.execute(
                    "UPDATE exceptions SET expires = ?, revoked = ?, version = version + 1, doc = ?"
                    " WHERE id = ? AND version = ?",
                    (
                        iso(exception.expires_at),
                        iso(exception.revoked_at) if exception.revoked_at else None,
                        self._doc(exception),
                        exception.id,
                        int(version),
                    ),
                )
            except (sqlite3.Error, ValueError) as exc:
                raise StoreError(f"exception update failed: {exc}", id=exception.id) from exc
            return cur.rowcount == 1

    def list_all(self, *, rule_id: str | None = None, limit: int = 10_000) -> list[AnalystException]:
        where, params = ("WHERE rule_id = ?", [rule_id]) if rule_id else ("", [])
        rows = self._run(
            f"SELECT {_COLUMNS} FROM exceptions {where} ORDER BY created DESC, id DESC LIMIT {int(limit)}",
            params,
        )
        return [self._read(r) for r in rows]

    def active(self, now: datetime, *, limit: int = 10_000) -> list[AnalystException]:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM exceptions WHERE revoked IS NULL AND expires > ?"
            f" ORDER BY created, id LIMIT {int(limit)}",
            (iso(now),),
        )
        return [self._read(r) for r in rows]

    def add_suppressed(self, counts: Mapping[str, int], *, at: datetime) -> None:
        if not counts:
            return
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "UPDATE exceptions SET suppressed = suppressed + ?,"
                    " last_suppressed = max(coalesce(last_suppressed, ''), ?) WHERE id = ?",
                    [(int(n), iso(at), exception_id) for exception_id, n in counts.items() if n],
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StoreError(f"exception counts not written: {exc}") from exc
