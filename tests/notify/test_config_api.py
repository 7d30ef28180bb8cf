"""The routing rules and guidance through the JSON API: read by any signed-in role, saved by an admin as
a new version (a bad text is a 422 problem naming the rule and field, never saved; a stale base is a
409), every save audited (on both stores) with who, why and the changed lines, previous versions readable."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context

NEW_RULES = "rules:\n  - name: chỉ-nghiêm-trọng\n    min_severity: critical\n    oncall: true\n"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


def test_an_admin_saves_versions_that_are_audited_and_kept(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ADMIN, username="quantri")
    headers = _csrf(client)
    seed = client.get("/api/v1/notify/config/routing").json()
    assert seed["version"] == 0 and "high-and-critical" in seed["text"] and seed["author"] is None
    body = {"text": NEW_RULES, "reason": "Giảm tin nhắn ban đêm", "base_version": 0}
    saved = client.put("/api/v1/notify/config/routing", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1 and saved.json()["author"] == "quantri"
    second = {
        "text": NEW_RULES + "  - name: usb\n    checklist: [VN-10]\n    oncall: true\n",
        "reason": "USB",
    }
    assert client.put(
        "/api/v1/notify/config/routing", json={**second, "base_version": 1}, headers=headers
    ).is_success
    assert client.get("/api/v1/notify/config/routing").json()["version"] == 2
    versions = client.get("/api/v1/notify/config/routing/versions").json()
    assert [(v["version"], v["reason"]) for v in versions] == [
        (2, "USB"),
        (1, "Giảm tin nhắn ban đêm"),
        (0, None),
    ]
    assert client.get("/api/v1/notify/config/routing/versions/1").json()["text"] == NEW_RULES
    assert client.get("/api/v1/notify/config/routing/versions/9").status_code == 404
    store.refresh()
    [first, latest] = sorted(
        store.search_audit(AuditQuery(action="notify.config.save")).items, key=lambda e: e.details["version"]
    )
    assert first.actor == "quantri" and first.target_id == "routing"
    assert first.details["reason"] == "Giảm tin nhắn ban đêm" and first.details["previous_version"] == 0
    assert "+  - name: chỉ-nghiêm-trọng" in first.details["diff"]
    assert "+  - name: usb" in latest.details["diff"] and "-  - name: chỉ" not in latest.details["diff"]


def test_a_bad_rule_is_a_422_naming_the_rule_and_field_and_nothing_is_saved(
    client: TestClient, store: Store
) -> None:
    login(client, store, role=Role.ADMIN, username="quantri")
    text = NEW_RULES + "  - name: usb\n    to: ['fax:0241234567']\n"
    answer = client.put(
        "/api/v1/notify/config/routing",
        json={"text": text, "reason": "thử", "base_version": 0},
        headers=_csrf(client),
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    [error] = answer.json()["errors"]
    assert error["location"] == "rules.1.to" and error["message"].startswith(
        'rule "usb" (number 2), field "to"'
    )
    assert client.get("/api/v1/notify/config/routing").json()["version"] == 0
    store.refresh()
    assert store.search_audit(AuditQuery(action="notify.config.save")).items == []


def test_a_save_over_a_newer_version_is_a_conflict(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ADMIN, username="quantri")
    headers = _csrf(client)
    body = {"text": NEW_RULES, "reason": "một", "base_version": 0}
    assert client.put("/api/v1/notify/config/routing", json=body, headers=headers).status_code == 200
    stale = client.put("/api/v1/notify/config/routing", json={**body, "reason": "hai"}, headers=headers)
    assert stale.status_code == 409
    assert client.get("/api/v1/notify/config/routing").json()["reason"] == "một"
    blank = client.put(
        "/api/v1/notify/config/guidance", json={**body, "reason": "  ", "base_version": 0}, headers=headers
    )
    assert blank.status_code == 422


def test_only_an_admin_saves(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ANALYST, username="an")
    assert client.get("/api/v1/notify/config/guidance").json()["version"] == 0
    answer = client.put(
        "/api/v1/notify/config/guidance",
        json={"text": "default: {why: x, do: [y]}", "reason": "thử", "base_version": 0},
        headers=_csrf(client),
    )
    assert answer.status_code == 403
    assert client.get("/api/v1/notify/config/bogus").status_code == 422
    login(client, store, role=Role.INSPECTOR, username="thanhtra")
    assert client.get("/api/v1/notify/config/routing").status_code == 403  # the contacts' addresses
