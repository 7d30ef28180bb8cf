"""Triage, incidents, identity and audit: SQLite and Elasticsearch behave the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc_core.alert import (
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    RuleRef,
    Severity,
    Threat,
    Triage,
    TriageChange,
    alert_id,
)
from soc_core.errors import StoreError
from soc_core.event import Soc, SocSystem, SocUnit
from soc_core.store import (
    AlertSearch,
    ApiTokenRecord,
    AuditEntry,
    AuditQuery,
    IncidentQuery,
    SessionRecord,
    Store,
    UserRecord,
)

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)


def triage_alert(
    n: int,
    *,
    rule: str = "r-brute",
    rule_name: str = "Brute force on portal admin",
    severity: Severity = Severity.HIGH,
    unit: str = "so-khcn",
    system: str = "portal",
    host: str = "web01",
    user: str | None = "admin",
    checklist: list[str] | None = None,
    technique: str | None = "T1110",
    minutes: int | None = None,
    **extra: Any,
) -> Alert:
    """An alert with every field the queue filters on."""
    ev = f"ev-{n:06d}"
    return Alert.model_validate(
        {
            "id": alert_id(rule, ev),
            "@timestamp": (T0 + timedelta(minutes=n if minutes is None else minutes)).isoformat(),
            "severity": severity.value,
            "rule": RuleRef(
                id=rule,
                name=rule_name,
                author="SOC tỉnh",
                description="Many failed logins",
                tags=["attack.t1110"],
            ),
            "threat": [Threat(technique={"id": technique, "name": "Brute Force"})] if technique else [],
            "checklist": checklist if checklist is not None else ["VN-11"],
            "soc": Soc(unit=SocUnit(id=unit, name=unit.upper()), system=SocSystem(id=system, name=system)),
            "host_name": host,
            "user_name": user,
            "event_ids": [ev],
            "event": {"@timestamp": T0.isoformat(), "message": f"failed login {n}"},
            **extra,
        }
    )


@pytest.fixture
def queue(store: Store) -> Store:
    store.put_alerts(
        [
            triage_alert(1),
            triage_alert(2, severity=Severity.CRITICAL, host="web02", user="root"),
            triage_alert(3, rule="r-usb", rule_name="USB mass storage", checklist=["VN-10"], technique=None),
            triage_alert(4, unit="ubnd-xa", system="mot-cua", host="kiosk1", severity=Severity.LOW),
            triage_alert(
                5, rule="r-fw", rule_name="Firewall disabled", checklist=["VN-02"], technique="T1562"
            ),
        ]
    )
    store.refresh()
    return store


def _ids(page_items: list[Alert]) -> list[int]:
    return [int(a.event_ids[0][3:]) for a in page_items]


def test_queue_filters(queue: Store) -> None:
    assert _ids(queue.search_alert_queue(AlertSearch()).items) == [5, 4, 3, 2, 1]
    assert _ids(queue.search_alert_queue(AlertSearch(ascending=True)).items) == [1, 2, 3, 4, 5]
    assert _ids(queue.search_alert_queue(AlertSearch(severity=["critical", "low"])).items) == [4, 2]
    assert _ids(queue.search_alert_queue(AlertSearch(rule_id="r-usb")).items) == [3]
    assert _ids(queue.search_alert_queue(AlertSearch(unit_id="ubnd-xa")).items) == [4]
    assert _ids(queue.search_alert_queue(AlertSearch(system_id="mot-cua")).items) == [4]
    assert _ids(queue.search_alert_queue(AlertSearch(host_name="web02")).items) == [2]
    assert _ids(queue.search_alert_queue(AlertSearch(user_name="root")).items) == [2]
    assert _ids(queue.search_alert_queue(AlertSearch(checklist="VN-02")).items) == [5]
    assert _ids(queue.search_alert_queue(AlertSearch(technique="T1562")).items) == [5]
    assert _ids(queue.search_alert_queue(AlertSearch(status=["new"])).items) == [5, 4, 3, 2, 1]
    assert _ids(queue.search_alert_queue(AlertSearch(text="usb")).items) == [3]
    window = AlertSearch(start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=4))
    assert _ids(queue.search_alert_queue(window).items) == [3, 2]
    some = [triage_alert(1).id, triage_alert(5, rule="r-fw").id]
    assert _ids(queue.search_alert_queue(AlertSearch(ids=some)).items) == [5, 1]
    assert queue.search_alert_queue(AlertSearch(ids=[])).total == 0


def test_queue_pages_by_cursor_both_directions(store: Store) -> None:
    store.put_alerts([triage_alert(n, minutes=n // 3) for n in range(23)])  # ties on time
    store.refresh()
    for ascending in (False, True):
        seen: list[str] = []
        cursor = None
        while True:
            page = store.search_alert_queue(AlertSearch(size=5, cursor=cursor, ascending=ascending))
            assert page.total == 23
            seen.extend(a.id for a in page.items)
            cursor = page.cursor
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 23
        times = [store.get_alert(i).timestamp for i in seen]  # type: ignore[union-attr]
        assert times == sorted(times, reverse=not ascending)


def test_facets_count_each_value(queue: Store) -> None:
    facets = queue.alert_facets(AlertSearch(), ["severity", "rule", "checklist", "technique", "unit", "host"])
    sev = {b.value: b.count for b in facets["severity"]}
    assert sev == {"high": 3, "critical": 1, "low": 1}
    rules = {b.value: (b.count, b.label) for b in facets["rule"]}
    assert rules["r-brute"] == (3, "Brute force on portal admin")
    assert rules["r-usb"] == (1, "USB mass storage")
    assert {b.value: b.count for b in facets["checklist"]} == {"VN-11": 3, "VN-10": 1, "VN-02": 1}
    assert {b.value: b.count for b in facets["technique"]} == {"T1110": 3, "T1562": 1}
    assert facets["unit"][0].value == "so-khcn" and facets["unit"][0].count == 4
    filtered = queue.alert_facets(AlertSearch(severity=["high"]), ["rule"])
    assert {b.value: b.count for b in filtered["rule"]} == {"r-brute": 1, "r-usb": 1, "r-fw": 1}
    with pytest.raises(StoreError):
        queue.alert_facets(AlertSearch(), ["nope"])


def test_triage_update_is_optimistic_and_filterable(queue: Store) -> None:
    target = triage_alert(1).id
    got = queue.get_alert_versioned(target)
    assert got is not None
    alert, version = got
    now = datetime(2025, 7, 2, tzinfo=UTC)
    new = alert.triage.model_copy(
        update={
            "status": AlertStatus.ACKNOWLEDGED,
            "assignee": "an.nguyen",
            "acknowledged_at": now,
            "history": [
                TriageChange(at=now, actor="an.nguyen", field="status", old="new", new="acknowledged")
            ],
        }
    )
    assert queue.update_alert_triage(target, new, version=version)
    assert not queue.update_alert_triage(target, Triage(), version=version)  # stale version loses
    queue.refresh()
    stored = queue.get_alert(target)
    assert stored is not None and stored.triage.status is AlertStatus.ACKNOWLEDGED
    assert stored.triage.history[0].actor == "an.nguyen"
    assert _ids(queue.search_alert_queue(AlertSearch(status=["acknowledged"])).items) == [1]
    assert _ids(queue.search_alert_queue(AlertSearch(assignee="an.nguyen")).items) == [1]
    assert {b.value: b.count for b in queue.alert_facets(AlertSearch(), ["status"])["status"]} == {
        "new": 4,
        "acknowledged": 1,
    }
    # removing a value really removes it (no merge of the old document)
    alert2, version2 = queue.get_alert_versioned(target)  # type: ignore[misc]
    assert queue.update_alert_triage(
        target, alert2.triage.model_copy(update={"assignee": None}), version=version2
    )
    queue.refresh()
    assert queue.get_alert(target).triage.assignee is None  # type: ignore[union-attr]
    assert queue.get_alert_versioned("missing") is None


def _incident(n: int, **kw: Any) -> Incident:
    at = T0 + timedelta(hours=n)
    base: dict[str, Any] = {
        "id": f"inc-{n}",
        "title": f"Brute force wave {n}",
        "created_at": at,
        "created_by": "an.nguyen",
        "updated_at": at,
        "detected_at": at,
        "unit_ids": ["so-khcn"],
    }
    base.update(kw)
    return Incident.model_validate(base)


def test_incidents_create_update_search(store: Store) -> None:
    store.create_incident(_incident(1, severity="high"))
    store.create_incident(_incident(2, unit_ids=["ubnd-xa"], owner="binh"))
    store.create_incident(_incident(3, status="resolved"))
    with pytest.raises(StoreError):
        store.create_incident(_incident(1))
    store.refresh()
    got = store.get_incident_versioned("inc-1")
    assert got is not None
    inc, version = got
    changed = inc.model_copy(update={"status": IncidentStatus.IN_PROGRESS, "owner": "an.nguyen"})
    assert store.update_incident(changed, version=version)
    assert not store.update_incident(inc, version=version)
    store.refresh()
    assert [i.id for i in store.search_incidents(IncidentQuery()).items] == ["inc-3", "inc-2", "inc-1"]
    assert [i.id for i in store.search_incidents(IncidentQuery(status=["in_progress"])).items] == ["inc-1"]
    assert [i.id for i in store.search_incidents(IncidentQuery(unit_id="ubnd-xa")).items] == ["inc-2"]
    assert [i.id for i in store.search_incidents(IncidentQuery(owner="binh")).items] == ["inc-2"]
    assert [i.id for i in store.search_incidents(IncidentQuery(severity=["high"])).items] == ["inc-1"]
    page = store.search_incidents(IncidentQuery(size=2))
    rest = store.search_incidents(IncidentQuery(size=2, cursor=page.cursor))
    assert [i.id for i in page.items + rest.items] == ["inc-3", "inc-2", "inc-1"] and page.total == 3
    assert store.get_incident_versioned("nope") is None


def test_users_sessions_tokens(store: Store) -> None:
    now = datetime.now(UTC)
    user = UserRecord(id="u1", username="an", role="analyst", password_hash="$argon2id$x", created_at=now)
    store.put_user(user)
    store.put_user(user.model_copy(update={"display_name": "Nguyễn An"}))
    assert store.get_user("u1").display_name == "Nguyễn An"  # type: ignore[union-attr]
    assert store.get_user_by_name("an").id == "u1"  # type: ignore[union-attr]
    assert store.get_user_by_name("nobody") is None
    with pytest.raises(StoreError):
        store.put_user(user.model_copy(update={"id": "u2"}))
    assert [u.username for u in store.list_users()] == ["an"]

    session = SessionRecord(
        token_sha256="a" * 64, user_id="u1", created_at=now, expires_at=now + timedelta(hours=1)
    )
    store.put_session(session)
    store.put_session(session.model_copy(update={"token_sha256": "b" * 64}))
    assert store.get_session("a" * 64) == session
    store.delete_session("a" * 64)
    assert store.get_session("a" * 64) is None
    store.delete_session("a" * 64)  # idempotent
    store.delete_user_sessions("u1")
    assert store.get_session("b" * 64) is None

    token = ApiTokenRecord(
        id="t1", name="soar", role="analyst", token_sha256="c" * 64, created_at=now, created_by="x"
    )
    store.put_api_token(token)
    assert store.get_api_token("c" * 64) == token
    assert store.get_api_token("d" * 64) is None
    assert [t.name for t in store.list_api_tokens()] == ["soar"]


def test_audit_is_appended_and_searched(store: Store) -> None:
    entries = [
        AuditEntry(
            id=f"a{n}",
            at=T0 + timedelta(minutes=n),
            actor="an" if n % 2 else "binh",
            action="login.success" if n < 3 else "alert.update",
            target_id="x" if n == 4 else None,
        )
        for n in range(6)
    ]
    store.append_audit(entries)
    store.append_audit(entries[:2])  # replay: no duplicates
    store.refresh()
    assert [e.id for e in store.search_audit(AuditQuery()).items] == ["a5", "a4", "a3", "a2", "a1", "a0"]
    assert [e.id for e in store.search_audit(AuditQuery(actor="an")).items] == ["a5", "a3", "a1"]
    assert [e.id for e in store.search_audit(AuditQuery(action="login")).items] == ["a2", "a1", "a0"]
    assert [e.id for e in store.search_audit(AuditQuery(target_id="x")).items] == ["a4"]
    first = store.search_audit(AuditQuery(size=4))
    assert first.total == 6
    assert [e.id for e in store.search_audit(AuditQuery(size=4, cursor=first.cursor)).items] == ["a1", "a0"]
