"""Case work on incidents through the API, on both stores: tasks (assignee from the users, due day,
overdue), observables (extracted from the alerts' events, added and removed by hand, validated by
type, each with searches that the explorer and the queue accept), attachments kept like inspection
evidence, and the timeline and the audit recording who did what."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import ensure_user, form_csrf, login
from soc_core.alert import observable_id
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, parse_for
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.contract.test_store_triage_contract import T0, triage_alert

SHA256 = "a" * 64
A1 = triage_alert(
    1,
    event={
        "@timestamp": T0.isoformat(),
        "source": {"ip": "203.0.113.7"},
        "destination": {"ip": "10.1.2.3"},
        "user": {"name": "admin"},
        "host": {"name": "web01"},
        "process": {"hash": {"sha256": SHA256.upper()}},
        "related": {"ip": ["203.0.113.7", "-"], "user": ["admin", "svc_backup"]},
    },
)
A2 = triage_alert(
    2,
    host="kiosk1",
    event={
        "@timestamp": T0.isoformat(),
        "dns": {"question": {"name": "evil.example.vn"}},
        "url": {"domain": "evil.example.vn"},
        "host": {"name": "kiosk1"},
        "file": {"hash": {"md5": "0123456789abcdef0123456789abcdef"}},
    },
)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    store.put_alerts([A1, A2])
    store.refresh()
    app = create_app(app_context(store, environment="test", data_dir=tmp_path / "data"))
    with TestClient(app, base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST, username="an")
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/incidents").text)}


def _incident(client: TestClient, alert_ids: list[str]) -> str:
    resp = client.post(
        "/api/v1/incidents", json={"title": "Case", "alert_ids": alert_ids}, headers=_csrf(client)
    )
    assert resp.status_code == 201
    return str(resp.json()["incident"]["id"])


def test_tasks_with_assignee_due_day_and_overdue(client: TestClient, store: Store) -> None:
    ensure_user(store, "binh", Role.ANALYST)
    inc = _incident(client, [A1.id])
    h = _csrf(client)
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    resp = client.post(
        f"/api/v1/incidents/{inc}/tasks",
        json={"title": "Chặn IP 203.0.113.7", "assignee": "binh", "due": yesterday},
        headers=h,
    )
    assert resp.status_code == 201
    task = resp.json()["incident"]["tasks"][-1]
    assert resp.headers["location"].endswith(f"/tasks/{task['id']}")
    assert task["assignee"] == "binh" and task["due"] == yesterday and task["done"] is False
    later = client.post(f"/api/v1/incidents/{inc}/tasks", json={"title": "Thu thập nhật ký"}, headers=h)
    assert later.status_code == 201

    detail = client.get(f"/api/v1/incidents/{inc}").json()
    assert [t["overdue"] for t in detail["tasks"]] == [True, False]

    # an unknown assignee, a bad day, an unknown task: 4xx problems, never 5xx
    assert (
        client.post(
            f"/api/v1/incidents/{inc}/tasks", json={"title": "x", "assignee": "ghost"}, headers=h
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"/api/v1/incidents/{inc}/tasks", json={"title": "x", "due": "mai"}, headers=h
        ).status_code
        == 422
    )
    assert (
        client.patch(f"/api/v1/incidents/{inc}/tasks/nope", json={"done": True}, headers=h).status_code == 404
    )
    assert client.post("/api/v1/incidents/INC-nope/tasks", json={"title": "x"}, headers=h).status_code == 404

    done = client.patch(f"/api/v1/incidents/{inc}/tasks/{task['id']}", json={"done": True}, headers=h)
    assert done.status_code == 200
    got = done.json()["incident"]["tasks"][0]
    assert got["done"] is True and got["done_by"] == "an" and got["done_at"]
    detail = client.get(f"/api/v1/incidents/{inc}").json()
    assert detail["tasks"][0]["overdue"] is False  # done is never overdue
    moved = client.patch(
        f"/api/v1/incidents/{inc}/tasks/{task['id']}",
        json={"done": False, "assignee": "", "clear_due": True},
        headers=h,
    ).json()["incident"]["tasks"][0]
    assert moved["done"] is False and "assignee" not in moved and "due" not in moved

    kinds = [(t["kind"], t.get("field")) for t in client.get(f"/api/v1/incidents/{inc}").json()["timeline"]]
    assert ("task_added", None) in kinds and ("task_done", None) in kinds and ("task_reopened", None) in kinds
    assert ("task_changed", "assignee") in kinds and ("task_changed", "due") in kinds
    actions = {e.action for e in store.search_audit(AuditQuery(target_id=inc, size=50)).items}
    assert {"incident.task.add", "incident.task.update"} <= actions


def test_observables_extracted_from_the_alerts_events(client: TestClient) -> None:
    inc = _incident(client, [A1.id, A2.id])
    found = {(o["type"], o["value"]): o for o in client.get(f"/api/v1/incidents/{inc}/observables").json()}
    assert set(found) == {
        ("ip", "203.0.113.7"),
        ("ip", "10.1.2.3"),
        ("user", "admin"),
        ("user", "svc_backup"),
        ("host", "web01"),
        ("host", "kiosk1"),
        ("domain", "evil.example.vn"),
        ("hash", SHA256),  # lower-cased
        ("hash", "0123456789abcdef0123456789abcdef"),
    }  # "-" in related.ip is not an IP: not an observable
    ip = found[("ip", "203.0.113.7")]
    assert ip["origin"] == "extracted" and ip["fields"] == ["source.ip", "related.ip"] and ip["alerts"] == 1
    assert found[("domain", "evil.example.vn")]["fields"] == ["dns.question.name", "url.domain"]
    # every search is a query both pages accept, and the links follow their URL contracts
    for o in found.values():
        parse_for(o["events_query"], EVENT_FIELDS)
        parse_for(o["alerts_query"], ALERT_FIELDS)
        events = urlsplit(o["events_url"])
        assert events.path == "/events" and parse_qs(events.query)["q"] == [o["events_query"]]
        assert parse_qs(events.query)["start"][0].startswith("2025-06-01")  # 30 days before detection
        alerts = urlsplit(o["alerts_url"])
        assert alerts.path == "/alerts" and parse_qs(alerts.query) == {
            "q": [o["alerts_query"]],
            "status": ["all"],
        }
    assert (
        ip["events_query"]
        == 'source.ip:"203.0.113.7" or destination.ip:"203.0.113.7" or host.ip:"203.0.113.7"'
    )
    assert found[("host", "kiosk1")]["alerts_query"] == 'host_name:"kiosk1"'
    # each search finds the incident's alert holding it in the queue (free text reaches the event)
    for key, alert in [
        (("host", "kiosk1"), A2),
        (("ip", "203.0.113.7"), A1),
        (("domain", "evil.example.vn"), A2),
        (("hash", "0123456789abcdef0123456789abcdef"), A2),
    ]:
        q = found[key]["alerts_query"]
        listed = client.get("/api/v1/alerts", params={"q": q, "status": "new", "collapse": "none"}).json()
        assert [a["id"] for a in listed["items"]] == [alert.id], key


def test_observables_added_validated_and_removed_by_hand(client: TestClient, store: Store) -> None:
    inc = _incident(client, [A1.id])
    h = _csrf(client)
    url = f"/api/v1/incidents/{inc}/observables"
    for kind, value in [
        ("ip", "999.1.1.1"),
        ("domain", "not a domain"),
        ("domain", "localhost"),
        ("hash", "xyz"),
        ("hash", "a" * 33),
        ("host", "two words"),
        ("user", "bad\x00name"),
        ("url", "http://x"),
    ]:
        resp = client.post(url, json={"type": kind, "value": value}, headers=h)
        assert resp.status_code == 422, (kind, value, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    added = client.post(
        url, json={"type": "domain", "value": "C2.Example.COM.", "note": "from the CERT"}, headers=h
    )
    assert added.status_code == 201
    client.post(url, json={"type": "ip", "value": "2001:db8::0:1"}, headers=h)
    listed = {(o["type"], o["value"]): o for o in client.get(url).json()}
    manual = listed[("domain", "c2.example.com")]
    assert manual["origin"] == "manual" and manual["added_by"] == "an" and manual["note"] == "from the CERT"
    assert ("ip", "2001:db8::1") in listed  # the canonical form

    # removing: one added by hand is forgotten, an extracted one is dismissed and stays off the list
    assert client.delete(f"{url}/{manual['id']}", headers=h).status_code == 200
    extracted = listed[("ip", "203.0.113.7")]
    assert client.delete(f"{url}/{extracted['id']}", headers=h).status_code == 200
    after = {(o["type"], o["value"]) for o in client.get(url).json()}
    assert ("domain", "c2.example.com") not in after and ("ip", "203.0.113.7") not in after
    assert client.delete(f"{url}/{observable_id('ip', '198.51.100.1')}", headers=h).status_code == 404
    # adding it back by hand brings it back
    assert client.post(url, json={"type": "ip", "value": "203.0.113.7"}, headers=h).status_code == 201
    assert ("ip", "203.0.113.7") in {(o["type"], o["value"]) for o in client.get(url).json()}

    timeline = client.get(f"/api/v1/incidents/{inc}").json()["timeline"]
    said = [
        (t["kind"], t.get("field"), t.get("new") or t.get("old"))
        for t in timeline
        if "observable" in t["kind"]
    ]
    assert said == [
        ("observable_added", "domain", "c2.example.com"),
        ("observable_added", "ip", "2001:db8::1"),
        ("observable_removed", "domain", "c2.example.com"),
        ("observable_removed", "ip", "203.0.113.7"),
        ("observable_added", "ip", "203.0.113.7"),
    ]
    actions = [e.action for e in store.search_audit(AuditQuery(target_id=inc, size=50)).items]
    assert "incident.observable.add" in actions and "incident.observable.remove" in actions


def test_attachments_kept_like_evidence(client: TestClient, store: Store, tmp_path: Path) -> None:
    inc = _incident(client, [A1.id])
    h = _csrf(client)
    body = "Biên bản làm việc\n".encode() * 100
    url = f"/api/v1/incidents/{inc}/attachments"
    resp = client.post(url, files={"file": ("..\\..\\bien-ban.txt", body)}, headers=h)
    assert resp.status_code == 201, resp.text
    att = resp.json()
    digest = hashlib.sha256(body).hexdigest()
    assert att["filename"] == "bien-ban.txt" and att["sha256"] == digest and att["size"] == len(body)
    kept = tmp_path / "data" / att["stored_as"]
    assert att["stored_as"] == f"evidence/sha256/{digest[:2]}/{digest}" and kept.read_bytes() == body
    again = client.post(url, files={"file": ("copy.txt", body)}, headers=h)
    assert again.status_code == 200 and again.json()["id"] == att["id"]

    got = client.get(f"{url}/{att['id']}/content")
    assert got.status_code == 200 and got.content == body and got.headers["x-content-sha256"] == digest
    assert client.get(f"{url}/nope/content").status_code == 404
    assert client.post(url, files={"file": ("empty.txt", b"")}, headers=h).status_code == 422
    assert (
        client.post(
            "/api/v1/incidents/INC-nope/attachments", files={"file": ("a", b"x")}, headers=h
        ).status_code
        == 404
    )

    kept.chmod(0o640)
    kept.write_bytes(b"tampered")
    assert client.get(f"{url}/{att['id']}/content").status_code == 422  # no longer matches its hash

    timeline = client.get(f"/api/v1/incidents/{inc}").json()["timeline"]
    assert [(t["kind"], t["text"], t["actor"]) for t in timeline if t["kind"] == "attachment_added"] == [
        ("attachment_added", "bien-ban.txt", "an")
    ]


def test_attachment_over_the_upload_limit_is_refused(store: Store, tmp_path: Path) -> None:
    store.put_alerts([A1])
    store.refresh()
    ctx = app_context(
        store, environment="test", data_dir=tmp_path / "data", ingest={"max_upload_bytes": 2048}
    )
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST, username="an")
        inc = _incident(c, [A1.id])
        resp = c.post(
            f"/api/v1/incidents/{inc}/attachments", files={"file": ("big.bin", b"x" * 4096)}, headers=_csrf(c)
        )
        assert resp.status_code == 413
        assert store.get_incident_versioned(inc)[0].attachments == []  # type: ignore[index]


def test_case_work_is_for_analysts(client: TestClient, store: Store) -> None:
    inc = _incident(client, [A1.id])
    client.cookies.clear()
    login(client, store, role=Role.POLICE, username="police")
    h = _csrf(client)
    assert client.get(f"/api/v1/incidents/{inc}/observables").status_code == 200
    assert client.post(f"/api/v1/incidents/{inc}/tasks", json={"title": "x"}, headers=h).status_code == 403
    assert (
        client.post(
            f"/api/v1/incidents/{inc}/observables", json={"type": "ip", "value": "1.1.1.1"}, headers=h
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/v1/incidents/{inc}/attachments", files={"file": ("a", b"x")}, headers=h
        ).status_code
        == 403
    )


def test_console_works_tasks_observables_attachments_in_both_languages(
    client: TestClient, store: Store
) -> None:
    ensure_user(store, "binh", Role.ANALYST)
    inc = _incident(client, [A1.id])
    page = client.get(f"/incidents/{inc}").text
    token = form_csrf(page)
    assert 'value="binh"' in page  # the assignee is picked from the users

    def post(path: str, **data: str) -> str:
        resp = client.post(
            f"/incidents/{inc}{path}", data={"csrf_token": token, **data}, follow_redirects=False
        )
        assert resp.status_code == 303, resp.text
        return str(resp.headers["location"])

    assert post("/tasks", title="Cô lập máy web01", assignee="binh", due="2020-01-31").endswith("#tasks")
    task_id = store.get_incident_versioned(inc)[0].tasks[0].id  # type: ignore[index]
    post(f"/tasks/{task_id}", done="true")
    post("/tasks", title="Báo cáo Sở", due="2020-02-01")
    assert "Quá hạn" in client.get(f"/incidents/{inc}").text  # undone, past its day
    post("/observables", type="domain", value="c2.example.com")
    extracted = observable_id("ip", "203.0.113.7")
    post(f"/observables/{extracted}/remove")
    resp = client.post(
        f"/incidents/{inc}/attachments",
        data={"csrf_token": token},
        files={"file": ("nhat-ky.txt", b"log lines")},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    bad = client.post(
        f"/incidents/{inc}/observables",
        data={"csrf_token": token, "type": "ip", "value": "x"},
        follow_redirects=False,
    )
    assert bad.status_code == 422
    bad = client.post(
        f"/incidents/{inc}/tasks",
        data={"csrf_token": token, "title": "x", "due": "31/01"},
        follow_redirects=False,
    )
    assert bad.status_code == 422

    vi = client.get(f"/incidents/{inc}").text
    for said in (
        "thêm việc",
        "hoàn thành việc",
        "thêm dấu hiệu",
        "gỡ dấu hiệu",
        "đính kèm",
        "Tên miền",
        "Tìm ở mọi nơi",
        "nhat-ky.txt",
    ):
        assert said in vi, said
    assert "c2.example.com" in vi and 'class="search-events"' in vi
    assert "/events?q=dns.question.name%3A%22c2.example.com%22" in vi.replace("&amp;", "&")
    client.cookies.set("socpipe_lang", "en")
    en = client.get(f"/incidents/{inc}").text
    for said in (
        "added task",
        "completed task",
        "added observable",
        "removed observable",
        "attached",
        "Domain",
    ):
        assert said in en, said


def test_limits_come_from_the_settings(store: Store, tmp_path: Path) -> None:
    store.put_alerts([A1])
    store.refresh()
    ctx = app_context(
        store, environment="test", data_dir=tmp_path / "data", incident_max_items=1, incident_max_extracted=2
    )
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST, username="an")
        inc = _incident(c, [A1.id])
        h = _csrf(c)
        assert len(c.get(f"/api/v1/incidents/{inc}/observables").json()) == 2  # of 6 in the event
        base = f"/api/v1/incidents/{inc}"
        for path, first, second in [
            ("/tasks", {"json": {"title": "a"}}, {"json": {"title": "b"}}),
            (
                "/observables",
                {"json": {"type": "ip", "value": "1.1.1.1"}},
                {"json": {"type": "ip", "value": "1.1.1.2"}},
            ),
            ("/attachments", {"files": {"file": ("a", b"a")}}, {"files": {"file": ("b", b"b")}}),
        ]:
            assert c.post(base + path, headers=h, **first).status_code == 201, path  # type: ignore[arg-type]
            over = c.post(base + path, headers=h, **second)  # type: ignore[arg-type]
            assert over.status_code == 422 and "SOC_INCIDENT_MAX_ITEMS: 1" in over.json()["detail"], path


def _kept_files(data: Path) -> list[str]:
    """Every file under the evidence folder (kept by hash, or left in its temporary area)."""
    return sorted(str(p.relative_to(data)) for p in (data / "evidence").rglob("*") if p.is_file())


def test_a_refused_attachment_leaves_no_file(store: Store, tmp_path: Path) -> None:
    store.put_alerts([A1])
    store.refresh()
    data = tmp_path / "data"
    ctx = app_context(store, environment="test", data_dir=data, incident_max_items=1)
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST, username="an")
        inc = _incident(c, [A1.id])
        url, h = f"/api/v1/incidents/{inc}/attachments", _csrf(c)
        first = c.post(url, files={"file": ("a.txt", b"first file")}, headers=h)
        assert first.status_code == 201
        kept = [first.json()["stored_as"]]
        assert _kept_files(data) == kept
        refused = c.post(url, files={"file": ("b.txt", b"second file")}, headers=h)
        assert refused.status_code == 422  # past SOC_INCIDENT_MAX_ITEMS, after the body was read
        assert _kept_files(data) == kept  # nothing names the refused bytes: nothing kept
        same = c.post(url, files={"file": ("copy.txt", b"first file")}, headers=h)
        assert same.status_code == 200 and _kept_files(data) == kept
        gone = c.post("/api/v1/incidents/INC-nope/attachments", files={"file": ("c", b"c")}, headers=h)
        assert gone.status_code == 404 and _kept_files(data) == kept


def test_tasks_and_attachments_are_removed_audited_and_in_the_timeline(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    inc = _incident(client, [A1.id])
    h = _csrf(client)
    base = f"/api/v1/incidents/{inc}"
    keep = client.post(f"{base}/tasks", json={"title": "Giữ lại"}, headers=h).json()["incident"]["tasks"][0]
    made = client.post(f"{base}/tasks", json={"title": "Nhập nhầm", "assignee": "an"}, headers=h)
    task = made.json()["incident"]["tasks"][-1]
    att = client.post(f"{base}/attachments", files={"file": ("nham.txt", b"wrong file")}, headers=h).json()

    client.cookies.clear()
    login(client, store, role=Role.POLICE, username="police")
    ph = _csrf(client)
    assert client.delete(f"{base}/tasks/{task['id']}", headers=ph).status_code == 403
    assert client.delete(f"{base}/attachments/{att['id']}", headers=ph).status_code == 403
    client.cookies.clear()
    login(client, store, role=Role.ANALYST, username="an")
    h = _csrf(client)

    removed = client.delete(f"{base}/tasks/{task['id']}", headers=h)
    assert removed.status_code == 200
    assert [t["id"] for t in removed.json()["incident"]["tasks"]] == [keep["id"]]
    assert client.delete(f"{base}/tasks/{task['id']}", headers=h).status_code == 404
    removed = client.delete(f"{base}/attachments/{att['id']}", headers=h)
    assert removed.status_code == 200 and removed.json()["incident"].get("attachments", []) == []
    assert client.get(f"{base}/attachments/{att['id']}/content").status_code == 404
    assert client.delete(f"{base}/attachments/{att['id']}", headers=h).status_code == 404
    # the bytes stay in the content-addressed evidence folder (shared, never rewritten)
    assert (tmp_path / "data" / att["stored_as"]).read_bytes() == b"wrong file"

    timeline = client.get(base).json()["timeline"]
    said = [(t["kind"], t["actor"], t["text"]) for t in timeline if t["kind"].endswith("_removed")]
    assert said == [("task_removed", "an", "Nhập nhầm"), ("attachment_removed", "an", "nham.txt")]
    store.refresh()
    audit = store.search_audit(AuditQuery(target_id=inc, size=50)).items
    actions = [e.action for e in audit]
    assert "incident.task.remove" in actions and "incident.attachment.remove" in actions

    # the console: a button per task and per attachment, the timeline in Vietnamese
    again = client.post(f"{base}/tasks", json={"title": "Việc thừa"}, headers=h).json()["incident"]["tasks"]
    extra = client.post(f"{base}/attachments", files={"file": ("thua.txt", b"extra")}, headers=h).json()
    page = client.get(f"/incidents/{inc}").text
    token = form_csrf(page)
    assert f'action="/incidents/{inc}/tasks/{again[-1]["id"]}/remove"' in page
    for path in (f"/tasks/{again[-1]['id']}/remove", f"/attachments/{extra['id']}/remove"):
        resp = client.post(f"/incidents/{inc}{path}", data={"csrf_token": token}, follow_redirects=False)
        assert resp.status_code == 303, resp.text
    vi = client.get(f"/incidents/{inc}").text
    assert "xóa việc" in vi and "gỡ tệp đính kèm" in vi and "Việc thừa" in vi
    assert f"/attachments/{extra['id']}/remove" not in vi
