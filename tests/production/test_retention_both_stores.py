"""The same retention in both modes: SQLite deletes rows, Elasticsearch whole indices, and the same
records are left (a controlled clock; the real local Elasticsearch)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from soc_core.records import DeadLetter
from soc_core.retention import cutoff
from soc_core.store import AlertQuery, AuditEntry, AuditQuery, DeadLetterQuery, EventQuery, Store
from stores.elastic.retention import ElasticRetention
from stores.sqlite.store import SqliteStore
from tests.backends import backend_of
from tests.conftest import make_alert, make_event

NOW = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
DAYS = {"events": 365, "alerts": 730, "deadletters": 90, "audit": 0}


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def seed(store: Store) -> None:
    events = [
        make_event(1, ts=at(2025, 12, 4, 23, 59), message="zebra"),  # its day ended 365 days ago
        make_event(2, ts=at(2025, 12, 5), message="yak"),
        make_event(3, ts=at(2026, 12, 4, 12), message="yak"),
    ]
    store.put_events(events)
    store.put_alerts(
        [
            make_alert("old", make_event(4, ts=at(2024, 11, 30, 23))),  # its month ended 734 days ago
            make_alert("kept", make_event(5, ts=at(2024, 12, 1))),
        ]
    )
    store.put_deadletters(
        [
            DeadLetter(id="d-old", stage="normalize", reason="t", raw="x", at=at(2026, 8, 31, 23)),
            DeadLetter(id="d-kept", stage="normalize", reason="t", raw="x", at=at(2026, 9, 1)),
        ]
    )
    store.append_audit([AuditEntry(id="a-2020", at=at(2020, 1, 1), actor="admin", action="login.success")])
    store.refresh()


def test_cutoffs() -> None:
    assert cutoff("events", 365, NOW) == at(2025, 12, 5)
    assert cutoff("alerts", 730, NOW) == at(2024, 12, 1)
    assert cutoff("deadletters", 90, NOW) == at(2026, 9, 1)
    assert cutoff("events", 1, at(2026, 3, 1, 0, 30)) == at(2026, 2, 28)


def test_the_same_records_are_left_in_both_modes(store: Store) -> None:
    seed(store)
    retention = backend_of(store).retention(DAYS)
    if isinstance(retention, ElasticRetention) and retention.has_ilm():
        pytest.skip("ILM deletes on this cluster, after its own poll interval")
    result = retention.run(NOW)
    store.refresh()
    events = store.search_events(EventQuery(size=100)).items
    assert sorted(e.id for e in events) == ["ev-000002", "ev-000003"]
    assert [a.rule.id for a in store.search_alerts(AlertQuery(size=100)).items] == ["kept"]
    assert [d.id for d in store.list_deadletters(DeadLetterQuery(size=100)).items] == ["d-kept"]
    # free text forgets the deleted event and still finds the kept ones
    assert store.search_events(EventQuery(text="zebra")).items == []
    assert len(store.search_events(EventQuery(text="yak")).items) == 2
    audit = store.search_audit(AuditQuery(size=100)).items
    assert "a-2020" in {e.id for e in audit}  # audit kept forever (0 days)
    removed = {e.details["kind"] for e in audit if e.action == "retention.delete"}
    assert removed == {"events", "alerts", "deadletters"}
    if isinstance(store, SqliteStore):
        assert result.rows == {"events": 1, "alerts": 1, "deadletters": 1}
        fts = store._conn.execute("SELECT count(*) FROM events_fts WHERE events_fts MATCH 'zebra'").fetchone()
        assert fts == (0,)
        # a second run finds nothing and audits nothing more
        assert retention.run(NOW).rows == {"events": 0, "alerts": 0, "deadletters": 0}
        assert len(store.search_audit(AuditQuery(size=100)).items) == len(audit)
