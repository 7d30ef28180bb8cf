"""The reports in the API and the console: who may list, download and generate, every download
and generation in the audit log, bad input answered as a problem (4xx), never a 500."""

from __future__ import annotations

import hashlib

from api.auth.deps import Role
from api.auth.testing import form_csrf
from soc_core.store import AuditQuery
from tests.inspections.conftest import ClientFor, csrf
from tests.inspections.scenario import Scenario


def test_admin_generates_police_lists_and_downloads_audited(
    scenario: Scenario, client_for: ClientFor
) -> None:
    admin = client_for("admin", Role.ADMIN)
    made = admin.post("/api/v1/reports", json={"kind": "weekly"}, headers=csrf(admin))
    assert made.status_code == 201, made.text
    report = made.json()
    assert report["trigger"] == "manual" and report["generated_by"] == "admin"
    assert report["figures"]["kind"] == "weekly" and report["title"].startswith("Báo cáo tuần ")

    police = client_for("pa05", Role.POLICE)
    listed = police.get("/api/v1/reports")
    assert listed.status_code == 200
    [row] = listed.json()["items"]
    assert row["id"] == report["id"] and "figures" not in row
    pdf = police.get(f"/api/v1/reports/{report['id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert (
        pdf.headers["x-content-sha256"]
        == hashlib.sha256(pdf.content).hexdigest()
        == report["files"]["pdf"]["sha256"]
    )
    assert report["files"]["pdf"]["filename"] in pdf.headers["content-disposition"]
    docx = police.get(f"/api/v1/reports/{report['id']}.docx")
    assert docx.status_code == 200 and docx.content.startswith(b"PK")
    assert police.get(f"/api/v1/reports/{report['id']}").json()["figures"] == report["figures"]

    scenario.store.refresh()
    entries = scenario.store.search_audit(AuditQuery(target_id=report["id"], size=10)).items
    assert sorted((e.action, e.actor, e.details.get("format")) for e in entries) == [
        ("report.download", "pa05", "docx"),
        ("report.download", "pa05", "pdf"),
        ("report.generate", "admin", None),
    ]


def test_roles_and_bad_input(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    assert police.post("/api/v1/reports", json={"kind": "weekly"}, headers=csrf(police)).status_code == 403
    inspector = client_for("insp-yte", Role.INSPECTOR)
    assert inspector.get("/api/v1/reports").status_code == 403
    admin = client_for("admin", Role.ADMIN)
    for body in (
        {"kind": "daily"},
        {"kind": "weekly", "first": "2026-13-01"},
        {"kind": "weekly", "extra": 1},
    ):
        resp = admin.post("/api/v1/reports", json=body, headers=csrf(admin))
        assert resp.status_code == 422 and resp.headers["content-type"].startswith("application/problem+json")
    future = admin.post(
        "/api/v1/reports", json={"kind": "monthly", "first": "2099-01-01"}, headers=csrf(admin)
    )
    assert future.status_code == 422 and "not begun" in future.json()["detail"]
    for path in ("weekly-20260601-00000000000000000000", "..%2F..%2Fsocpipe", "x.pdf"):
        assert admin.get(f"/api/v1/reports/{path}").status_code == 404
    assert admin.get("/api/v1/reports/weekly-20260601-00000000000000000000.pdf").status_code == 404


def test_console_lists_reports_and_an_admin_generates_one(scenario: Scenario, client_for: ClientFor) -> None:
    admin = client_for("admin", Role.ADMIN)
    page = admin.get("/reports")
    assert page.status_code == 200 and "Chưa có báo cáo" in page.text and 'href="/reports"' in page.text
    made = admin.post(
        "/reports/generate",
        data={"csrf_token": form_csrf(page.text), "kind": "monthly"},
        follow_redirects=False,
    )
    assert made.status_code == 303 and made.headers["location"].startswith("/reports?made=monthly-")
    report_id = made.headers["location"].split("=", 1)[1]
    shown = admin.get(made.headers["location"]).text
    assert (
        f'href="/api/v1/reports/{report_id}.pdf"' in shown
        and f'href="/api/v1/reports/{report_id}.docx"' in shown
    )
    assert "Báo cáo tháng " in shown and "lập theo yêu cầu" in shown

    police = client_for("pa05", Role.POLICE)
    seen = police.get("/reports").text
    assert report_id in seen and 'action="/reports/generate"' not in seen  # no button for police
    viewer = client_for("viewer", Role.VIEWER)
    assert viewer.get("/reports").status_code == 403 and 'href="/reports"' not in viewer.get("/").text
