"""Saved views in the embedded database: one small table beside the alerts, in the same file.

Columns are what reads filter and sort on (owner, kind, name); the query string is the view. A save
under an existing name keeps the first `created` and replaces the query (`SavedViewStore.put`).
"""

from __future__ import annotations

import sqlite3

from soc_core.errors import StoreError
from soc_core.saved_views import SavedView, ViewKind
from stores.coverage_records import iso, parse
from stores.sqlite.tables import SqliteTables

_COLUMNS = "id, owner, kind, name, query, created, updated"


class SqliteSavedViewStore(SqliteTables):
    WHAT = "saved view"
    SCHEMA = """
    CREATE TABLE IF NOT EXISTS saved_views (
      id TEXT PRIMARY KEY, owner TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
      query TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS saved_views_owner ON saved_views(owner, kind, name);
    """

    @staticmethod
    def _read(row: tuple[str, ...]) -> SavedView:
        view_id, owner, kind, name, query, created, updated = row
        return SavedView(
            id=view_id,
            owner=owner,
            kind=ViewKind(kind),
            name=name,
            query=query,
            created_at=parse(created),
            updated_at=parse(updated),
        )

    def put(self, view: SavedView) -> bool:
        with self._lock:
            try:
                cur = self._conn.execute(
                    f"INSERT INTO saved_views ({_COLUMNS}) VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                    (
                        view.id,
                        view.owner,
                        view.kind.value,
                        view.name,
                        view.query,
                        iso(view.created_at),
                        iso(view.updated_at),
                    ),
                )
                if cur.rowcount == 1:
                    return True
                self._conn.execute(
                    "UPDATE saved_views SET query = ?, updated = ? WHERE id = ? AND owner = ?",
                    (view.query, iso(view.updated_at), view.id, view.owner),
                )
                return False
            except sqlite3.Error as exc:
                raise StoreError(f"saved view not written: {exc}", id=view.id) from exc

    def list_for(self, owner: str, kind: ViewKind | None = None) -> list[SavedView]:
        where, params = "owner = ?", [owner]
        if kind is not None:
            where, params = where + " AND kind = ?", [owner, kind.value]
        rows = self._run(f"SELECT {_COLUMNS} FROM saved_views WHERE {where} ORDER BY kind, name, id", params)
        return [self._read(r) for r in rows]

    def get(self, owner: str, view_id: str) -> SavedView | None:
        rows = self._run(f"SELECT {_COLUMNS} FROM saved_views WHERE id = ? AND owner = ?", (view_id, owner))
        return self._read(rows[0]) if rows else None

    def delete(self, owner: str, view_id: str) -> bool:
        with self._lock:
            try:
                cur = self._conn.execute(
                    "DELETE FROM saved_views WHERE id = ? AND owner = ?", (view_id, owner)
                )
            except sqlite3.Error as exc:
                raise StoreError(f"saved view not deleted: {exc}", id=view_id) from exc
            return cur.rowcount == 1
