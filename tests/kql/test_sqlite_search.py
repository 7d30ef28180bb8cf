"""SQLite's free-text index (FTS5) follows the tables: files from before it, deletes, updates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from soc_core import kql
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, parse_for
from soc_core.kql.text import search_text
from soc_core.store import AlertSearch, EventQuery
from stores.sqlite.kql import compile_where, fts_text
from stores.sqlite.store import ALERT_TARGET, EVENT_TARGET, FTS_TABLES, SCHEMA, SqliteStore
from tests.conftest import make_alert, make_event


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
        destination={"ip": "203.0.113.9", "port": 443},
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
        # a leading wildcard tests the column's distinct values, then seeks each one's events
        "process.name:*sh.exe": "events_process_name_ts (process_name=?)",
        "destination.port >= 53 and destination.port < 3390": "events_destination_port_ts",
        "event.code:4688 and source.ip:10.0.0.0/8": "events_source_ip_ts (source_ip>? AND source_ip<?)",
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


# -- an unindexed field's value is looked up by its words first (issue 15 scale) --------------------

UNINDEXED = "process.executable"


def _plan(store: SqliteStore, node: kql.Node) -> str:
    where, params = compile_where(node, EVENT_TARGET)
    rows = store._conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM events WHERE {where}", params)
    return " ".join(str(row[-1]) for row in rows)


def test_a_value_or_wildcard_on_an_unindexed_field_asks_the_word_index_first(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    for query in (
        "winlog.event_data.TargetUserName:bob",
        "url.path:/tin-tuc*",
        f"{UNINDEXED}:*\\\\netsh.exe",
    ):
        assert "SCAN events_fts VIRTUAL TABLE" in _plan(store, parse_for(query, EVENT_FIELDS)), query
    # no word known to start one of the value's: every document is read, as before
    assert "events_fts" not in _plan(store, parse_for(f"{UNINDEXED}:*dmin*", EVENT_FIELDS))
    assert "events_fts" not in _plan(store, parse_for("process.pid:4242", EVENT_FIELDS))


_ALPHABET = "aZb0_-./\\ :@đĐãÁ1"


@st.composite
def _value_and_pattern(draw: st.DrawFn) -> tuple[str, tuple[str | kql.Glob, ...]]:
    """A value and a wildcard that matches it: some of its runs replaced by `*`, some chars by `?`."""
    value = draw(st.text(_ALPHABET, min_size=1, max_size=14))
    cuts = sorted(draw(st.sets(st.integers(0, len(value)), max_size=4)))
    parts: list[str | kql.Glob] = []
    last = 0
    for n, cut in enumerate(cuts):
        parts.append(value[last:cut])
        if n % 2 == 0 and cut < len(value) and draw(st.booleans()):
            parts.append(kql.Glob.ONE)
            last = cut + 1
        else:
            parts.append(kql.Glob.ANY)
            last = draw(st.integers(cut, len(value)))
    parts.append(value[last:])
    return value, tuple(p for p in parts if p != "")


@settings(max_examples=150, deadline=None)
@given(_value_and_pattern())
def test_the_word_index_never_hides_a_match(tmp_path_factory: Any, case: Any) -> None:
    """The words asked first are ones every matching document has: a wildcard matching the value,
    and the value itself, find its event whatever its separators, case and diacritics."""
    value, pattern = case
    store = SqliteStore(tmp_path_factory.mktemp("w") / "s.sqlite3")
    store.setup()
    event = make_event(1)
    event.doc["process"] = {"executable": value}
    store.put_events([event, make_event(2)])
    for node in (kql.Wildcard(UNINDEXED, pattern), kql.Match(UNINDEXED, value)):
        assert [e.id for e in store.search_events(EventQuery(kql=node)).items] == ["ev-000001"], node
    store.close()


def test_pages_of_a_range_bounded_by_time_miss_no_event_among_equal_times(tmp_path: Path) -> None:
    """A page is bounded by its last match's time before it sorts (`_page_bound`): with many
    events at the same instants, paging still walks every match once, newest first, then by id."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    events = []
    for n in range(40):
        event = make_event(n, ts=datetime(2025, 7, 1, 8, n % 4, tzinfo=UTC))
        event.doc["destination"] = {"port": 20 + n % 7}
        events.append(event)
    store.put_events(events)
    node = parse_for("destination.port >= 21 and destination.port < 26", EVENT_FIELDS)
    expected = sorted(
        (e for e in events if 21 <= e.doc["destination"]["port"] < 26),
        key=lambda e: (e.timestamp, e.id),
        reverse=True,
    )
    for size in (1, 3, 4, 7, 50):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.search_events(EventQuery(kql=node, size=size, cursor=cursor))
            assert page.total == len(expected)
            seen.extend(e.id for e in page.items)
            if page.cursor is None:
                break
            cursor = page.cursor
        assert seen == [e.id for e in expected], size


def test_created_at_is_compared_by_its_index_whatever_its_spelling(tmp_path: Path) -> None:
    """The queue's poll asks `created_at > since`: answered from the `alerts_created` index, and
    right for every ISO spelling a stored alert may have (`Z` or an offset, a fraction or not)."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    spellings = {
        "a": "2025-07-01T08:00:00Z",
        "b": "2025-07-01T08:00:00.500000Z",
        "c": "2025-07-01T10:00:01+02:00",  # 08:00:01 UTC
        "d": "2025-07-01T07:59:59.998+00:00",  # milliseconds, as Elasticsearch keeps them
    }
    alerts = []
    for key in spellings:
        alert = make_alert(f"rule-{key}", make_event(ord(key)))
        alerts.append(alert)
    store.put_alerts(alerts)
    for alert, spelled in zip(alerts, spellings.values(), strict=True):
        store._conn.execute(
            "UPDATE alerts SET doc = CAST(json_set(CAST(doc AS TEXT), '$.created_at', ?) AS BLOB)"
            " WHERE id = ?",
            (spelled, alert.id),
        )

    def rules(query: str) -> list[str]:
        node = parse_for(query, ALERT_FIELDS)
        found = store.search_alert_queue(AlertSearch(kql=node, size=10)).items
        where, params = compile_where(node, ALERT_TARGET)
        plan = " ".join(
            str(r[-1])
            for r in store._conn.execute(f"EXPLAIN QUERY PLAN SELECT id FROM alerts WHERE {where}", params)
        )
        assert "alerts_created" in plan, plan
        return sorted(a.rule.id for a in found)

    assert rules('created_at > "2025-07-01T08:00:00Z"') == ["rule-b", "rule-c"]
    assert rules('created_at >= "2025-07-01T08:00:00Z"') == ["rule-a", "rule-b", "rule-c"]
    assert rules('created_at < "2025-07-01T08:00:00.5Z"') == ["rule-a", "rule-d"]
    assert rules('not created_at < "2025-07-01T08:00:00.5Z"') == ["rule-b", "rule-c"]
