"""The embedded store's search time limit (issue 15): a search past `SOC_QUERY_TIMEOUT_S` is
stopped and answered as a 400 problem that says what to do, never a hang or a 500; the pipeline's
writes and the searches within the limit are untouched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from soc_core.errors import QueryTimeout
from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.settings import Mode, Settings
from soc_core.store import EventQuery
from socpipe.app import create_app
from socpipe.runtime import build_backend
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.conftest import make_event
from tests.problems import problem

START, END = datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 7, 4, tzinfo=UTC)
# an unindexed field: every event's document is read, thousands of SQLite steps per event
SLOW = parse_for("winlog.event_data.TargetUserName:user1*", EVENT_FIELDS)


def _store(path: Path, timeout_s: float | None) -> SqliteStore:
    store = SqliteStore(path, query_timeout_s=timeout_s)
    store.setup()
    store.put_events([make_event(n) for n in range(3000)])
    return store


@pytest.fixture
def expired(tmp_path: Path) -> Iterator[SqliteStore]:
    """A store whose searches are past their limit at SQLite's first look at the clock."""
    store = _store(tmp_path / "s.sqlite3", 1e-9)
    yield store
    store.close()


def test_a_search_past_the_limit_is_stopped_with_a_typed_error(expired: SqliteStore) -> None:
    query = EventQuery(start=START, end=END, kql=SLOW, size=50)
    with pytest.raises(QueryTimeout) as caught:
        expired.search_events(query)
    assert "narrow the time range or the query" in str(caught.value)
    with pytest.raises(QueryTimeout):
        expired.event_histogram(query, 3600)
    # the limit is the search's: writes and plain reads go on, on the same connection
    assert expired.put_events([make_event(5000)]).created == 1
    assert expired.get_event("ev-005000") is not None


def test_without_a_limit_the_same_search_answers(tmp_path: Path) -> None:
    store = _store(tmp_path / "s.sqlite3", None)
    page = store.search_events(EventQuery(start=START, end=END, kql=SLOW, size=500))
    assert page.total == 1111  # user1, user10-19, user100-199, user1000-1999
    store.close()


def test_the_api_answers_a_400_problem(expired: SqliteStore) -> None:
    app = create_app(app_context(expired, environment="test"))
    with TestClient(app, base_url="https://testserver") as client:
        login(client, expired, role=Role.VIEWER)
        resp = client.get(
            "/api/v1/events",
            params={"q": "winlog.event_data.TargetUserName:user1*", "start": START.isoformat()},
        )
        body = problem(resp, 400)
        assert "narrow the time range or the query" in body["detail"]
        # the store is usable again for the next request
        assert client.get("/health").status_code == 200


def test_the_setting_reaches_the_embedded_store(tmp_path: Path) -> None:
    settings = Settings(mode=Mode.EMBEDDED, data_dir=tmp_path, query_timeout_s=2.5)
    backend = build_backend(settings)
    store = backend.store
    assert isinstance(store, SqliteStore) and store.query_timeout_s == 2.5
    store.close()
