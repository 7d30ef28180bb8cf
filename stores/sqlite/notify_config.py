"""The notifier's configuration versions and flood-control memory in the embedded database.

Three small tables in the same file as the alerts: `notify_config` (one row per saved version,
the primary key (kind, version) is the compare-and-set), `notify_told` (one row per alert group
told to a recipient, numbered) and `notify_state` (keyed JSON documents: held digests, send
windows).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from soc_core.errors import StoreError
from soc_core.notify_config import ConfigKind, ConfigVersionTaken, NotifyConfigVersion, ToldMark
from stores.coverage_records import iso, parse
from stores.sqlite.tables import SqliteTables

_COLUMNS = "kind, version, text, author, reason, created"


class SqliteNotifyConfigStore(SqliteTables):
    WHAT = "notification configuration"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS notify_config (
      kind TEXT NOT NULL, version INTEGER NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL,
      reason TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (kind, version));
    """

    @staticmethod
    def _read(row: tuple[Any, ...]) -> NotifyConfigVersion:
        kind, version, text, author, reason, created = row
        return NotifyConfigVersion(
            kind=ConfigKind(kind),
            version=version,
            text=text,
            author=author,
            reason=reason,
            created_at=parse(created),
        )

    def current(self, kind: ConfigKind) -> NotifyConfigVersion | None:
        found = self.history(kind, 1)
        return found[0] if found else None

    def get(self, kind: ConfigKind, version: int) -> NotifyConfigVersion | None:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM notify_config WHERE kind = ? AND version = ?", (kind.value, version)
        )
        return self._read(rows[0]) if rows else None

    def history(self, kind: ConfigKind, limit: int) -> list[NotifyConfigVersion]:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM notify_config WHERE kind = ? ORDER BY version DESC LIMIT ?",
            (kind.value, limit),
        )
        return [self._read(r) for r in rows]

    def put(self, version: NotifyConfigVersion) -> None:
        v = version
        with self._lock:
            try:
                self._conn.execute(
                    f"INSERT INTO notify_config ({_COLUMNS}) VALUES (?,?,?,?,?,?)",
                    (v.kind.value, v.version, v.text, v.author, v.reason, iso(v.created_at)),
                )
            except sqlite3.IntegrityError as exc:
                raise ConfigVersionTaken(
                    "this version was saved by someone else first", kind=v.kind.value, version=v.version
                ) from exc
            except sqlite3.Error as exc:
                raise StoreError(f"notification configuration not written: {exc}", kind=v.kind.value) from exc


class SqliteNotifyStateStore(SqliteTables):
    WHAT = "notification state"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS notify_told (
      seq INTEGER PRIMARY KEY, recipient TEXT NOT NULL, grp TEXT NOT NULL, at TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS notify_state (key TEXT PRIMARY KEY, doc TEXT NOT NULL);
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # written after every batch: in the core store's WAL, a commit need not wait for the disk
        # (a power cut may lose the last batches' marks: those groups are told again, never lost)
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def _write(self, what: str, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._lock:
            try:
                with self._conn:  # one transaction: all the rows or none
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise StoreError(f"notification state not written ({what}): {exc}") from exc

    def add_told(self, marks: Sequence[ToldMark]) -> None:
        rows = [(m.seq, m.recipient, m.group, iso(m.at)) for m in marks]
        self._write(
            "told", "INSERT OR REPLACE INTO notify_told (seq, recipient, grp, at) VALUES (?,?,?,?)", rows
        )

    def told(self, limit: int) -> list[ToldMark]:
        rows = self._run(
            "SELECT seq, recipient, grp, at FROM "
            "(SELECT * FROM notify_told ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (limit,),
        )
        return [ToldMark(seq, recipient, group, parse(at)) for seq, recipient, group, at in rows]

    def forget_told(self, below_seq: int) -> None:
        self._write("forget", "DELETE FROM notify_told WHERE seq < ?", [(below_seq,)])

    def put_entries(self, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
        with self._lock:
            try:
                with self._conn:
                    self._conn.execute("BEGIN IMMEDIATE")
                    for key, doc in entries.items():
                        if doc is None:
                            self._conn.execute("DELETE FROM notify_state WHERE key = ?", (key,))
                        else:
                            self._conn.execute(
                                "INSERT OR REPLACE INTO notify_state (key, doc) VALUES (?, ?)",
                                (key, json.dumps(doc, ensure_ascii=False)),
                            )
            except sqlite3.Error as exc:
                raise StoreError(f"notification state not written: {exc}") from exc

    def entries(self) -> dict[str, dict[str, Any]]:
        return {
            key: json.loads(doc) for key, doc in self._run("SELECT key, doc FROM notify_state ORDER BY key")
        }
