"""One province, built through the real pipeline, for the inspection tests.

Two units: the Department of Health (`so-yte`, two systems, two tracked computers) and a commune
(`xa-yen-thang`). Live Windows events go in as Winlogbeat JSON through `EmbeddedPipeline` (the
normalize stage with the registry, the detect stage with the provincial rule pack), the coverage job
measures before and after, an analyst groups an alert into an incident and handles it, and two plans
schedule visits: an earlier one whose findings were remediated on time, late, or not at all, and the
current one whose scope starts ten days ago. Inspector `insp-yte` is on both plans of the department;
`insp-xa` is on the commune's plan only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from api.auth.deps import Principal, Role
from api.auth.testing import ensure_user
from api.coverage.jobs import CoverageJob
from api.incidents import service as incidents
from api.incidents.models import IncidentCreate, IncidentUpdate
from api.inspections import service
from api.inspections.models import (
    FindingCreate,
    FindingStatus,
    FindingUpdate,
    PlanCreate,
    PlanUnitIn,
    TeamMemberIn,
    TeamRole,
    VisitCreate,
    vn_today,
)
from detections.cli import PACKAGED_RULES
from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from normalizers.stage import NormalizeStage
from soc_core.alert import Alert, IncidentStatus, Severity
from soc_core.coverage import CoverageRepository
from soc_core.inspections import InspectionRepository
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import RawRecord, record_id
from soc_core.registry import (
    ApprovalStatus,
    Endpoint,
    InformationSystem,
    LogSource,
    Registry,
    Unit,
    UnitKind,
)
from soc_core.registry_cache import RegistryCache
from soc_core.store import AlertSearch, Store
from tests.backends import backend_of

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def winlog(
    at: datetime, computer: str, channel: str, provider: str, event_id: int, data: dict[str, str], rec: int
) -> dict[str, Any]:
    """A Winlogbeat 8 document, as the agents on the province's Windows machines ship them."""
    return {
        "@timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "agent": {"type": "winlogbeat", "version": "8.15.0"},
        "host": {"name": computer.split(".")[0].lower()},
        "event": {"code": str(event_id), "provider": provider, "created": at.isoformat()},
        "winlog": {
            "channel": channel,
            "provider_name": provider,
            "event_id": event_id,
            "computer_name": computer,
            "record_id": rec,
            "event_data": data,
        },
    }


def netsh_firewall_off(at: datetime, computer: str, rec: int) -> dict[str, Any]:
    return winlog(
        at,
        computer,
        SYSMON,
        "Microsoft-Windows-Sysmon",
        1,
        {
            "Image": "C:\\Windows\\System32\\netsh.exe",
            "OriginalFileName": "netsh.exe",
            "CommandLine": "netsh advfirewall set allprofiles state off",
            "User": "YTE\\ketoan",
            "ParentImage": "C:\\Windows\\System32\\cmd.exe",
            "ProcessId": "4242",
        },
        rec,
    )


def kms_activator(at: datetime, computer: str, rec: int) -> dict[str, Any]:
    return winlog(
        at,
        computer,
        SYSMON,
        "Microsoft-Windows-Sysmon",
        1,
        {
            "Image": "C:\\Users\\Public\\Downloads\\KMSAuto Net.exe",
            "OriginalFileName": "KMSAuto Net.exe",
            "CommandLine": '"C:\\Users\\Public\\Downloads\\KMSAuto Net.exe" /win=act /ofs=act',
            "User": "YTE\\vanthu",
            "ParentImage": "C:\\Windows\\explorer.exe",
            "ProcessId": "5151",
        },
        rec,
    )


def guest_enabled(at: datetime, computer: str, rec: int) -> dict[str, Any]:
    return winlog(
        at,
        computer,
        "Security",
        "Microsoft-Windows-Security-Auditing",
        4722,
        {
            "TargetUserName": "Guest",
            "TargetDomainName": computer.split(".")[0].upper(),
            "TargetSid": "S-1-5-21-1004336348-1177238915-682003330-501",
            "SubjectUserName": "admin",
            "SubjectDomainName": "YTE",
            "SubjectLogonId": "0x3e7",
        },
        rec,
    )


