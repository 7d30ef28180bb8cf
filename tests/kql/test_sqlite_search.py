"""SQLite's free-text index (FTS5) follows the tables: files from before it, deletes, updates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.kql.text import search_text
from soc_core.store import EventQuery
from stores.sqlite.kql import fts_text
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
            for suffix in ("delete", "update"):
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


def test_a_file_with_the_insert_trigger_loses_it_so_a_row_is_indexed_once(tmp_path: Path) -> None:
    """Files written while an insert trigger kept the index: left in place it would index each new
    row twice (the trigger and `put_events`), and a deleted row's words would outlive it, found
    again by the next row to reuse its rowid."""
    path = tmp_path / "trigger-era.sqlite3"
    store = SqliteStore(path)
    store.setup()
    store._conn.execute(  # the trigger as the files of that time have it
        "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN"
        " INSERT INTO events_fts(rowid, body) VALUES (new.rowid, kql_search_text(new.doc)); END"
    )
    store.close()
    reopened = SqliteStore(path)
    reopened.setup()
    reopened.put_events([make_event(1, message="mimikatz ran")])
    with reopened._tx() as conn:
        conn.execute("DELETE FROM events WHERE id = ?", ("ev-000001",))
    reopened.put_events([make_event(2, message="netsh")])  # takes the freed rowid
    assert found(reopened, "mimikatz") == []
    assert found(reopened, "netsh") == ["ev-000002"]


def _tokens(conn: sqlite3.Connection, text: str) -> list[str]:
    """The terms FTS5 indexes for `text`, in order (a one-row table and its vocabulary)."""
    conn.execute("DELETE FROM probe")
    conn.execute("INSERT INTO probe(rowid, body) VALUES (1, ?)", (text,))
    rows = conn.execute("SELECT term, offset FROM probe_vocab ORDER BY offset").fetchall()
    return [term for term, _ in rows]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
            st.text(max_size=40),
            st.sampled_from(
                ["Đã xóa", "C:\\Windows\\netsh.exe", "a_b-c.d", "ĐĂNG NHẬP", "x\x00y", "ﬁle", "Øre"]
            ),
            st.integers(),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=6,
    )
)
def test_the_index_is_given_the_same_words_as_free_text_searches(values: list[object]) -> None:
    """`fts_text` hands ASCII values to the tokenizer unfolded: FTS5 must cut them into exactly the
    words `search_text` (what Elasticsearch indexes, and what a query is cut into) gives."""
    doc = {"message": values[0] if values else "", "labels": {f"k{i}": v for i, v in enumerate(values)}}
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
        conn.execute("CREATE VIRTUAL TABLE probe_vocab USING fts5vocab(probe, instance)")
        assert _tokens(conn, fts_text(doc)) == _tokens(conn, search_text(doc))
