"""Coverage API, exports and dashboard page, on both stores, with real roles."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.auth.deps import Role
from api.auth.service import create_api_token
from api.auth.testing import login
from api.coverage.jobs import CoverageJob
from soc_core.event import Event
from soc_core.store import Store
from socpipe.app import create_app
from socpipe.demo.province import SILENT_SOURCES, demo_registry
from tests.backends import app_context


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """The demo province with every source sending except the deliberately silent ones."""
    registry, _ = demo_registry()
    store.save_registry(registry)
    now = datetime.now(UTC)
    events = [
        Event.from_doc(
            {
                "@timestamp": now - timedelta(minutes=1),
                "message": "x",
                "event": {"id": f"e-{src.id}", "ingested": now - timedelta(minutes=1)},
                "soc": {"source": {"id": src.id}},
            }
        )
        for src in registry.sources
        if src.id not in SILENT_SOURCES
    ]
    store.put_events(events)
    store.refresh()
    ctx = app_context(store)
    repo = ctx.backend.coverage
    CoverageJob(store, repo).run(now=now - timedelta(minutes=2))
    CoverageJob(store, repo).run(now=now)
    yield TestClient(create_app(ctx))


def _token(store: Store, role: Role) -> dict[str, str]:
    token, _ = create_api_token(store=store, name=f"t-{role.value}", role=role, actor="test")
    return {"Authorization": f"Bearer {token}"}


def test_coverage_figures_match_the_demo_province(client: TestClient, store: Store) -> None:
    resp = client.get("/api/v1/coverage", headers=_token(store, Role.POLICE))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    important = next(f for f in body["figures"] if f["scope"] == "important_systems" and f["unit_id"] is None)
    # 20 important systems; 6 of them have a deliberately silent source (qlvb, ttdl and four communes/LĐLĐ).
    assert (important["covered"], important["total"]) == (14, 20)
    assert important["label"] == "14/20"
    systems = {s["id"]: s for s in body["systems"]}
    assert systems["qlvb"]["monitored"] is False
    assert {x["id"]: x["state"] for x in systems["qlvb"]["sources"]}["qlvb-iis"] == "never_connected"
    target = next(t for t in body["targets"] if t["target_id"] == "htttqt-100")
    assert target["state"] == "missed"  # deadline 15/08/2025 passed below 100%


def test_history_gaps_and_roles(client: TestClient, store: Store) -> None:
    police = _token(store, Role.POLICE)
    start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    history = client.get("/api/v1/coverage/history", params={"start": start}, headers=police).json()
    assert [(p["covered"], p["total"]) for p in history["points"]] == [(14, 20), (14, 20)]
    gaps = client.get("/api/v1/coverage/gaps?kind=source", headers=police).json()["items"]
    assert {g["subject_id"] for g in gaps} == set(SILENT_SOURCES)
    assert all(g["reason"] == "never_connected" and g["end"] is None for g in gaps)
    assert client.get("/api/v1/coverage").status_code == 401
    assert client.get("/api/v1/coverage", headers=_token(store, Role.INSPECTOR)).status_code == 403


def test_csv_and_pdf_exports(client: TestClient, store: Store) -> None:
    police = _token(store, Role.POLICE)
    csv_text = client.get("/api/v1/coverage/export.csv", headers=police).text
    assert "important_systems,,Toàn tỉnh,14,20,0.7000" in csv_text
    assert "qlvb,Hệ thống quản lý văn bản và điều hành,so-khcn,3,True,qlvb-iis,never_connected" in csv_text
    resp = client.get("/api/v1/coverage/export.pdf", headers=police)
    assert resp.headers["content-type"] == "application/pdf"
    text = " ".join(
        " ".join(page.extract_text() for page in PdfReader(io.BytesIO(resp.content)).pages).split()
    )
    assert "BÁO CÁO MỨC ĐỘ GIÁM SÁT" in text
    assert "HTTT quan trọng được giám sát" in text and "14" in text and "70,0%" in text
    assert "Hệ thống quản lý văn bản và điều hành" in text and "chưa kết nối" in text


def test_dashboard_page(client: TestClient, store: Store) -> None:
    assert client.get("/coverage", headers={"accept": "text/html"}, follow_redirects=False).status_code == 303
    login(client, store, role=Role.POLICE)
    page = client.get("/coverage").text
    assert "14/20" in page
    assert "Hệ thống quản lý văn bản và điều hành" in page
    assert "<svg" in page