def logon(at: datetime, computer: str, rec: int) -> dict[str, Any]:
    return winlog(
        at,
        computer,
        "Security",
        "Microsoft-Windows-Security-Auditing",
        4624,
        {"TargetUserName": "ketoan", "TargetDomainName": "YTE", "LogonType": "2", "IpAddress": "-"},
        rec,
    )


def defender_heartbeat(at: datetime, computer: str, rec: int) -> dict[str, Any]:
    return winlog(
        at,
        computer,
        "Microsoft-Windows-Windows Defender/Operational",
        "Microsoft-Windows-Windows Defender",
        1150,
        {"Product Name": "Microsoft Defender Antivirus", "Platform version": "4.18.24090.11"},
        rec,
    )


def province() -> Registry:
    return Registry(
        units=[
            Unit(id="tinh", name="UBND tỉnh Ninh Bình", kind=UnitKind.PROVINCE),
            Unit(
                id="so-yte",
                name="Sở Y tế",
                kind=UnitKind.DEPARTMENT,
                parent_id="tinh",
                security_contact="Trần Văn An, 0912 000 111",
            ),
            Unit(id="xa-yen-thang", name="UBND xã Yên Thắng", kind=UnitKind.COMMUNE, parent_id="tinh"),
        ],
        systems=[
            InformationSystem(
                id="yte-portal",
                name="Cổng thông tin Sở Y tế",
                unit_id="so-yte",
                level=3,
                level_approval=ApprovalStatus.APPROVED,
                important=True,
            ),
            InformationSystem(
                id="yte-his",
                name="Phần mềm quản lý bệnh viện",
                unit_id="so-yte",
                level=2,
                level_approval=ApprovalStatus.PROPOSED,
                important=True,
            ),
            InformationSystem(id="yt-mot-cua", name="Một cửa xã Yên Thắng", unit_id="xa-yen-thang", level=2),
        ],
        sources=[
            LogSource(
                id="yte-win", name="Máy chủ cổng (Winlogbeat)", system_id="yte-portal", format="winlogbeat"
            ),
            LogSource(id="yte-his-web", name="Web HIS", system_id="yte-his", format="web_access"),
            LogSource(id="yt-win", name="Một cửa (Winlogbeat)", system_id="yt-mot-cua", format="winlogbeat"),
        ],
        endpoints=[
            Endpoint(id="yte-pc01", hostname="YTE-PC01", unit_id="so-yte"),
            Endpoint(id="yte-pc02", hostname="YTE-PC02", unit_id="so-yte"),
            Endpoint(id="yte-mat01", hostname="YTE-MAT01", unit_id="so-yte", secret_documents=True),
        ],
    )


@dataclass
class Scenario:
    store: Store
    repo: InspectionRepository
    coverage: CoverageRepository
    detect: DetectStage
    now: datetime
    today: date
    police: Principal
    insp_yte: Principal
    insp_xa: Principal
    analyst: Principal
    plan_old: str = ""
    plan_now: str = ""
    plan_xa: str = ""
    visit_old: str = ""
    visit_recent: str = ""
    findings: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    incident: str = ""


def principal(store: Store, username: str, role: Role) -> Principal:
    ensure_user(store, username, role)
    user = store.get_user_by_name(username)
    assert user is not None
    return Principal(user_id=user.id, username=user.username, role=role, display_name=user.display_name)


def engine(cache_dir: Path | None = None) -> DetectionEngine:
    return DetectionEngine.from_folders([PACKAGED_RULES], cache_dir=cache_dir)


