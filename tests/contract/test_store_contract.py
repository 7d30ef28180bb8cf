"""One contract, two stores: SQLite (embedded) and Elasticsearch (distributed) behave the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.records import DeadLetter
from soc_core.registry import InformationSystem, LogSource, Registry, Unit, token_hash
from soc_core.store import AlertQuery, DeadLetterQuery, EventQuery, Store
from tests.conftest import make_event


def test_events_are_written_once_and_read_back(store: Store) -> None:
    events = [make_event(n) for n in range(5)]
    first = store.put_events(events)
    again = store.put_events(events[:3])
    store.refresh()
    assert (first.created, first.duplicates, first.failed) == (5, 0, [])
    assert (again.created, again.duplicates) == (0, 3)
    page = store.search_events(EventQuery(size=10))
    assert page.total == 5
    assert [e.id for e in page.items] == [f"ev-{n:06d}" for n in (4, 3, 2, 1, 0)]  # newest first
    got = store.get_event("ev-000002")
    assert got is not None and got.winlog == {
        "channel": "Security",
        "event_data": {"TargetUserName": "user2"},
    }
    assert store.get_event("missing") is None


def test_event_paging_by_cursor_visits_every_event_once(store: Store) -> None:
    store.put_events([make_event(n) for n in range(23)])
    store.refresh()
    seen: list[str] = []
    cursor = None
    while True:
        page = store.search_events(EventQuery(size=10, cursor=cursor))
        seen.extend(e.id for e in page.items)
        cursor = page.cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"ev-{n:06d}" for n in range(23))
    assert len(seen) == 23


def test_event_filters(store: Store) -> None:
    base = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    store.put_events(
        [
            make_event(1, source="a", unit="u1"),
            make_event(2, source="b", unit="u2", host="srv9"),
            make_event(3, source="a", unit="u1"),
        ]
    )
    store.refresh()
    assert store.search_events(EventQuery(source_id="a")).total == 2
    assert store.search_events(EventQuery(unit_id="u2")).total == 1
    assert store.search_events(EventQuery(host_name="srv9")).items[0].id == "ev-000002"
    window = store.search_events(
        EventQuery(start=base + timedelta(minutes=2), end=base + timedelta(minutes=3))
    )
    assert [e.id for e in window.items] == ["ev-000002"]
    assert store.search_events(EventQuery(text="number 3")).total >= 1


def test_events_from_different_days_land_and_search_together(store: Store) -> None:
    """Indices are chosen by event time; a query spans them."""
    days = [datetime(2025, 7, d, 12, 0, tzinfo=UTC) for d in (1, 15, 31)]
    store.put_events([make_event(n, ts=ts) for n, ts in enumerate(days)])
    store.refresh()
    assert store.search_events(EventQuery()).total == 3


def _alert(n: int, severity: Severity = Severity.HIGH) -> Alert:
    ev = make_event(n)
    return Alert.model_validate(
        {
            "id": alert_id("rule-1", ev.id),
            "@timestamp": ev.timestamp,
            "severity": severity,
            "rule": RuleRef(id="rule-1", name="Firewall disabled", author="socpipe"),
            "soc": ev.soc,
            "host_name": "ws01",
            "event_ids": [ev.id],
            "event": ev.to_doc(),
        }
    )


def test_alerts_are_idempotent_and_filterable(store: Store) -> None:
    alerts = [_alert(1), _alert(2, Severity.LOW), _alert(3)]
    assert store.put_alerts(alerts).created == 3
    assert store.put_alerts(alerts).duplicates == 3
    store.refresh()
    assert store.search_alerts(AlertQuery()).total == 3
    high = store.search_alerts(AlertQuery(severity="high"))
    assert high.total == 2
    got = store.get_alert(alerts[1].id)
    assert got is not None and got.rule.author == "socpipe" and got.event["event"]["id"] == "ev-000002"


def test_deadletters_are_kept_with_reason_and_filterable(store: Store) -> None:
    letters = [
        DeadLetter(
            id=f"dl-{n}",
            source_id="src-a" if n % 2 else "src-b",
            stage="normalize",
            format_tried="cef",
            reason=f"bad header {n}",
            raw=f"CEF:garbage {n}",
        )
        for n in range(4)
    ]
    assert store.put_deadletters(letters).created == 4
    assert store.put_deadletters(letters[:1]).duplicates == 1
    store.refresh()
    page = store.list_deadletters(DeadLetterQuery(source_id="src-a"))
    assert page.total == 2
    assert {d.reason for d in page.items} == {"bad header 1", "bad header 3"}
    assert page.items[0].raw.startswith("CEF:garbage")


def test_registry_round_trip_keeps_token_hash_only(store: Store) -> None:
    registry = Registry(
        units=[Unit(id="so-y-te", name="Sở Y tế")],
        systems=[InformationSystem(id="yte-lan", name="LAN", unit_id="so-y-te", level=2)],
        sources=[
            LogSource.model_validate(
                {"id": "yte-win", "name": "Windows", "system_id": "yte-lan", "token": "s3cret-token"}
            )
        ],
    )
    store.save_registry(registry)
    store.save_registry(registry)  # upsert, not duplicate
    loaded = store.load_registry()
    assert [u.name for u in loaded.units] == ["Sở Y tế"]
    assert loaded.sources[0].token is None
    assert loaded.sources[0].token_sha256 == token_hash("s3cret-token")
    assert "s3cret-token" not in loaded.model_dump_json()


def test_source_activity_counts_live_events_not_evidence(store: Store) -> None:
    live = make_event(9, source="a").to_doc()
    evidence = Event.from_doc({**live, "soc": {**live["soc"], "evidence": {"visit": "v1"}}})
    store.put_events(
        [make_event(1, source="a"), make_event(2, source="a"), make_event(3, source="b"), evidence]
    )
    store.refresh()
    activity = store.source_activity()
    assert activity["a"].events == 2
    assert activity["b"].events == 1
    assert activity["a"].last_ingested == datetime(2025, 7, 1, 8, 2, tzinfo=UTC)


def test_bad_cursor_is_a_clear_error(store: Store) -> None:
    with pytest.raises((StoreError, ValueError)):
        store.search_events(EventQuery(cursor="not-a-cursor"))


def test_registry_entries_can_be_deleted(store: Store) -> None:
    store.save_registry(Registry(units=[Unit(id="a", name="A"), Unit(id="b", name="B")]))
    assert store.delete_registry_entry("units", "a") is True
    assert store.delete_registry_entry("units", "a") is False
    assert [u.id for u in store.load_registry().units] == ["b"]


def test_repeats_fold_into_their_alert_idempotently(store: Store) -> None:
    from soc_core.alert import AlertRepeat

    alert = _alert(1)
    store.put_alerts([alert])
    later = alert.timestamp + timedelta(minutes=3)
    first = alert.timestamp
    repeats = [
        AlertRepeat(
            alert_id=alert.id,
            first_seen=first,
            count=2,
            last_seen=later - timedelta(minutes=1),
            event_id="ev-x",
        ),
        AlertRepeat(alert_id=alert.id, first_seen=first, count=3, last_seen=later, event_id="ev-y"),
    ]
    assert store.record_repeats(repeats) == 2
    assert store.record_repeats(repeats) == 0  # a replay changes nothing
    store.refresh()
    got = store.get_alert(alert.id)
    assert got is not None
    assert (got.count, got.last_seen, got.event_ids) == (3, later, ["ev-000001", "ev-x", "ev-y"])
    with pytest.raises(StoreError):
        store.record_repeats([AlertRepeat(alert_id="missing", first_seen=first, count=2, last_seen=later)])


def test_a_read_without_the_total_pages_the_same_and_counts_nothing(store: Store) -> None:
    """The explorer's sample and an export's later chunks skip counting the matches (issue 15)."""
    store.put_events([make_event(n) for n in range(7)])
    store.refresh()
    first = store.search_events(EventQuery(size=5, count_total=False))
    assert [e.id for e in first.items] == [f"ev-{n:06d}" for n in (6, 5, 4, 3, 2)]
    assert first.total == 5  # only what was read
    rest = store.search_events(EventQuery(size=5, cursor=first.cursor, count_total=False))
    assert [e.id for e in rest.items] == ["ev-000001", "ev-000000"] and rest.cursor is None
    assert store.search_events(EventQuery(size=5)).total == 7
