"""SQLite's free-text index (FTS5) follows the tables: files from before it, deletes, updates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.kql.text import search_text
from soc_core.store import EventQuery
from stores.sqlite.kql import compile_where, fts_text
from stores.sqlite.store import EVENT_TARGET, FTS_TABLES, SCHEMA, SqliteStore
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


def test_the_common_fields_are_read_from_their_indexes_in_an_older_file_too(tmp_path: Path) -> None:
    """A file from before the explorer's columns gains them at setup, and a filter on each field
    is answered by its index (not by reading every document), with the same events."""
    path = tmp_path / "older.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA)  # the events table as older files have it
    store = SqliteStore(path)
    store.setup()
    first = make_event(
        1,
        unit="so-y-te",
        user={"name": "bob"},
        destination={"ip": "203.0.113.9"},
        process={"name": "netsh.exe"},
        event={"id": "ev-000001", "code": "4688", "action": "process-started"},
    )
    first.doc["source"] = {"ip": "10.1.2.3"}  # make_event's `source` is the log source's id
    first.doc["soc"]["system"] = {"id": "portal"}
    first._soc = None
    store.put_events([first, make_event(2)])
    queries = {
        "user.name:bob": "events_user_name_ts",
        "source.ip:10.1.2.3": "events_source_ip_ts",
        "source.ip:10.1.0.0/16": "events_source_ip_ts",
        "destination.ip:203.0.113.9": "events_destination_ip_ts",
        "event.code:4688": "events_event_code_ts",
        "event.action:process-started": "events_event_action_ts",
        "process.name:netsh*": "events_process_name_ts",
        "soc.unit.id:so-y-te": "events_unit",
        "soc.system.id:portal": "events_system_id_ts",
    }
    for query, index in queries.items():
        assert found(store, query) == ["ev-000001"], query
        where, params = compile_where(parse_for(query, EVENT_FIELDS), EVENT_TARGET)
        plan = " ".join(
            str(row[-1])
            for row in store._conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where}", params)
        )
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, (query, plan)