def ingest(pipeline: EmbeddedPipeline, source: str, docs: list[dict[str, Any]]) -> None:
    records = []
    for doc in docs:
        payload = json.dumps(doc)
        records.append(
            RawRecord(id=record_id(source, payload), source_id=source, format="winlogbeat", payload=payload)
        )
    outcome = pipeline.ingest(records)
    assert not outcome.deadletters, [d.reason for d in outcome.deadletters]


def build(store: Store, detect: DetectStage) -> Scenario:
    store.save_registry(province())
    registry = RegistryCache(store)
    registry.reload()
    backend = backend_of(store)
    coverage, repo = backend.coverage, backend.inspections
    now = datetime.now(UTC)
    sc = Scenario(
        store=store,
        repo=repo,
        coverage=coverage,
        detect=detect,
        now=now,
        today=vn_today(now),
        police=principal(store, "pa05", Role.POLICE),
        insp_yte=principal(store, "insp-yte", Role.INSPECTOR),
        insp_xa=principal(store, "insp-xa", Role.INSPECTOR),
        analyst=principal(store, "analyst", Role.ANALYST),
    )

    # Coverage is measured an hour before any event arrives: every source and computer opens a gap.
    job = CoverageJob(store, coverage)
    job.run(now - timedelta(hours=1))

    pipeline = EmbeddedPipeline(store, NormalizeStage(registry.context), SuppressingDetect(detect))
    two_days = now - timedelta(days=2)
    ingest(
        pipeline,
        "yte-win",
        [
            netsh_firewall_off(two_days, "YTE-PC01.yte.local", 1001),
            kms_activator(two_days + timedelta(minutes=5), "YTE-PC01.yte.local", 1002),
            guest_enabled(two_days + timedelta(minutes=9), "YTE-PC01.yte.local", 1003),
            logon(two_days + timedelta(minutes=12), "YTE-PC01.yte.local", 1004),
            defender_heartbeat(now - timedelta(minutes=3), "YTE-PC02.yte.local", 1005),
            # Outside the current scope (forty days ago): counted by the earlier plan only.
            netsh_firewall_off(now - timedelta(days=40), "YTE-PC01.yte.local", 1006),
        ],
    )
    ingest(pipeline, "yt-win", [netsh_firewall_off(two_days, "YT-PC07.yenthang.local", 2001)])
    store.refresh()
    job.run(datetime.now(UTC))  # yte-win delivers now: its gap closes at its first event

    for alert in store.search_alert_queue(AlertSearch(unit_id="so-yte", size=100)).items:
        for code in alert.checklist:
            if alert.timestamp > now - timedelta(days=10):
                sc.alerts[code] = alert
    assert {"VN-01", "VN-02", "VN-05"} <= set(sc.alerts), sorted(sc.alerts)

    # An analyst groups the firewall alert into an incident, takes it and resolves it.
    inc = incidents.create(
        store=store,
        data=IncidentCreate(title="Tắt tường lửa trên YTE-PC01", alert_ids=[sc.alerts["VN-02"].id]),
        actor=sc.analyst,
    )
    incidents.update(
        store=store, incident_id=inc.id, change=IncidentUpdate(owner="analyst"), actor=sc.analyst
    )
    incidents.update(
        store=store,
        incident_id=inc.id,
        change=IncidentUpdate(status=IncidentStatus.RESOLVED),
        actor=sc.analyst,
    )
    sc.incident = inc.id

    # The earlier plan: visited 40 days ago; three findings with three different outcomes.
    old_visit = sc.today - timedelta(days=40)
    plan_old = service.create_plan(
        store=store,
        repo=repo,
        data=PlanCreate(
            title="Kiểm tra an toàn thông tin quý trước",
            number="7/KH-TBANM",
            scope_start=sc.today - timedelta(days=120),
            units=[PlanUnitIn(unit_id="so-yte", visit_date=old_visit)],
            team=[TeamMemberIn(user="insp-yte", team_role=TeamRole.HEAD)],
            place="Ninh Bình",
        ),
        actor=sc.police,
    )
    sc.plan_old = plan_old.id
    visit = service.create_visit(
        store=store,
        repo=repo,
        data=VisitCreate(
            plan_id=plan_old.id, unit_id="so-yte", minutes_number="15/BB-ĐKT", minutes_date=old_visit
        ),
        actor=sc.insp_yte,
    )
    sc.visit_old = visit.id
    for key, code, description in (
        ("on_time", "VN-02", "Máy trạm phòng Kế toán tắt Windows Firewall"),
        ("late", "VN-05", "Tài khoản Guest được cấp quyền quản trị"),
        ("overdue", "VN-06", "Máy YTE-PC01 chưa cài phần mềm phòng chống mã độc tập trung"),
    ):
        finding = service.create_finding(
            store=store,
            repo=repo,
            visit_id=visit.id,
            data=FindingCreate(checklist_code=code, description=description, severity=Severity.HIGH),
            actor=sc.insp_yte,
        )
        sc.findings[key] = finding.id
    for key, days_after in (("on_time", 10), ("late", 25)):
        service.update_finding(
            store=store,
            repo=repo,
            finding_id=sc.findings[key],
            change=FindingUpdate(
                status=FindingStatus.REMEDIATED,
                remediated_at=datetime.combine(
                    old_visit + timedelta(days=days_after), datetime.min.time(), UTC
                )
                + timedelta(hours=3),
            ),
            actor=sc.insp_yte,
        )

    # The current plan: scope from ten days ago, the visit in five days, report due in two.
    plan_now = service.create_plan(
        store=store,
        repo=repo,
        data=PlanCreate(
            title="Kiểm tra, đánh giá công tác bảo đảm an ninh mạng năm 2026",
            number="12/KH-TBANM",
            legal_basis=["Nghị định số 85/2016/NĐ-CP ngày 01/7/2016 của Chính phủ"],
            issuing_body="UBND TỈNH NINH BÌNH\nTIỂU BAN AN NINH MẠNG",
            place="Ninh Bình",
            scope_start=sc.today - timedelta(days=10),
            units=[
                PlanUnitIn(
                    unit_id="so-yte",
                    visit_date=sc.today + timedelta(days=5),
                    self_assessment_due=sc.today + timedelta(days=2),
                )
            ],
            team=[TeamMemberIn(user="insp-yte", team_role=TeamRole.HEAD)],
        ),
        actor=sc.police,
    )
    sc.plan_now = plan_now.id
    # A visit five days ago from an ad-hoc check: a finding still within its 20 days.
    recent = service.create_visit(
        store=store,
        repo=repo,
        data=VisitCreate(
            plan_id=plan_now.id,
            unit_id="so-yte",
            visit_date=sc.today - timedelta(days=5),
            minutes_date=sc.today - timedelta(days=5),
            minutes_number="3/BB-ĐKT",
        ),
        actor=sc.insp_yte,
    )
    sc.visit_recent = recent.id
    sc.findings["pending"] = service.create_finding(
        store=store,
        repo=repo,
        visit_id=recent.id,
        data=FindingCreate(
            checklist_code="VN-01",
            description="Máy YTE-PC01 chạy công cụ bẻ khóa KMSAuto",
            severity=Severity.HIGH,
            alert_ids=[sc.alerts["VN-01"].id],
            incident_ids=[sc.incident],
        ),
        actor=sc.insp_yte,
    ).id

    plan_xa = service.create_plan(
        store=store,
        repo=repo,
        data=PlanCreate(
            title="Kiểm tra xã Yên Thắng",
            scope_start=sc.today - timedelta(days=30),
            units=[PlanUnitIn(unit_id="xa-yen-thang", visit_date=sc.today + timedelta(days=20))],
            team=[TeamMemberIn(user="insp-xa")],
        ),
        actor=sc.police,
    )
    sc.plan_xa = plan_xa.id
    store.refresh()
    return sc
