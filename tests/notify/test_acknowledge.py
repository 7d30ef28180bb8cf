"""The acknowledgement link works: the token from a real early warning, posted without signing in,
records who acknowledged and when on the alert (with the time it took) and in the audit log, stops
the escalation, and a forged, expired or unknown one is refused as a problem, never a 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.auth.testing import form_csrf
from notify.ack import sign_ack
from notify.stage import NotifyStage
from soc_core.alert import AlertStatus, Severity
from soc_core.settings import NotifySettings
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from socpipe.notify import store_acknowledged
from tests.backends import TEST_SECRET, app_context
from tests.notify.conftest import make_alert, registry
from tests.problems import problem

URL = "/api/v1/notify/acknowledge"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        yield c


def csrf(client: TestClient, page: str = "/login") -> dict[str, str]:
    """Like every unsafe request of the API, an acknowledgement carries the CSRF token of a page."""
    return {"x-csrf-token": form_csrf(client.get(page).text)}


def test_the_link_in_a_warning_acknowledges_its_alert_once(client: TestClient, store: Store) -> None:
    raised = datetime.now(UTC) - timedelta(minutes=10)
    alert = make_alert(1, severity=Severity.HIGH, at=raised)
    store.put_alerts([alert])
    store.refresh()
    stage = NotifyStage(
        NotifySettings(console_url="https://soc.tinh.gov.vn"),
        secret=TEST_SECRET,
        registry=registry,
        acknowledged=store_acknowledged(store),
    )
    [email] = [m for m in stage.offer([alert]) if m.recipient.channel == "email"]
    token = re.findall(r"https://soc\.tinh\.gov\.vn/acknowledge/(\S+)", email.text)[0]

    headers = csrf(client, f"/acknowledge/{token}")
    problem(client.post(URL, json={"token": token}, headers={"x-csrf-token": "wrong"}), 403)
    first = client.post(URL, json={"token": token}, headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["alert_id"] == alert.id and body["already"] is False
    assert body["acknowledged_by"] == "ack:email:an.tv@sotttt.gov.vn"
    assert 600 <= body["time_to_acknowledge_s"] < 700
    store.refresh()
    stored = store.get_alert(alert.id)
    assert stored is not None
    assert stored.triage.status is AlertStatus.ACKNOWLEDGED
    assert stored.triage.acknowledged_at is not None
    assert [(c.actor, c.field, c.new) for c in stored.triage.history] == [
        ("ack:email:an.tv@sotttt.gov.vn", "acknowledged", "email:an.tv@sotttt.gov.vn"),
        ("ack:email:an.tv@sotttt.gov.vn", "status", "acknowledged"),
    ]
    [entry] = store.search_audit(AuditQuery(action="alert.acknowledge")).items
    assert entry.actor == "ack:email:an.tv@sotttt.gov.vn" and entry.target_id == alert.id
    assert entry.details["time_to_acknowledge_s"] == body["time_to_acknowledge_s"]
    assert store_acknowledged(store)(alert.id)  # what stops the escalation

    again = client.post(URL, json={"token": token}, headers=headers).json()
    assert again["already"] is True and again["acknowledged_at"] == body["acknowledged_at"]
    assert store.search_audit(AuditQuery(action="alert.acknowledge")).total == 1


def test_forged_expired_and_unknown_links_are_refused(client: TestClient, store: Store) -> None:
    alert = make_alert(2, at=datetime.now(UTC))
    store.put_alerts([alert])
    store.refresh()
    now = datetime.now(UTC)
    forged = sign_ack("not-the-secret", alert.id, "email:x@y.vn", now + timedelta(hours=1))
    expired = sign_ack(TEST_SECRET, alert.id, "email:x@y.vn", now - timedelta(seconds=1))
    unknown = sign_ack(TEST_SECRET, "no-such-alert", "email:x@y.vn", now + timedelta(hours=1))
    h = csrf(client)
    problem(client.post(URL, json={"token": forged}, headers=h), 403)
    assert "expired" in problem(client.post(URL, json={"token": expired}, headers=h), 403)["detail"]
    problem(client.post(URL, json={"token": "%%%"}, headers=h), 403)
    problem(client.post(URL, json={"token": unknown}, headers=h), 404)
    problem(client.post(URL, json={}, headers=h), 422)
    store.refresh()
    stored = store.get_alert(alert.id)
    assert stored is not None and stored.triage.status is AlertStatus.NEW


def test_the_page_behind_the_link_asks_for_a_click_and_then_shows_the_acknowledgement(
    client: TestClient, store: Store
) -> None:
    alert = make_alert(3, host="<script>alert(1)</script>", at=datetime.now(UTC) - timedelta(minutes=20))
    store.put_alerts([alert])
    store.refresh()
    token = sign_ack(TEST_SECRET, alert.id, "telegram:100200300", datetime.now(UTC) + timedelta(hours=1))
    page = client.get(f"/acknowledge/{token}")
    assert page.status_code == 200
    assert "Xác nhận đã tiếp nhận cảnh báo sớm" in page.text and 'id="ack-button"' in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and "<script>alert(1)" not in page.text
    store.refresh()
    opened = store.get_alert(alert.id)
    assert opened is not None and opened.triage.acknowledged_at is None  # opening is not acknowledging
    done = client.post(
        f"/acknowledge/{token}", data={"csrf_token": form_csrf(page.text)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/acknowledge/{token}"
    after = client.get(f"/acknowledge/{token}")
    assert 'id="ack-done"' in after.text and 'id="ack-button"' not in after.text
    assert "Đã xác nhận tiếp nhận lúc" in after.text and "20 phút sau khi có cảnh báo" in after.text
    expired = sign_ack(TEST_SECRET, alert.id, "telegram:1", datetime.now(UTC) - timedelta(hours=1))
    refused = client.get(f"/acknowledge/{expired}")
    assert refused.status_code == 403 and "Liên kết này đã hết hiệu lực." in refused.text
    assert client.get("/acknowledge/garbage").status_code == 403
