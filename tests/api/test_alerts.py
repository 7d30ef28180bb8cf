"""The triage API and console pages against both stores: search, facets, sorting, paging, changes with
their history and audit, bulk actions, the detail view, and hostile content shown as text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from api.alerts import service
from api.alerts.errors import Conflict
from api.alerts.models import TriageEdit
from api.auth.deps import Principal, Role
from api.auth.testing import form_csrf, login
from soc_core.alert import Severity, Triage
from soc_core.event import Event
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.contract.test_store_triage_contract import T0, triage_alert


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def seeded(store: Store) -> Store:
    alerts = [
        triage_alert(1),
        triage_alert(2, severity=Severity.CRITICAL, host="web02", user="root"),
        triage_alert(3, rule="r-usb", rule_name="USB mass storage", checklist=["VN-10"], technique=None),
        triage_alert(4, unit="ubnd-xa", system="mot-cua", host="kiosk1", severity=Severity.LOW),
        triage_alert(5, rule="r-fw", rule_name="Firewall disabled", checklist=["VN-02"], technique="T1562"),
        triage_alert(6, minutes=30),  # same host and user as 1, within the hour: related
    ]
    store.put_alerts(alerts)
    store.put_events(
        [
            Event.from_doc(
                {
                    "@timestamp": (T0 + timedelta(minutes=1)).isoformat(),
                    "message": "Failed password for admin from 203.0.113.9",
                    "event": {"id": "ev-000001", "original": "sshd[1]: Failed password for admin"},
                    "host": {"name": "web01"},
                    "source": {"ip": "203.0.113.9"},
                }
            )
        ]
    )
    store.refresh()
    return store


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


def test_search_filters_facets_and_sorts(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    everything = client.get("/api/v1/alerts", params={"facets": "true"}).json()
    assert everything["total"] == 6
    assert {f["value"]: f["count"] for f in everything["facets"]["severity"]} == {
        "high": 4,
        "critical": 1,
        "low": 1,
    }
    assert {f["value"]: f["label"] for f in everything["facets"]["rule"]}["r-usb"] == "USB mass storage"
    assert {f["value"] for f in everything["facets"]["checklist"]} == {"VN-11", "VN-10", "VN-02"}

    def hosts(**params: object) -> list[str]:
        return [a["host_name"] for a in client.get("/api/v1/alerts", params=params).json()["items"]]

    assert hosts(severity=["critical", "low"]) == ["kiosk1", "web02"]
    assert hosts(unit="ubnd-xa") == ["kiosk1"]
    assert hosts(host="kiosk1", severity="low,critical") == ["kiosk1"]
    assert hosts(rule="r-usb") == ["web01"]
    assert hosts(user="root") == ["web02"]
    assert hosts(technique="T1562", checklist="VN-02") == ["web01"]
    assert len(hosts(q="usb")) == 1
    assert hosts(
        start=(T0 + timedelta(minutes=2)).isoformat(), end=(T0 + timedelta(minutes=3)).isoformat()
    ) == ["web02"]
    severities = [
        a["severity"] for a in client.get("/api/v1/alerts", params={"sort": "severity"}).json()["items"]
    ]
    assert severities == ["critical", "high", "high", "high", "high", "low"]
    assert client.get("/api/v1/alerts", params={"severity": "bogus"}).status_code == 422


def test_severity_sort_pages_visit_every_alert_once(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"sort": "severity", "size": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/alerts", params=params).json()
        seen.extend(f"{a['severity']}:{a['id']}" for a in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6
    ranks = {"critical": 0, "high": 1, "medium": 2, "low": 3}
    assert [ranks[s.split(":")[0]] for s in seen] == sorted(ranks[s.split(":")[0]] for s in seen)


def test_changes_are_recorded_on_the_alert_and_in_the_audit(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.ANALYST, username="an")
    target = triage_alert(1).id
    resp = client.patch(
        f"/api/v1/alerts/{target}/triage",
        json={"status": "acknowledged", "assignee": "an", "add_tags": ["brute-force"]},
        headers=_csrf(client),
    )
    assert resp.status_code == 200
    triage = resp.json()["triage"]
    assert (
        triage["status"] == "acknowledged"
        and triage["assignee"] == "an"
        and triage["tags"] == ["brute-force"]
    )
    assert [(h["field"], h.get("old"), h.get("new"), h["actor"]) for h in triage["history"]] == [
        ("status", "new", "acknowledged", "an"),
        ("assignee", None, "an", "an"),
        ("tags", None, "brute-force", "an"),
    ]
    comment = client.post(
        f"/api/v1/alerts/{target}/comments", json={"text": "blocked at the firewall"}, headers=_csrf(client)
    )
    assert comment.status_code == 201 and comment.json()["author"] == "an"
    closed = client.patch(
        f"/api/v1/alerts/{target}/triage", json={"status": "false_positive"}, headers=_csrf(client)
    ).json()["triage"]
    assert closed["resolved_at"] and closed["acknowledged_at"]
    same = client.patch(
        f"/api/v1/alerts/{target}/triage", json={"status": "false_positive"}, headers=_csrf(client)
    )
    assert len(same.json()["triage"]["history"]) == len(closed["history"])  # no change, no history line
    seeded.refresh()
    audit = seeded.search_audit(AuditQuery(action="alert.update", target_id=target))
    assert audit.total == 3 and {e.actor for e in audit.items} == {"an"}
    assert (
        client.patch(
            "/api/v1/alerts/missing/triage", json={"status": "resolved"}, headers=_csrf(client)
        ).status_code
        == 404
    )
    statuses = client.get("/api/v1/alerts", params={"status": "false_positive"}).json()["items"]
    assert [a["id"] for a in statuses] == [target]


class Racing:
    """The store, with another analyst's change landing between each of the first `races` reads and
    the write that follows it."""

    def __init__(self, store: Store, races: int) -> None:
        self.store, self.races = store, races

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def update_alert_triage(self, alert_id: str, triage: Triage, *, version: str) -> bool:
        if self.races:
            self.races -= 1
            got = self.store.get_alert_versioned(alert_id)
            assert got is not None
            theirs = got[0].triage.model_copy(update={"tags": [*got[0].triage.tags, f"other-{self.races}"]})
            assert self.store.update_alert_triage(alert_id, theirs, version=got[1])
        return self.store.update_alert_triage(alert_id, triage, version=version)


def test_a_change_that_loses_a_race_is_applied_again_on_the_newer_version(seeded: Store) -> None:
    """Up to seven lost races: both changes stand. Eight: Conflict, and the other analyst's change stays."""
    an = Principal(user_id="u-an", username="an", role=Role.ANALYST)
    first, second = triage_alert(1).id, triage_alert(2).id
    racing = Racing(seeded, races=7)
    alert = service.update(
        store=cast(Store, racing), alert_id=first, change=TriageEdit(assignee="an"), actor=an
    )
    assert racing.races == 0
    assert alert.triage.assignee == "an"
    assert alert.triage.tags == [f"other-{n}" for n in range(6, -1, -1)]
    with pytest.raises(Conflict):
        losing = cast(Store, Racing(seeded, races=8))
        service.update(store=losing, alert_id=second, change=TriageEdit(assignee="an"), actor=an)
    stored = seeded.get_alert(second)
    assert stored is not None and stored.triage.assignee is None and len(stored.triage.tags) == 8


