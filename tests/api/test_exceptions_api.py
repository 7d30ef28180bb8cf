"""The exceptions API against both stores: from a false-positive alert to a Sigma filter the detect
stage applies, its suppressed count, the listing, revoking, the audit lines, and 4xx problems."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sigma.collection import SigmaCollection

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from detections.state import RuleWatcher
from soc_core.event import Event
from soc_core.inspections import VN_TZ
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context, backend_of
from tests.detections.conftest import SYSMON, proc_rule
from tests.paging import items
from tests.problems import problem

RULE_ID = "00000000-0000-4000-8000-000000000001"
RULE = proc_rule("sel:\n    CommandLine|contains: 'vssadmin'\ncondition: sel").replace(
    "title: test rule", "title: Shadow copies touched"
)


def event(host: str = "fin-srv01", image: str = "C:\\Tools\\backup.exe") -> Event:
    return Event.from_doc(
        {
            "@timestamp": "2026-12-01T02:00:00Z",
            "event": {"id": f"ev-{host}-{image[-10:]}", "code": "1"},
            "host": {"name": host},
            "winlog": {
                "channel": SYSMON,
                "event_data": {"CommandLine": "vssadmin list shadows", "Image": image, "User": "SYSTEM"},
            },
            "soc": {"unit": {"id": "so-tc", "name": "Sở Tài chính"}, "system": {"id": "ke-toan"}},
        }
    )


@pytest.fixture
def engine(tmp_path: Path) -> DetectionEngine:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rule.yml").write_text(RULE, encoding="utf-8")
    return DetectionEngine([rules])


@pytest.fixture
def client(store: Store, engine: DetectionEngine) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test")
    ctx.detect_engine = engine
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        yield c


@pytest.fixture
def alert_id(store: Store, engine: DetectionEngine) -> str:
    ev = event()
    [match] = engine.match(ev.flat())
    alert = DetectStage.build_alert(match, ev)
    store.put_alerts([alert])
    store.refresh()
    return alert.id


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


def _in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def test_from_a_false_positive_alert_to_a_suppressed_match(
    client: TestClient, store: Store, engine: DetectionEngine, alert_id: str
) -> None:
    login(client, store, role=Role.ANALYST, username="an1")
    csrf = _csrf(client)
    body = {
        "alert_id": alert_id,
        "fields": ["winlog.event_data.Image"],
        "host": True,
        "reason": "nightly backup job",
        "expires_at": _in(30),
    }
    refused = client.post("/api/v1/exceptions/from-alert", json=body, headers=csrf)
    assert "false positive" in problem(refused, 409)["detail"]

    closed = client.patch(
        f"/api/v1/alerts/{alert_id}/triage", json={"status": "false_positive"}, headers=csrf
    )
    assert closed.status_code == 200, closed.text

    draft = client.get("/api/v1/exceptions/draft", params={"alert_id": alert_id}).json()
    fields = {f["name"]: f for f in draft["fields"]}
    assert fields["winlog.event_data.CommandLine"]["suggested"] is True
    assert fields["winlog.event_data.Image"] == {
        "name": "winlog.event_data.Image",
        "value": "C:\\Tools\\backup.exe",
        "suggested": False,
    }
    assert "@timestamp" not in fields and "event.id" not in fields
    assert (draft["unit_id"], draft["system_id"], draft["host_name"]) == ("so-tc", "ke-toan", "fin-srv01")

    created = client.post("/api/v1/exceptions/from-alert", json=body, headers=csrf)
    assert created.status_code == 201, created.text
    exc = created.json()
    assert exc["status"] == "active" and exc["alert_id"] == alert_id and exc["owner"] == "an1"
    assert exc["fields"] == {"winlog.event_data.Image": ["C:\\Tools\\backup.exe"], "host.name": ["fin-srv01"]}
    [parsed] = SigmaCollection.from_yaml(exc["sigma"], collect_filters=True).filters
    assert str(parsed.id) == exc["id"]

    store.refresh()
    [line] = store.search_audit(AuditQuery(action="exception.create")).items
    assert (line.actor, line.target_id) == ("an1", exc["id"])
    assert line.details["alert_id"] == alert_id and line.details["rule_id"] == RULE_ID

    # the detect side: picked up on the next tick, applied, counted, the count stored
    repo = backend_of(store).exceptions
    watcher = RuleWatcher(engine, None, exceptions=repo)
    watcher.tick()
    assert engine.match(event().flat()) == []
    assert engine.match(event(host="fin-srv02").flat())  # another host: still an alert
    assert engine.match(event(image="C:\\Tools\\evil.exe").flat())  # another program: still an alert
    tested = client.post("/api/v1/rules/test", json={"event": event().to_doc()}, headers=csrf).json()
    assert [(h["rule_id"], h["filtered_by"]) for h in tested["matched"]] == [(RULE_ID, [exc["id"]])]
    assert engine.suppressed_counts() == {exc["id"]: 1}  # testing counts nothing
    watcher.flush_counts()
    read = client.get(f"/api/v1/exceptions/{exc['id']}").json()
    assert read["suppressed"] == 1 and read["last_suppressed_at"] is not None

    revoked = client.post(
        f"/api/v1/exceptions/{exc['id']}/revoke", json={"reason": "job moved"}, headers=csrf
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_by"] == "an1"
    again = client.post(f"/api/v1/exceptions/{exc['id']}/revoke", headers=csrf)
    assert "revoked already" in problem(again, 409)["detail"]
    store.refresh()
    [line] = store.search_audit(AuditQuery(action="exception.revoke")).items
    assert line.target_id == exc["id"]
    assert line.details["changes"] == [
        {"field": "state", "old": "active", "new": "revoked", "reason": "job moved"}
    ]

    watcher = RuleWatcher(engine, None, exceptions=repo)
    watcher.tick()
    assert engine.match(event().flat())  # revoked: alerts again


def test_listing_filters_and_pages(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an1")
    csrf = _csrf(client)
    made = []
    for days, host in ((3, "a"), (60, "b"), (5, "c")):
        resp = client.post(
            "/api/v1/exceptions",
            json={
                "rule_id": RULE_ID,
                "host_name": f"ws-{host}",
                "fields": {"winlog.event_data.User": ["SYSTEM", "LOCAL SERVICE"]},
                "reason": "service account",
                "owner": "team-b",
                "expires_at": _in(days),
            },
            headers=csrf,
        )
        assert resp.status_code == 201, resp.text
        made.append(resp.json())
    assert made[0]["fields"]["host.name"] == ["ws-a"] and made[0]["owner"] == "team-b"
    assert made[0]["expiring_soon"] is True and made[1]["expiring_soon"] is False
    client.post(f"/api/v1/exceptions/{made[2]['id']}/revoke", headers=csrf)

    login(client, store, role=Role.VIEWER)
    every = items(client, "/api/v1/exceptions", size=1)
    assert [e["id"] for e in every] == [made[0]["id"], made[2]["id"], made[1]["id"]]  # soonest expiry first
    soon = client.get("/api/v1/exceptions", params={"expiring_within_days": 7}).json()
    assert [e["id"] for e in soon["items"]] == [made[0]["id"]]
    revoked = client.get("/api/v1/exceptions", params={"status": "revoked"}).json()
    assert [e["id"] for e in revoked["items"]] == [made[2]["id"]]
    assert client.get("/api/v1/exceptions", params={"rule": "nope"}).json()["total"] == 0
    forbidden = client.post(
        "/api/v1/exceptions",
        json={"rule_id": RULE_ID, "host_name": "x", "reason": "xyz", "expires_at": _in(1)},
        headers=_csrf(client),
    )
    problem(forbidden, 403)


BAD_CREATES: list[tuple[dict[str, Any], int, str]] = [
    ({"expires_at": _in(-1)}, 422, "future"),
    ({"expires_at": _in(400)}, 422, "at most 365 days"),
    ({"expires_at": "2027-01-01T00:00:00"}, 422, "timezone"),
    ({"rule_id": "no-such-rule"}, 422, "no such rule"),
    ({"fields": {}, "host_name": None}, 422, "at least one"),
    ({"fields": {"CommandLine": "x"}}, 422, "pattern"),
    ({"fields": {"host.name": []}}, 422, "at least 1"),
    ({"fields": {"host.name": ""}}, 422, "1 to 1000"),
    ({"fields": {"host.name": {"a": 1}}}, 422, "fields"),
    ({"reason": ""}, 422, "reason"),
    ({"bogus": 1}, 422, "bogus"),
]


@pytest.mark.parametrize(("change", "status", "detail"), BAD_CREATES)
def test_bad_input_is_a_4xx_problem(
    client: TestClient, store: Store, change: dict[str, Any], status: int, detail: str
) -> None:
    login(client, store, role=Role.ANALYST)
    body = {"rule_id": RULE_ID, "host_name": "ws1", "reason": "because", "expires_at": _in(10), **change}
    resp = client.post(
        "/api/v1/exceptions", json={k: v for k, v in body.items() if v is not None}, headers=_csrf(client)
    )
    found = problem(resp, status)
    assert detail in found["detail"] + str(found.get("errors", "")), found


def test_missing_things_and_bad_references(client: TestClient, store: Store, alert_id: str) -> None:
    login(client, store, role=Role.ANALYST)
    csrf = _csrf(client)
    problem(client.get("/api/v1/exceptions/00000000-0000-4000-8000-00000000abcd"), 404)
    problem(client.post("/api/v1/exceptions/00000000-0000-4000-8000-00000000abcd/revoke", headers=csrf), 404)
    problem(client.get("/api/v1/exceptions/draft", params={"alert_id": "nope"}), 404)
    problem(client.get("/api/v1/exceptions", params={"cursor": "not-a-cursor"}), 400)
    problem(client.get("/api/v1/exceptions", params={"status": "sleeping"}), 422)
    body = {"alert_id": "nope", "fields": ["host.name"], "reason": "because", "expires_at": _in(3)}
    problem(client.post("/api/v1/exceptions/from-alert", json=body, headers=csrf), 404)
    client.patch(f"/api/v1/alerts/{alert_id}/triage", json={"status": "false_positive"}, headers=csrf)
    body = {**body, "alert_id": alert_id, "fields": ["process.parent.executable"]}
    found = problem(client.post("/api/v1/exceptions/from-alert", json=body, headers=csrf), 422)
    assert "process.parent.executable" in found["detail"]


def test_console_offers_the_form_creates_lists_and_revokes(
    client: TestClient, store: Store, engine: DetectionEngine, alert_id: str
) -> None:
    login(client, store, role=Role.ANALYST, username="an1")
    page = client.get(f"/alerts/{alert_id}").text
    assert "create-exception-link" not in page  # not closed as a false positive yet
    assert "close-first" in client.get(f"/alerts/{alert_id}/exception").text
    token = form_csrf(page)
    client.post(f"/alerts/{alert_id}", data={"status": "false_positive", "csrf_token": token})
    assert "create-exception-link" in client.get(f"/alerts/{alert_id}").text

    form = client.get(f"/alerts/{alert_id}/exception")
    assert form.status_code == 200
    assert 'value="winlog.event_data.CommandLine" id="pick-' in form.text  # offered...
    token = form_csrf(form.text)
    data: dict[str, Any] = {
        "csrf_token": token,
        "pick": ["winlog.event_data.Image", "winlog.event_data.User"],
        "value:winlog.event_data.Image": "C:\\Tools\\backup.exe",
        "value:winlog.event_data.User": "NT AUTHORITY\\SYSTEM",  # edited
        "scope": ["host", "unit"],
        "reason": "nightly backup",
        "owner": "",
        # a day in Asia/Ho_Chi_Minh, as the form reads it (after 17:00 UTC it is already tomorrow there)
        "expires": (datetime.now(VN_TZ) + timedelta(days=10)).date().isoformat(),
    }
    bad = client.post(f"/alerts/{alert_id}/exception", data={**data, "reason": "x"})
    assert bad.status_code == 422 and "exception-error" in bad.text
    assert ">x</textarea>" in bad.text  # the form comes back with what was typed
    assert 'value="NT AUTHORITY\\SYSTEM"' in bad.text
    done = client.post(f"/alerts/{alert_id}/exception", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    [exc] = backend_of(store).exceptions.list_all()
    assert exc.fields == {
        "winlog.event_data.Image": ["C:\\Tools\\backup.exe"],
        "winlog.event_data.User": ["NT AUTHORITY\\SYSTEM"],
        "soc.unit.id": ["so-tc"],
        "host.name": ["fin-srv01"],
    }
    assert exc.owner == "an1" and exc.expires_at > datetime.now(UTC) + timedelta(days=10)

    listing = client.get("/exceptions").text
    assert f'id="exception-{exc.id}"' in listing and "expiring-soon" not in listing
    soon = client.post(
        "/api/v1/exceptions",
        json={"rule_id": RULE_ID, "host_name": "ws9", "reason": "short one", "expires_at": _in(2)},
        headers=_csrf(client),
    ).json()
    listing = client.get("/exceptions").text
    assert f'id="exception-{soon["id"]}" class="exception-active expiring-soon"' in listing

    token = form_csrf(listing)
    client.post(f"/exceptions/{exc.id}/revoke", data={"csrf_token": token, "reason": "moved"})
    assert f'id="exception-{exc.id}"' not in client.get("/exceptions").text
    assert f'id="exception-{exc.id}"' in client.get("/exceptions", params={"status": "revoked"}).text
    client.cookies.set("lang", "vi")
    assert "Ngoại lệ" in client.get("/exceptions").text
