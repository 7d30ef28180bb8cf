"""Incidents through the API and the console, against both stores: grouping alerts, the clocks,
the timeline of alerts, events and notes, and membership changes recorded on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.alert import Severity
from soc_core.event import Event
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.contract.test_store_triage_contract import T0, triage_alert

A1 = triage_alert(1)
A2 = triage_alert(2, severity=Severity.CRITICAL, unit="ubnd-xa", system="mot-cua", host="kiosk1")
A3 = triage_alert(3, rule="r-usb", rule_name="USB mass storage")


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    store.put_alerts([A1, A2, A3])
    store.put_events(
        [
            Event.from_doc(
                {
                    "@timestamp": (T0 + timedelta(minutes=1)).isoformat(),
                    "message": "Failed password",
                    "event": {"id": "ev-000001"},
                    "host": {"name": "web01"},
                }
            )
        ]
    )
    store.refresh()
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST, username="an")
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/incidents").text)}


def test_group_alerts_into_an_incident(client: TestClient, store: Store) -> None:
    resp = client.post(
        "/api/v1/incidents",
        json={"title": "Brute force wave", "alert_ids": [A1.id, A2.id]},
        headers=_csrf(client),
    )
    assert resp.status_code == 201
    incident = resp.json()["incident"]
    assert incident["severity"] == "critical"  # the highest of its alerts
    assert incident["unit_ids"] == ["so-khcn", "ubnd-xa"] and incident["system_ids"] == ["portal", "mot-cua"]
    assert incident["detected_at"].startswith("2025-07-01T08:01")
    assert resp.json()["time_to_acknowledge_s"] is None
    for alert_id in (A1.id, A2.id):
        triage = store.get_alert(alert_id).triage  # type: ignore[union-attr]
        assert triage.incident_id == incident["id"]
        assert triage.history[-1].field == "incident" and triage.history[-1].actor == "an"
    linked = client.get("/api/v1/alerts", params={"incident": incident["id"]}).json()
    assert linked["total"] == 2
    assert (
        client.post(
            "/api/v1/incidents", json={"title": "x", "alert_ids": ["nope"]}, headers=_csrf(client)
        ).status_code
        == 422
    )


def test_clocks_timeline_notes_and_membership(client: TestClient, store: Store) -> None:
    inc = client.post(
        "/api/v1/incidents", json={"title": "Wave", "alert_ids": [A1.id]}, headers=_csrf(client)
    ).json()
    inc_id = inc["incident"]["id"]
    h = _csrf(client)
    taken = client.patch(
        f"/api/v1/incidents/{inc_id}", json={"owner": "an", "status": "in_progress"}, headers=h
    ).json()
    assert taken["time_to_acknowledge_s"] > 0 and taken["time_to_resolve_s"] is None
    assert (
        client.post(
            f"/api/v1/incidents/{inc_id}/notes", json={"text": "isolated web01"}, headers=h
        ).status_code
        == 201
    )
    added = client.post(f"/api/v1/incidents/{inc_id}/alerts", json={"alert_ids": [A3.id]}, headers=h).json()
    assert A3.id in added["incident"]["alert_ids"]
    resolved = client.patch(f"/api/v1/incidents/{inc_id}", json={"status": "resolved"}, headers=h).json()
    assert resolved["time_to_resolve_s"] >= resolved["time_to_acknowledge_s"]
    reopened = client.patch(f"/api/v1/incidents/{inc_id}", json={"status": "in_progress"}, headers=h).json()
    assert reopened["time_to_resolve_s"] is None

    detail = client.get(f"/api/v1/incidents/{inc_id}").json()
    kinds = [item["kind"] for item in detail["timeline"]]
    assert kinds[:3] == ["alert", "event", "alert"]  # 08:01 alert 1, its event, 08:03 alert 3
    assert {"created", "alert_added", "note", "change"} <= set(kinds)
    note = next(i for i in detail["timeline"] if i["kind"] == "note")
    assert note["text"] == "isolated web01" and note["actor"] == "an"
    times = [item["at"] for item in detail["timeline"]]
    assert times == sorted(times)

    removed = client.delete(f"/api/v1/incidents/{inc_id}/alerts/{A3.id}", headers=h).json()
    assert A3.id not in removed["incident"]["alert_ids"]
    assert store.get_alert(A3.id).triage.incident_id is None  # type: ignore[union-attr]
    listed = client.get("/api/v1/incidents", params={"status": "in_progress"}).json()
    assert [i["incident"]["id"] for i in listed["items"]] == [inc_id]
    store.refresh()
    actions = {e.action for e in store.search_audit(AuditQuery(target_id=inc_id)).items}
    assert {
        "incident.create",
        "incident.update",
        "incident.note",
        "incident.add_alerts",
        "incident.remove_alert",
    } <= actions


def test_console_groups_selected_alerts_and_shows_the_incident(client: TestClient, store: Store) -> None:
    token = form_csrf(client.get("/alerts").text)
    resp = client.post(
        "/alerts/bulk",
        data={
            "csrf_token": token,
            "action": "incident_new",
            "title": "Tấn công dò mật khẩu",
            "ids": [A1.id, A2.id],
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith("/incidents/INC-")
    page = client.get(resp.headers["location"]).text
    assert "Tấn công dò mật khẩu" in page and "Diễn biến" in page and "Failed password" in page
    inc_id = resp.headers["location"].rsplit("/", 1)[1]
    change = client.post(
        f"/incidents/{inc_id}",
        data={"csrf_token": form_csrf(page), "status": "resolved", "owner": "an"},
        follow_redirects=False,
    )
    assert change.status_code == 303
    listing = client.get("/incidents", params={"status": "all"}).text
    assert inc_id in listing and "Đã xử lý" in listing
    assert client.get("/incidents/INC-nope").status_code == 404
