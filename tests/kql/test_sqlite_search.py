"""SQLite's free-text index (FTS5) follows the tables: files from before it, deletes, updates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.store import EventQuery
from stores.sqlite.store import FTS_TABLES, SqliteStore
from tests.conftest import make_event


def found(store: SqliteStore, query: str) -> list[str]:
    return [e.id for e in store.search_events(EventQuery(kql=parse_for(query, EVENT_FIELDS))).items]


def test_a_file_from_before_the_index_gets_its_rows_indexed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    store = SqliteStore(path)
    store.setup()
    store.put_events([make_event(1, message="Đã xóa nhật ký"), make_event(2)])
    store.close()
    with sqlite3.connect(path) as conn:  # what a file written before issue 15 looks like
        for table in FTS_TABLES:
            for suffix in ("insert", "delete", "update"):
                conn.execute(f"DROP TRIGGER {table}_fts_{suffix}")
            conn.execute(f"DROP TABLE {table}_fts")
    reopened = SqliteStore(path)
    reopened.setup()
    assert found(reopened, "da xoa") == ["ev-000001"]
    reopened.setup()  # a second start does not index the rows twice
    assert reopened.search_events(EventQuery(kql=parse_for("event", EVENT_FIELDS))).total == 2


def test_deleted_and_changed_rows_leave_the_index(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    store.put_events([make_event(1, message="mimikatz ran"), make_event(2, message="mimikatz again")])
    with store._tx() as conn:  # the store's own connection has the function the triggers call
        conn.execute("DELETE FROM events WHERE id = ?", ("ev-000002",))
        conn.execute(
            "UPDATE events SET doc = CAST(json_set(CAST(doc AS TEXT), '$.message', 'netsh') AS BLOB)"
            " WHERE id = ?",
            ("ev-000001",),
        )
    assert found(store, "mimikatz") == []
    assert found(store, "netsh") == ["ev-000001"]
