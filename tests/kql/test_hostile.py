"""Whatever an analyst (or an attacker) types, reading it either gives a tree or a QueryError, and
the tree runs on SQLite as a query over values: never another exception, never changed data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soc_core.errors import QueryError
from soc_core.kql import EVENT_FIELDS, Node, parse_for
from soc_core.store import EventQuery
from stores.elastic.kql import compile_query
from stores.sqlite.store import SqliteStore
from tests.conftest import make_event

PIECES = [
    "host.name",
    "process.pid",
    "source.ip",
    "@timestamp",
    "winlog.event_data.X",
    "user",
    "nope.field",
    ":",
    " : ",
    ">=",
    "<",
    "(",
    ")",
    "{",
    "}",
    " and ",
    " or ",
    " not ",
    " ",
    "*",
    "?",
    '"',
    "\\",
    "'",
    ";",
    "--",
    "Đã xóa",
    "C:\\Windows\\x.exe",
    "10.0.0.0/8",
    "2026-01-01",
    "4624",
    "'; DROP TABLE events; --",
    "$.",
    "%",
    "_",
    "[",
    "\x00",
    "\u202e",
]
QUERIES = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(PIECES), max_size=14).map("".join))


def read(query: str) -> Node | None:
    try:
        return parse_for(query, EVENT_FIELDS)
    except QueryError as exc:
        assert 0 <= exc.offset <= len(query) and exc.line >= 1 and exc.column >= 1
        return None


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(Path(tmp_path_factory.mktemp("hostile")) / "s.sqlite3")
    store.setup()
    store.put_events([make_event(n, message=f"Đã xóa {n}") for n in range(5)])
    yield store
    store.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_any_text_is_a_tree_or_a_query_error_and_runs_as_values(sqlite: SqliteStore, query: str) -> None:
    node = read(query)
    if node is None:
        return
    sqlite.search_events(EventQuery(kql=node, size=5))
    orjson.dumps(compile_query(node, EVENT_FIELDS))
    assert sqlite.search_events(EventQuery(size=10)).total == 5
