"""Findings and their deadlines, reminders, self-assessment reports, ad-hoc suggestions and the audit
trail, on both stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from api.auth.deps import Role
from api.inspections.jobs import REMINDER_RULE, send_reminders
from api.inspections.models import Finding, FindingStatus, PlanUnit
from api.inspections.suggestions import suggest_adhoc
from soc_core.store import AlertSearch, AuditQuery
from tests.inspections.conftest import ClientFor, csrf
from tests.inspections.scenario import Scenario
from tests.problems import problem


def test_finding_deadline_status_and_audit(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    visit = insp.post(
        "/api/v1/inspections/visits",
        json={
            "plan_id": scenario.plan_now,
            "unit_id": "so-yte",
            "minutes_number": "21/BB-ĐKT",
            "minutes_date": "2026-06-03",
        },
        headers=csrf(insp),
    )
    assert visit.status_code == 201, visit.text
    v = visit.json()
    assert v["visit_date"] == (scenario.today + timedelta(days=5)).isoformat()  # the planned date
    created = insp.post(
        f"/api/v1/inspections/visits/{v['id']}/findings",
        json={
            "checklist_code": "VN-02",
            "description": "Máy trạm tắt Windows Firewall",
            "severity": "high",
            "alert_ids": [scenario.alerts["VN-02"].id],
            "incident_ids": [scenario.incident],
        },
        headers=csrf(insp),
    )
    assert created.status_code == 201, created.text
    f = created.json()["finding"]
    assert f["remediation_deadline"] == "2026-06-23"  # the minutes' date + 20 days
    assert f["status"] == "open" and f["evidence"]["alert_ids"] == [scenario.alerts["VN-02"].id]

    done = insp.patch(
        f"/api/v1/inspections/findings/{f['id']}",
        json={
            "status": "remediated",
            "remediated_at": "2026-06-20T09:00:00+07:00",
            "remediation_note": "Đã bật lại",
        },
        headers=csrf(insp),
    )
    assert done.status_code == 200 and done.json()["remediation"] == "on_time"
    verified = insp.patch(
        f"/api/v1/inspections/findings/{f['id']}", json={"status": "verified"}, headers=csrf(insp)
    )
    body = verified.json()["finding"]
    assert body["verified_by"] == "insp-yte" and body["remediated_at"].startswith("2026-06-20")
    assert [h["field"] for h in body["history"]][-6:] == [
        "remediation_note",
        "status",
        "remediated_at",
        "status",
        "verified_at",
        "verified_by",
    ]

    # Evidence must be the unit's own.
    commune_alert = scenario.store.search_alert_queue(AlertSearch(unit_id="xa-yen-thang")).items[0]
    bad = insp.post(
        f"/api/v1/inspections/visits/{v['id']}/findings",
        json={"description": "x", "alert_ids": [commune_alert.id]},
        headers=csrf(insp),
    )
    assert problem(bad, 422)["detail"] == "the alert belongs to another unit"
    assert (
        insp.post(
            f"/api/v1/inspections/visits/{v['id']}/findings",
            json={"description": "x", "checklist_code": "VN-13"},
            headers=csrf(insp),
        ).status_code
        == 422
    )

    scenario.store.refresh()
    actions = [e.action for e in scenario.store.search_audit(AuditQuery(target_id=f["id"], size=50)).items]
    assert actions.count("inspection.finding.update") == 2 and "inspection.finding.create" in actions
    plan_audit = scenario.store.search_audit(AuditQuery(action="inspection.plan.create", size=50)).items
    assert {e.target_id for e in plan_audit} >= {scenario.plan_old, scenario.plan_now, scenario.plan_xa}
    assert {e.actor for e in plan_audit} == {"pa05"}


def test_overdue_findings_for_the_police(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    overdue = police.get("/api/v1/inspections/findings/overdue").json()["items"]
    assert [r["finding"]["id"] for r in overdue] == [scenario.findings["overdue"]]
    assert overdue[0]["days_left"] == -20 and overdue[0]["unit_name"] == "Sở Y tế"
    page = police.get("/inspections", headers={"accept": "text/html"}).text
    assert "chưa cài phần mềm phòng chống mã độc tập trung" in page


def test_reminders_are_sent_once_and_land_in_the_queue(scenario: Scenario, client_for: ClientFor) -> None:
    first = send_reminders(store=scenario.store, repo=scenario.repo, days=3)
    kinds = sorted((r.kind.value, r.finding_id or r.plan_id) for r in first)
    # Due within 3 days: the self-assessment report (in 2 days); overdue: the old finding.
    assert kinds == [
        ("finding_overdue", scenario.findings["overdue"]),
        ("self_assessment_due", scenario.plan_now),
    ]
    assert send_reminders(store=scenario.store, repo=scenario.repo, days=3) == []
    later = send_reminders(store=scenario.store, repo=scenario.repo, days=20)
    assert sorted((r.kind.value, r.finding_id or r.plan_id) for r in later) == [
        ("finding_due", scenario.findings["pending"]),  # 15 days left
        ("self_assessment_due", scenario.plan_xa),  # the commune reports in 13 days
    ]
    scenario.store.refresh()
    queued = scenario.store.search_alert_queue(
        AlertSearch(rule_id=REMINDER_RULE.id, unit_id="so-yte", size=10)
    ).items
    assert len(queued) == 3 and all(a.soc.unit.name == "Sở Y tế" for a in queued)
    overdue_alert = next(a for a in queued if "quá hạn" in str(a.event["message"]))
    assert overdue_alert.severity.value == "medium"
    police = client_for("pa05", Role.POLICE)
    listed = police.get("/api/v1/inspections/reminders", params={"unit": "so-yte"}).json()["items"]
    assert len(listed) == 3
    # Receiving the report settles it: the next horizon does not remind again.
    insp = client_for("insp-yte", Role.INSPECTOR)
    resp = insp.post(
        f"/api/v1/inspections/plans/{scenario.plan_now}/units/so-yte/self-assessment",
        json={},
        headers=csrf(insp),
    )
    assert resp.status_code == 200
    state = next(u for u in resp.json()["units"] if u["unit_id"] == "so-yte")
    assert state["self_assessment_state"] == "received"


def test_ad_hoc_suggestions_name_the_reason(scenario: Scenario, client_for: ClientFor) -> None:
    send_reminders(store=scenario.store, repo=scenario.repo, days=30)  # never a sign of violation
    scenario.store.refresh()
    found = suggest_adhoc(
        store=scenario.store,
        repo=scenario.repo,
        principal=scenario.police,
        high_threshold=3,
        checklist_threshold=10,
    )
    assert [s.unit_id for s in found] == ["so-yte"]
    assert found[0].high_alerts == 3 and found[0].checklist_hits == {"VN-01": 1, "VN-02": 1, "VN-05": 1}
    assert found[0].reasons == ["3 cảnh báo mức Cao/Nghiêm trọng trong 7 ngày (ngưỡng 3)"]
    assert found[0].planned_visit == scenario.today + timedelta(days=5)
    both = suggest_adhoc(
        store=scenario.store,
        repo=scenario.repo,
        principal=scenario.police,
        high_threshold=50,
        checklist_threshold=1,
    )
    assert {s.unit_id for s in both} == {"so-yte", "xa-yen-thang"}
    xa = next(s for s in both if s.unit_id == "xa-yen-thang")
    assert (
        xa.reasons == ["1 dấu hiệu theo danh mục kiểm tra trong 7 ngày (VN-02 ×1; ngưỡng 1)"]
        and xa.planned_visit is not None
    )
    # An inspector is told only about their own units.
    insp = client_for("insp-yte", Role.INSPECTOR)
    mine = insp.get("/api/v1/inspections/suggestions", params={"high": 50, "checklist": 1}).json()["items"]
    assert [s["unit_id"] for s in mine] == ["so-yte"]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_plan_validation(scenario: Scenario, client_for: ClientFor) -> None:
    police = client_for("pa05", Role.POLICE)
    base = {
        "title": "Kế hoạch",
        "scope_start": "2026-01-01",
        "units": [{"unit_id": "so-yte", "visit_date": "2026-02-10"}],
    }
    ok = police.post("/api/v1/inspections/plans", json=base, headers=csrf(police))
    assert ok.status_code == 201
    assert ok.json()["units"][0]["self_assessment_due"] == "2026-02-03"  # seven days before the visit
    cases = [
        ({"team": [{"user": "analyst"}]}, "team members must have the inspector role"),
        ({"team": [{"user": "nobody"}]}, "no such active user"),
        ({"units": [{"unit_id": "khong-co", "visit_date": "2026-02-10"}]}, "units not in the registry"),
        (
            {"units": [{"unit_id": "so-yte", "visit_date": "2025-12-01"}]},
            "a visit is scheduled before the scope start",
        ),
    ]
    for change, message in cases:
        resp = police.post("/api/v1/inspections/plans", json={**base, **change}, headers=csrf(police))
        assert problem(resp, 422)["detail"] == message
    plan_id = ok.json()["plan"]["id"]
    patched = police.patch(
        f"/api/v1/inspections/plans/{plan_id}",
        json={"team": [{"user": "insp-xa", "team_role": "secretary"}]},
        headers=csrf(police),
    )
    assert patched.json()["plan"]["team"][0]["username"] == "insp-xa"
    other = client_for("insp-xa", Role.INSPECTOR)
    assert other.get("/api/v1/units/so-yte/dossier").status_code == 200  # now on a plan for so-yte


@pytest.mark.parametrize(
    ("remediated", "today", "expected"),
    [
        (datetime(2026, 6, 23, 16, 59, tzinfo=UTC), date(2026, 7, 1), "on_time"),  # 23:59 in Vietnam
        (datetime(2026, 6, 23, 17, 1, tzinfo=UTC), date(2026, 7, 1), "late"),  # 00:01 the next day
        (None, date(2026, 6, 23), "pending"),
        (None, date(2026, 6, 24), "overdue"),
    ],
)
def test_remediation_is_judged_on_the_vietnamese_calendar(
    remediated: datetime | None, today: date, expected: str
) -> None:
    at = datetime(2026, 6, 1, tzinfo=UTC)
    finding = Finding(
        id="TT-1",
        visit_id="KT-1",
        plan_id="KH-1",
        unit_id="so-yte",
        description="x",
        minutes_date=date(2026, 6, 3),
        remediation_deadline=date(2026, 6, 23),
        status=FindingStatus.REMEDIATED if remediated else FindingStatus.OPEN,
        remediated_at=remediated,
        created_at=at,
        created_by="t",
        updated_at=at,
    )
    now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=5)
    assert finding.remediation(now) == expected


def test_self_assessment_states() -> None:
    unit = PlanUnit(unit_id="so-yte", visit_date=date(2026, 6, 3), self_assessment_due=date(2026, 5, 27))
    assert unit.self_assessment_state(datetime(2026, 5, 27, 16, tzinfo=UTC)) == "pending"
    assert unit.self_assessment_state(datetime(2026, 5, 27, 17, 30, tzinfo=UTC)) == "overdue"
    late = unit.model_copy(update={"self_assessment_received_at": datetime(2026, 5, 28, 2, tzinfo=UTC)})
    assert late.self_assessment_state(datetime(2026, 6, 1, tzinfo=UTC)) == "received_late"
