"""The unit dossier against a scenario built through the real pipeline, on SQLite and Elasticsearch.

What the inspection team must be able to rely on: the window holds exactly the unit's alerts of that
window (an alert forty days old is not in a ten-day scope), evidence uploaded on site is run through
the same detections and counted as evidence (never as telemetry, never in coverage), deadline
reminders do not inflate the counts, findings are judged against their 20-day deadline, and the
incident clocks come from the incident itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from api.auth.deps import Role
from api.inspections.jobs import send_reminders
from api.inspections.models import vn_today
from tests.inspections.conftest import ClientFor, upload
from tests.inspections.scenario import Scenario, guest_enabled, netsh_firewall_off

DAY = 86_400


def evidence_log(scenario: Scenario) -> bytes:
    """What the team copied from a workstation: Winlogbeat NDJSON, one event of last year included."""
    three_days = scenario.now - timedelta(days=3)
    lines = [
        netsh_firewall_off(three_days, "YTE-KT03.yte.local", 7001),
        guest_enabled(three_days + timedelta(minutes=1), "YTE-KT03.yte.local", 7002),
        netsh_firewall_off(scenario.now - timedelta(days=300), "YTE-KT03.yte.local", 7003),
    ]
    return ("\n".join(json.dumps(doc) for doc in lines) + "\n\n").encode()


def window(scenario: Scenario) -> dict[str, str]:
    return {"from": (scenario.today - timedelta(days=10)).isoformat(), "to": scenario.today.isoformat()}


def test_dossier_holds_the_units_record_for_the_window(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    resp = upload(
        insp, scenario.visit_recent, "YTE-KT03-winlogbeat.ndjson", evidence_log(scenario), format="winlogbeat"
    )
    assert resp.status_code == 201, resp.text
    kept = resp.json()
    assert (kept["records"], kept["events"], kept["alerts"], kept["deadletters"]) == (3, 3, 3, 0)
    send_reminders(store=scenario.store, repo=scenario.repo, days=30)  # bookkeeping alerts for so-yte
    scenario.store.refresh()

    d = insp.get("/api/v1/units/so-yte/dossier", params=window(scenario)).json()

    assert d["unit"] == {
        "id": "so-yte",
        "name": "Sở Y tế",
        "kind": "department",
        "parent_id": "tinh",
        "parent_name": "UBND tỉnh Ninh Bình",
        "security_contact": "Trần Văn An, 0912 000 111",
    }
    assert d["plan"]["id"] == scenario.plan_now and d["plan"]["number"] == "12/KH-TBANM"
    assert d["plan"]["visit_date"] == (scenario.today + timedelta(days=5)).isoformat()
    assert d["plan"]["self_assessment_state"] == "pending"

    # Systems with their level and its approval; the HIS never delivered, so never monitored.
    systems = {s["id"]: s for s in d["systems"]}
    assert [s["id"] for s in d["systems"]] == ["yte-portal", "yte-his"]
    assert (systems["yte-portal"]["level"], systems["yte-portal"]["level_approval"]) == (3, "approved")
    assert systems["yte-portal"]["monitored_now"] is True
    assert systems["yte-his"]["monitored_now"] is False and systems["yte-his"]["monitored_share"] == 0.0
    assert systems["yte-his"]["level_approval"] == "proposed"

    # Coverage now, and every gap of the window (the portal's closed at its first event).
    figures = {f["scope"]: (f["covered"], f["total"]) for f in d["coverage"]["figures"]}
    assert figures == {
        "all_systems": (1, 2),
        "important_systems": (1, 2),
        "level3_and_above": (1, 1),
        "endpoints": (1, 3),
    }
    gaps = {(g["kind"], g["subject_id"]): g for g in d["coverage"]["gaps"]}
    assert gaps[("source", "yte-his-web")]["end"] is None
    assert gaps[("source", "yte-his-web")]["reason"] == "never_connected"
    assert gaps[("system", "yte-portal")]["end"] is not None
    assert gaps[("endpoint", "yte-pc01")]["end"] is None
    assert gaps[("endpoint", "yte-pc02")]["end"] is not None
    assert not any(k[1].startswith("yt-") for k in gaps)  # the commune's gaps are not this unit's
    assert d["coverage"]["history"][-1] == {**d["coverage"]["history"][-1], "covered": 1, "total": 2}
    first_measured = min(g["start"] for g in d["coverage"]["gaps"])  # every gap opened at the first run
    assert datetime.fromisoformat(d["coverage"]["observed_from"]) == datetime.fromisoformat(first_measured)

    # Alerts: three live ones in the window (the 40-day-old one is outside), three from the evidence
    # (including last year's: evidence counts whenever it happened), no deadline reminders.
    a = d["alerts"]
    assert (a["total"], a["live"], a["from_evidence"]) == (6, 3, 3)
    assert a["by_severity"] == {"low": 0, "medium": 0, "high": 6, "critical": 0}
    by_code = {c["code"]: c for c in a["by_checklist"]}
    assert [c["code"] for c in a["by_checklist"]] == [f"VN-{n:02d}" for n in range(1, 13)]
    assert (by_code["VN-01"]["alerts"], by_code["VN-01"]["evidence_alerts"]) == (1, 0)
    assert (by_code["VN-02"]["alerts"], by_code["VN-02"]["evidence_alerts"]) == (3, 2)
    assert (by_code["VN-05"]["alerts"], by_code["VN-05"]["evidence_alerts"]) == (2, 1)
    assert by_code["VN-03"]["alerts"] == 0
    assert by_code["VN-06"]["observed"] == [
        "2/3 máy tính không có báo cáo của phần mềm phòng chống mã độc tập trung."
    ]
    assert by_code["VN-08"]["observed"][0].startswith(
        "1 hệ thống chưa được phê duyệt cấp độ: Phần mềm quản lý bệnh viện"
    )
    assert by_code["VN-07"]["observed"] == []  # the department named its security contact
    rules = {r["name"]: r["count"] for r in a["by_rule"]}
    assert rules["VN-02 Windows Firewall Turned Off From the Command Line"] == 3
    assert not any("Nhắc hạn" in name for name in rules)
    example = next(x for x in by_code["VN-02"]["examples"] if x["evidence"] is None)
    assert example["event"]["summary"] == "netsh advfirewall set allprofiles state off"
    assert example["host"] == "yte-pc01" and example["incident_id"] == scenario.incident
    from_evidence = [x for x in a["notable"] if x["evidence"]]
    assert {x["evidence"]["file_id"] for x in from_evidence} == {kept["id"]}
    assert all(x["evidence"]["visit_id"] == scenario.visit_recent for x in from_evidence)

    # Incidents with their clocks (detected two days ago at the alert, acknowledged and resolved now).
    inc = d["incidents"]
    assert (inc["total"], inc["open"], inc["acknowledged"], inc["resolved"]) == (1, 0, 1, 1)
    assert 2 * DAY - 600 < inc["items"][0]["time_to_acknowledge_s"] < 2 * DAY + 600
    assert inc["items"][0]["id"] == scenario.incident and inc["by_severity"]["high"] == 1

    # Findings of earlier visits, each judged against its deadline.
    f = d["findings"]
    assert (f["total"], f["on_time"], f["late"], f["overdue"], f["pending"]) == (4, 1, 1, 1, 1)
    outcome = {x["id"]: x["remediation"] for x in f["items"]}
    assert outcome == {
        scenario.findings["on_time"]: "on_time",
        scenario.findings["late"]: "late",
        scenario.findings["overdue"]: "overdue",
        scenario.findings["pending"]: "pending",
    }
    old = next(x for x in f["items"] if x["id"] == scenario.findings["overdue"])
    assert old["remediation_deadline"] == (scenario.today - timedelta(days=20)).isoformat()
    assert old["minutes_number"] == "15/BB-ĐKT"

    # Endpoints without anti-malware (the Defender heartbeat protects YTE-PC02).
    assert d["endpoints_total"] == 3
    assert [(e["hostname"], e["secret_documents"]) for e in d["endpoints_without_antimalware"]] == [
        ("YTE-MAT01", True),
        ("YTE-PC01", False),
    ]

    # The evidence file and its events, marked as evidence of the visit.
    assert len(d["evidence"]) == 1
    ev = d["evidence"][0]
    assert (
        ev["file"]["sha256"] == kept["sha256"]
        and ev["visit_date"] == (scenario.today - timedelta(days=5)).isoformat()
    )
    assert len(ev["events_shown"]) == 3
    assert {e["evidence"]["unit_id"] for e in ev["events_shown"]} == {"so-yte"}
    assert ev["events_shown"][0]["host"] == "yte-kt03"


def test_evidence_is_kept_by_hash_and_never_counts_as_telemetry(
    scenario: Scenario, client_for: ClientFor
) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    content = evidence_log(scenario)
    first = upload(insp, scenario.visit_recent, "kt03.ndjson", content)  # format sniffed per line
    assert first.status_code == 201, first.text
    again = upload(insp, scenario.visit_recent, "kt03-copy.ndjson", content)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    body = first.json()
    assert body["events"] == 3 and body["format"] is None

    fetched = insp.get(f"/api/v1/inspections/evidence/{body['id']}/content")
    assert fetched.status_code == 200 and fetched.content == content
    assert fetched.headers["x-content-sha256"] == body["sha256"]

    activity = scenario.store.source_activity()
    assert "evidence.so-yte" not in activity  # coverage never sees evidence
    listed = insp.get("/api/v1/inspections/evidence", params={"visit": scenario.visit_recent}).json()["items"]
    assert [f["id"] for f in listed] == [body["id"]]

    empty = upload(insp, scenario.visit_recent, "empty.log", b"")
    assert empty.status_code == 422
    unknown = upload(insp, scenario.visit_recent, "x.log", b"hello\n", format="no-such-format")
    assert unknown.status_code == 422
    other_system = upload(insp, scenario.visit_recent, "x.log", b"hello\n", system_id="yt-mot-cua")
    assert other_system.status_code == 422


def test_dossier_window_defaults_to_the_plan_scope(scenario: Scenario, client_for: ClientFor) -> None:
    insp = client_for("insp-yte", Role.INSPECTOR)
    d = insp.get("/api/v1/units/so-yte/dossier").json()
    start = datetime.fromisoformat(d["window_start"])
    assert start.astimezone(UTC) < datetime.now(UTC)
    # The scope of the upcoming visit: from the plan's scope start (today - 10 days, Vietnam time).
    assert vn_today(start) == scenario.today - timedelta(days=10)
    assert d["plan"]["id"] == scenario.plan_now
    assert insp.get("/api/v1/units/so-yte/dossier", params={"from": "01/07/2025"}).status_code == 422
    # An older window: the earlier plan, whose scope holds the forty-day-old firewall alert.
    old = insp.get(
        "/api/v1/units/so-yte/dossier",
        params={
            "from": (scenario.today - timedelta(days=120)).isoformat(),
            "to": (scenario.today - timedelta(days=40)).isoformat(),
        },
    ).json()
    assert old["plan"]["id"] == scenario.plan_old
    assert old["alerts"]["live"] == 1 and old["incidents"]["total"] == 0
    assert old["findings"]["total"] == 3  # the recent visit's finding came after this window