def test_bulk_actions(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.ANALYST, username="an")
    ids = [
        triage_alert(1).id,
        triage_alert(2, severity=Severity.CRITICAL, host="web02", user="root").id,
        "missing",
    ]
    resp = client.post(
        "/api/v1/alerts/bulk", json={"ids": ids, "update": {"status": "in_progress"}}, headers=_csrf(client)
    )
    assert resp.status_code == 200
    assert resp.json()["updated"] == ids[:2] and list(resp.json()["failed"]) == ["missing"]
    page = client.get("/api/v1/alerts", params={"status": "in_progress"}).json()
    assert page["total"] == 2
    # the console's bulk form: acknowledge from the queue, then close as false positive
    token = form_csrf(client.get("/alerts").text)
    form = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "action": "false_positive", "ids": ids[:2], "back": "/alerts?status=all"},
        follow_redirects=False,
    )
    assert form.status_code == 303 and form.headers["location"] == "/alerts?status=all&done=2"
    assert client.get("/api/v1/alerts", params={"status": "false_positive"}).json()["total"] == 2
    evil = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "action": "assign_me", "ids": ids[:1], "back": "https://evil.example/"},
        follow_redirects=False,
    )
    assert evil.headers["location"].startswith("/alerts?")  # no open redirect


def test_detail_has_event_rule_related_and_frequency(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    target = triage_alert(1).id
    detail = client.get(f"/api/v1/alerts/{target}").json()
    fields = dict(detail["event_fields"])
    assert fields["source.ip"] == "203.0.113.9" and fields["host.name"] == "web01"
    assert detail["original"] == "sshd[1]: Failed password for admin"
    assert detail["alert"]["rule"]["description"] == "Many failed logins"
    related = {a["event_ids"][0]: detail["related_by"][a["id"]] for a in detail["related"]}
    assert related == {
        "ev-000002": ["rule"],  # root@web02, but the same rule
        "ev-000003": ["host", "user"],
        "ev-000004": ["user", "rule"],
        "ev-000005": ["host", "user"],
        "ev-000006": ["host", "user", "rule"],
    }
    assert detail["rule_frequency"]["total"] == 3  # r-brute on so-khcn: alerts 1, 2 and 6
    page = client.get(f"/alerts/{target}").text
    assert "203.0.113.9" in page and "Many failed logins" in page and "Brute force on portal admin" in page
    assert client.get("/api/v1/alerts/nope").status_code == 404
    assert client.get(f"/api/v1/alerts/{target}/detail").status_code == 404  # one read: this one is gone


def test_console_queue_filters_and_language(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.ANALYST)
    page = client.get("/alerts", params={"severity": "critical"}).text
    assert "web02" in page and "kiosk1" not in page
    assert "Hàng đợi cảnh báo" in page and "Nghiêm trọng" in page
    dated = client.get("/alerts", params={"start": "2025-07-01", "end": "2025-07-01", "status": "all"}).text
    assert "web02" in dated  # 08:00 UTC is 15:00 in Asia/Ho_Chi_Minh, within the local day
    assert "01/07/2025 15:02" in dated
    switch = client.post(
        "/lang", data={"lang": "en", "next": "/alerts", "csrf_token": form_csrf(page)}, follow_redirects=False
    )
    assert switch.status_code == 303
    english = client.get("/alerts").text
    assert "Alert queue" in english and 'lang="en"' in english


def test_hostile_alert_content_is_shown_as_text(client: TestClient, store: Store) -> None:
    hostile = triage_alert(
        9,
        rule_name="<script>alert(1)</script>",
        host="<img src=x onerror=alert(2)>",
        user='javascript:alert(3)"',
    )
    store.put_alerts([hostile])
    store.put_events(
        [
            Event.from_doc(
                {
                    "@timestamp": T0.isoformat(),
                    "message": "\x1b[31mred\x00 \u202eevil",
                    "event": {"id": "ev-000009", "original": "<svg onload=alert(4)>"},
                    "url": {"original": "javascript:alert(5)"},
                }
            )
        ]
    )
    store.refresh()
    login(client, store, role=Role.ANALYST)
    for page in (client.get(f"/alerts/{hostile.id}?q=script").text, client.get("/alerts?q=script").text):
        assert "<script>alert(1)" not in page and "<img src=x" not in page and "<svg onload" not in page
        assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in page
        assert 'href="javascript:' not in page
    detail = client.get(f"/alerts/{hostile.id}").text
    assert "&lt;svg onload=alert(4)&gt;" in detail
    assert "\x1b" not in detail and "\x00" not in detail and "\u202e" not in detail
    assert "␛[31mred␀" in detail and "&lt;U+202E&gt;evil" in detail
