"""SLA breaches in the incident metrics, on both stores: the detail and the list (API and console)
count the incident's alerts not acknowledged within their SLA, and those still waiting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from soc_core.alert import Alert
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(app_context(store)), base_url="https://testserver") as c:
        yield c


def test_incident_metrics_count_sla_breaches(
    client: TestClient, store: Store, seeded: dict[str, Alert]
) -> None:
    login(client, store, role=Role.ANALYST)
    headers = {"x-csrf-token": form_csrf(client.get("/alerts").text)}
    body = {"title": "Dò mật khẩu", "alert_ids": [a.id for a in seeded.values()]}
    created = client.post("/api/v1/incidents", json=body, headers=headers)
    assert created.status_code == 201, created.text
    incident_id = created.json()["incident"]["id"]
    store.refresh()
    detail = client.get(f"/api/v1/incidents/{incident_id}").json()
    # live high/critical: 5; not acknowledged in time: the two waiting and the one acknowledged late
    assert detail["sla"]["with_sla"] == 5
    assert (detail["sla"]["breached"], detail["sla"]["overdue"]) == (3, 2)
    assert detail["sla"]["worst_late_s"] >= 3600
    assert sum(1 for a in detail["alerts"] if a["sla_overdue"]) == 2
    listed = client.get("/api/v1/incidents").json()["items"]
    assert [i["sla"]["breached"] for i in listed] == [3]
    page = client.get(f"/incidents/{incident_id}").text
    assert "3 trên 5 cảnh báo" in page
    assert page.count('class="sla-badge sla-overdue"') == 3  # two alerts and the summary
    listing = client.get("/incidents").text
    assert f'data-incident="{incident_id}"><span class="sla-badge sla-overdue">3 (2)</span>' in listing
