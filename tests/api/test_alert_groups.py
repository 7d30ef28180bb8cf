"""Alert groups and origins through the API and the console (issue 13): the queue collapsed by group,
siblings on the detail, group triage, evidence-file alerts kept out of the live queue, bad filters as
problems, and the new words in both languages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.alert import Alert, Severity
from soc_core.event import Soc
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.contract.test_store_triage_contract import triage_alert

VISIT = "KT-20250701-ABC123"
SIGMA = triage_alert(1, rule="r-sigma", rule_name="Sigma: brute force", severity=Severity.MEDIUM)
PROV = triage_alert(
    1, rule="r-prov", rule_name="VN-11: brute force on the portal", severity=Severity.CRITICAL
)
LONE = triage_alert(2, rule="r-usb", rule_name="USB mass storage", host="ws07")
FROM_FILE = triage_alert(3, rule="r-mimi", rule_name="Mimikatz from a visit", host="ke-toan-01").model_copy(
    update={"soc": Soc(evidence={"visit_id": VISIT, "file_id": "TL-20250701-0A1B2C", "unit_id": "so-khcn"})}
)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    store.put_alerts([SIGMA, PROV, LONE, FROM_FILE])
    store.refresh()
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


def test_the_queue_collapses_by_group(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.VIEWER)
    flat = client.get("/api/v1/alerts").json()
    assert flat["total"] == 3 and {a["group"] for a in flat["items"]} == {SIGMA.group, LONE.group}

    grouped = client.get("/api/v1/alerts", params={"collapse": "group"}).json()
    assert grouped["total"] == 2 and grouped["next_cursor"] is None
    newest, pair = grouped["items"]
    assert (newest["group"], newest["size"]) == (LONE.group, 1)
    assert pair["group"] == SIGMA.group and pair["size"] == 2 and pair["severity"] == "critical"
    assert [r["id"] for r in pair["rules"]] == ["r-prov", "r-sigma"]  # most severe first
    assert [a["id"] for a in pair["alerts"]] == [PROV.id, SIGMA.id]

    first = client.get("/api/v1/alerts", params={"collapse": "group", "size": 1}).json()
    second = client.get(
        "/api/v1/alerts", params={"collapse": "group", "size": 1, "cursor": first["next_cursor"]}
    ).json()
    assert [first["items"][0]["group"], second["items"][0]["group"]] == [LONE.group, SIGMA.group]
    oldest = client.get("/api/v1/alerts", params={"collapse": "group", "sort": "oldest"}).json()
    assert [g["group"] for g in oldest["items"]] == [SIGMA.group, LONE.group]
    members = client.get("/api/v1/alerts", params={"group": SIGMA.group}).json()
    assert {a["id"] for a in members["items"]} == {SIGMA.id, PROV.id}


@pytest.mark.parametrize(
    ("params", "status", "where"),
    [
        ({"origin": "archive"}, 422, "query.origin"),
        ({"collapse": "rule"}, 422, "query.collapse"),
        ({"collapse": "group", "sort": "severity"}, 422, "query"),
        ({"collapse": "group", "cursor": "WyJrZXkiXQ=="}, 400, None),  # [key]: not [time, key]
        ({"collapse": "group", "cursor": "bm90IGpzb24"}, 400, None),
    ],
)
def test_bad_filters_are_problems(
    client: TestClient, store: Store, params: dict[str, str], status: int, where: str | None
) -> None:
    login(client, store, role=Role.VIEWER)
    resp = client.get("/api/v1/alerts", params=params)
    assert resp.status_code == status and resp.headers["content-type"] == "application/problem+json"
    if where:
        assert any(e["location"].startswith(where) for e in resp.json()["errors"])


def test_detail_shows_siblings_and_group_triage_closes_every_member(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    detail = client.get(f"/api/v1/alerts/{SIGMA.id}").json()
    assert [a["id"] for a in detail["siblings"]] == [PROV.id] and detail["visit_id"] is None
    assert client.get(f"/api/v1/alerts/{LONE.id}").json()["siblings"] == []

    resp = client.patch(
        f"/api/v1/alerts/{SIGMA.id}/group/triage", json={"status": "false_positive"}, headers=_csrf(client)
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["group"] == SIGMA.group and sorted(resp.json()["updated"]) == sorted(
        [SIGMA.id, PROV.id]
    )
    open_groups = client.get("/api/v1/alerts", params={"collapse": "group", "status": "new"}).json()
    assert [g["group"] for g in open_groups["items"]] == [LONE.group]  # the closed group left the queue
    store.refresh()
    audited = store.search_audit(AuditQuery(action="alert.update", size=10)).items
    assert sorted(e.target_id or "" for e in audited) == sorted([SIGMA.id, PROV.id])  # one line per member
    missing = client.patch(
        "/api/v1/alerts/nope/group/triage", json={"status": "resolved"}, headers=_csrf(client)
    )
    assert missing.status_code == 404


def test_evidence_alerts_are_kept_out_of_the_live_queue(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.VIEWER)
    assert FROM_FILE.id not in {a["id"] for a in client.get("/api/v1/alerts").json()["items"]}
    only = client.get("/api/v1/alerts", params={"origin": "evidence"}).json()
    assert [a["id"] for a in only["items"]] == [FROM_FILE.id]
    assert client.get("/api/v1/alerts", params={"origin": "all"}).json()["total"] == 4
    by_visit = client.get("/api/v1/alerts", params={"origin": "evidence", "visit": VISIT}).json()
    assert by_visit["total"] == 1
    assert client.get("/api/v1/alerts", params={"visit": VISIT}).json()["total"] == 1  # a visit: any origin
    assert client.get("/api/v1/alerts", params={"visit": VISIT, "origin": "live"}).json()["total"] == 0
    assert (
        client.get("/api/v1/alerts", params={"origin": "evidence", "visit": "KT-OTHER"}).json()["total"] == 0
    )
    facets = client.get("/api/v1/alerts", params={"facets": "true"}).json()["facets"]
    assert "r-mimi" not in {b["value"] for b in facets["rule"]}  # counts are live only
    assert client.get(f"/api/v1/alerts/{FROM_FILE.id}").json()["visit_id"] == VISIT

    queue = client.get("/alerts").text
    assert "Mimikatz from a visit" not in queue and "VN-11: brute force" in queue
    evidence_queue = client.get(
        "/alerts", params={"origin": "evidence", "visit": VISIT, "status": "all"}
    ).text
    assert "Mimikatz from a visit" in evidence_queue and 'id="origin-notice"' in evidence_queue
    assert "Buổi kiểm tra" in evidence_queue  # the visit filter's chip
    page = client.get(f"/alerts/{FROM_FILE.id}").text
    assert f'href="/inspections/visits/{VISIT}"' in page and "TL-20250701-0A1B2C" in page
    assert "Phát sinh từ tệp chứng cứ" in page


def _group_row(page: str) -> str:
    start = page.index(f'data-group="{SIGMA.group}"')
    return page[start : page.index("</tr>", start)]


def test_console_shows_one_row_per_group_in_both_languages(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST)
    page = client.get("/alerts").text
    assert page.count('class="alert-row') == 2 and "2 nhóm cảnh báo" in page
    row = _group_row(page)
    assert "VN-11: brute force on the portal" in row and "Sigma: brute force" in row
    assert "Quy tắc khác trên cùng sự kiện" in row and f'value="{PROV.id},{SIGMA.id}"' in row
    by_severity = client.get("/alerts", params={"sort": "severity", "collapse": "group"}).text
    assert by_severity.count('class="alert-row') == 3 and "data-group=" not in by_severity
    detail = client.get(f"/alerts/{SIGMA.id}").text
    assert (
        'id="scope-group"' in detail
        and 'id="group-members"' in detail
        and "Cùng sự kiện, quy tắc khác" in detail
    )

    client.post("/lang", data={"lang": "en", "next": "/alerts", "csrf_token": form_csrf(page)})
    english = client.get("/alerts").text
    assert "Other rules on the same event" in _group_row(english) and "2 alert groups" in english
    assert "Live telemetry" in english and "Inspection evidence files" in english
    assert "Same event, other rules (alert group)" in client.get(f"/alerts/{SIGMA.id}").text


def test_console_triage_of_a_group_row_and_of_the_whole_group(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST)
    token = form_csrf(client.get("/alerts").text)
    resp = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "action": "resolve", "ids": [f"{PROV.id},{SIGMA.id}"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"].endswith("done=2")
    assert _statuses(store, SIGMA, PROV) == ["resolved", "resolved"]
    resp = client.post(
        f"/alerts/{PROV.id}",
        data={"csrf_token": token, "status": "in_progress", "scope": "group"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert _statuses(store, SIGMA, PROV) == ["in_progress", "in_progress"]
    client.post(f"/alerts/{PROV.id}", data={"csrf_token": token, "status": "new"})  # this one only
    assert _statuses(store, SIGMA, PROV) == ["in_progress", "new"]


def _statuses(store: Store, *alerts: Alert) -> list[str]:
    store.refresh()
    found = [store.get_alert(a.id) for a in alerts]
    return [a.triage.status.value if a else "missing" for a in found]
