"""SLA breaches in the alert queue, on both stores: the `sla_*` fields of the API's alerts, the
`sla=breached` filter (with facets, tab counts and the CSV export following it), the badge and the
filter in the console, and the setting the SLAs come from."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from soc_core.alert import Alert
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context


def _client(store: Store, **settings: Any) -> TestClient:
    return TestClient(create_app(app_context(store, **settings)), base_url="https://testserver")


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with _client(store) as c:
        yield c


def _names(alerts: dict[str, Alert], items: list[dict[str, Any]]) -> set[str]:
    by_id = {a.id: name for name, a in alerts.items()}
    return {by_id[i["id"]] for i in items}


def test_alerts_say_when_they_are_due_and_how_late(
    client: TestClient, store: Store, seeded: dict[str, Alert]
) -> None:
    login(client, store, role=Role.VIEWER)
    page = client.get("/api/v1/alerts", params={"origin": "all", "size": 50})
    items = {_names(seeded, [i]).pop(): i for i in page.json()["items"]}
    assert len(items) == 7
    overdue = items["critical_overdue"]
    due = seeded["critical_overdue"].created_at + timedelta(minutes=15)
    assert datetime.fromisoformat(overdue["sla_due_at"]) == due
    assert overdue["sla_breached"] is overdue["sla_overdue"] is True
    assert 300 <= overdue["sla_late_s"] < 400
    assert items["high_overdue"]["sla_overdue"] is True and items["high_overdue"]["sla_late_s"] >= 3600
    in_time = items["high_in_time"]
    assert in_time["sla_due_at"] and in_time["sla_breached"] is False and in_time["sla_late_s"] is None
    late = items["high_acked_late"]
    assert late["sla_breached"] is True and late["sla_overdue"] is False
    assert late["sla_late_s"] == pytest.approx(1800, abs=1)
    assert items["critical_in_progress"]["sla_breached"] is False  # acknowledged after 5 min
    for no_sla in ("low", "evidence"):
        assert items[no_sla]["sla_due_at"] is None and items[no_sla]["sla_breached"] is False
    detail = client.get(f"/api/v1/alerts/{seeded['high_overdue'].id}").json()
    assert detail["alert"]["sla_overdue"] is True
    # the time to acknowledge runs from the alert's creation, as the SLA (its event is of 2025)
    detail = client.get(f"/api/v1/alerts/{seeded['high_acked_late'].id}").json()
    assert detail["time_to_acknowledge_s"] == pytest.approx(90 * 60, abs=1)


def test_the_breached_filter_selects_what_waits_past_its_sla(
    client: TestClient, store: Store, seeded: dict[str, Alert]
) -> None:
    login(client, store, role=Role.VIEWER)
    params = {"sla": "breached", "facets": "true"}
    page = client.get("/api/v1/alerts", params=params).json()
    assert _names(seeded, page["items"]) == {"critical_overdue", "high_overdue"}
    assert page["total"] == 2
    assert {f["value"]: f["count"] for f in page["facets"]["severity"]} == {"critical": 1, "high": 1}
    # evidence alerts have no SLA: asking for them with the filter is a 4xx, "all" keeps to live ones
    assert client.get("/api/v1/alerts", params={"sla": "breached", "origin": "evidence"}).status_code == 422
    everything = client.get("/api/v1/alerts", params={"sla": "breached", "origin": "all"}).json()
    assert everything["total"] == 2
    grouped = client.get("/api/v1/alerts", params={"sla": "breached", "collapse": "group"}).json()
    assert {a["sla_overdue"] for g in grouped["items"] for a in g["alerts"]} == {True}
    export = client.get("/api/v1/alerts/export.csv", params={"sla": "breached"})
    assert export.headers["x-total-count"] == "2"
    header, *rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert header[-3:] == ["sla_due_utc", "sla_breached", "sla_late_s"]
    assert {r[0]: r[-2] for r in rows} == {
        seeded["critical_overdue"].id: "true",
        seeded["high_overdue"].id: "true",
    }
    assert all(float(r[-1]) >= 300 for r in rows)
    news = client.get(
        "/api/v1/alerts/news",
        params={"sla": "breached", "since": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
    ).json()
    assert news["status_counts"]["new"] == 2
    assert client.get("/api/v1/alerts", params={"sla": "late"}).status_code == 422


def test_the_slas_come_from_the_settings(store: Store, seeded: dict[str, Alert]) -> None:
    with _client(store, notify={"sla_high_s": 3 * 3600, "sla_critical_s": 10 * 60}) as client:
        login(client, store, role=Role.VIEWER)
        page = client.get("/api/v1/alerts", params={"sla": "breached"}).json()
        assert _names(seeded, page["items"]) == {"critical_overdue"}  # the high one waits 2 h of 3
        one = client.get(f"/api/v1/alerts/{seeded['high_acked_late'].id}").json()["alert"]
        assert one["sla_breached"] is False  # acknowledged after 90 min, within 3 h


def test_the_queue_shows_a_badge_and_filters(
    client: TestClient, store: Store, seeded: dict[str, Alert]
) -> None:
    login(client, store, role=Role.VIEWER)
    queue = client.get("/alerts", params={"status": "all", "sort": "severity", "origin": "all"}).text
    assert queue.count('class="sla-badge sla-overdue"') == 2
    assert queue.count('class="sla-badge sla-late"') == 1
    assert 'id="filter-sla"' in queue
    breached = client.get("/alerts", params={"sla": "breached", "sort": "severity"}).text
    assert breached.count('class="alert-row') == 2
    assert '<option value="breached" selected' in breached
    page = client.get(f"/alerts/{seeded['critical_overdue'].id}").text
    assert 'id="sla"' in page and "sla-overdue" in page
