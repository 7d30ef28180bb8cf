"""Inspection records as they are stored: plans, visits, findings, evidence files and reminders.

The words follow the teams' documents (DOMAIN.md): a plan (kế hoạch kiểm tra) names the units, the
scope start and the team; a visit (buổi kiểm tra) ends in minutes (biên bản) that record findings
(tồn tại, hạn chế) the unit must remediate (khắc phục) within 20 days of the minutes' date. Dates
the documents write as dates (visit, deadlines) are `date`; moments the product records are aware
`datetime`s. The API's schemas over these (`XxxCreate`, `XxxUpdate`, `XxxRead`) are in
`api.inspections.models`; the port every backend implements is `InspectionRepository`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from soc_core.alert import Alert, Severity
from soc_core.event import Event

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
REMEDIATION_DAYS = 20
"""Units remediate within 20 days of the minutes (Ninh Bình 2026 plan, section III.4)."""
SELF_ASSESSMENT_DAYS_BEFORE = 7
"""Units report 7 days before the visit unless the plan gives a date (Bắc Giang plan, IV.4.a)."""

ChecklistCode = Annotated[str, Field(pattern=r"^VN-(0[1-9]|1[0-2])$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


def vn_today(now: datetime) -> date:
    """The calendar day in Vietnam: deadlines are days on the teams' calendar, not UTC days."""
    return now.astimezone(VN_TZ).date()


def vn_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=VN_TZ).astimezone(UTC)


def vn_day_end(day: date) -> datetime:
    """The first instant after `day` in Vietnam (windows are half-open: [start, end))."""
    return vn_day_start(day + timedelta(days=1))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- plans ---------------------------------------------------------------------------------------


class PlanKind(StrEnum):
    PERIODIC = "periodic"
    AD_HOC = "ad_hoc"


class TeamRole(StrEnum):
    HEAD = "head"
    DEPUTY = "deputy"
    MEMBER = "member"
    SECRETARY = "secretary"


class TeamMember(Model):
    """A member of the inspection team: a console user with the inspector role."""

    user_id: str
    username: str
    display_name: str | None = None
    team_role: TeamRole = TeamRole.MEMBER


class PlanUnit(Model):
    """A unit of the plan, its scheduled visit and its self-assessment report (báo cáo tự kiểm tra)."""

    unit_id: Slug
    visit_date: date
    self_assessment_due: date | None = None
    self_assessment_received_at: datetime | None = None

    def self_assessment_state(self, now: datetime) -> str:
        if self.self_assessment_due is None:
            return "received" if self.self_assessment_received_at else "not_required"
        if self.self_assessment_received_at is not None:
            late = vn_today(self.self_assessment_received_at) > self.self_assessment_due
            return "received_late" if late else "received"
        return "overdue" if vn_today(now) > self.self_assessment_due else "pending"


DEFAULT_ISSUING_BODY = "TIỂU BAN AN TOÀN, AN NINH MẠNG TỈNH"


class InspectionPlan(Model):
    id: str
    number: str | None = None
    title: str
    kind: PlanKind = PlanKind.PERIODIC
    legal_basis: list[str] = Field(default_factory=list)
    issuing_body: str = DEFAULT_ISSUING_BODY
    place: str | None = None
    scope_start: date
    units: list[PlanUnit]
    team: list[TeamMember] = Field(default_factory=list)
    signer_title: str | None = None
    signer_name: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime

    def unit(self, unit_id: str) -> PlanUnit | None:
        return next((u for u in self.units if u.unit_id == unit_id), None)

    def has_member(self, user_id: str) -> bool:
        return any(m.user_id == user_id for m in self.team)


# -- visits, findings, evidence files, reminders ---------------------------------------------------


class Visit(Model):
    """One visit of a plan to a unit; its minutes (biên bản) date starts the remediation clock."""

    id: str
    plan_id: str
    unit_id: str
    visit_date: date
    minutes_number: str | None = None
    minutes_date: date | None = None
    notes: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime

    @property
    def minutes_or_visit_date(self) -> date:
        return self.minutes_date or self.visit_date


class FindingStatus(StrEnum):
    OPEN = "open"
    REMEDIATED = "remediated"
    VERIFIED = "verified"


class FindingEvidence(Model):
    alert_ids: list[str] = Field(default_factory=list, max_length=500)
    incident_ids: list[str] = Field(default_factory=list, max_length=100)
    file_ids: list[str] = Field(default_factory=list, max_length=100)


class FindingChange(Model):
    at: datetime
    actor: str
    field: str
    old: str | None = None
    new: str | None = None


class Finding(Model):
    """A weakness written in the minutes, with its remediation deadline and what became of it."""

    id: str
    visit_id: str
    plan_id: str
    unit_id: str
    checklist_code: ChecklistCode | None = None
    description: str
    severity: Severity = Severity.MEDIUM
    evidence: FindingEvidence = Field(default_factory=FindingEvidence)
    minutes_date: date
    remediation_deadline: date
    status: FindingStatus = FindingStatus.OPEN
    remediated_at: datetime | None = None
    remediation_note: str | None = None
    verified_at: datetime | None = None
    verified_by: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
    history: list[FindingChange] = Field(default_factory=list)

    def remediation(self, now: datetime) -> Literal["on_time", "late", "overdue", "pending"]:
        """Whether the 20-day rule was met: judged on the Vietnamese calendar day of the report."""
        if self.remediated_at is not None:
            return "on_time" if vn_today(self.remediated_at) <= self.remediation_deadline else "late"
        return "overdue" if vn_today(now) > self.remediation_deadline else "pending"

    def days_left(self, now: datetime) -> int:
        return (self.remediation_deadline - vn_today(now)).days


class EvidenceFile(Model):
    """A file collected on site, kept on disk by content hash; its events are evidence, not telemetry."""

    id: str
    visit_id: str
    plan_id: str
    unit_id: str
    system_id: str | None = None
    filename: str
    sha256: str
    size: int
    format: str | None = None
    stored_as: str = Field(description="path under the data folder")
    uploaded_at: datetime
    uploaded_by: str
    records: int = 0
    events: int = 0
    duplicates: int = 0
    deadletters: int = 0
    unreadable: int = 0
    alerts: int = 0
    alert_repeats: int = Field(default=0, description="matches folded into an alert of the same file")
    alert_ids: list[str] = Field(default_factory=list)
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    problems: list[str] = Field(default_factory=list)


class ReminderKind(StrEnum):
    FINDING_DUE = "finding_due"
    FINDING_OVERDUE = "finding_overdue"
    SELF_ASSESSMENT_DUE = "self_assessment_due"
    SELF_ASSESSMENT_OVERDUE = "self_assessment_overdue"


class Reminder(Model):
    """One reminder, sent once per subject, kind and deadline (its id is built from the three)."""

    id: str
    kind: ReminderKind
    unit_id: str
    plan_id: str
    finding_id: str | None = None
    due: date
    days_left: int
    message: str
    created_at: datetime
    alert_id: str | None = None


# -- the port every backend implements ------------------------------------------------------------


class InspectionRepository(Protocol):
    def setup(self) -> None: ...

    def put_plan(self, plan: InspectionPlan) -> None: ...

    def get_plan(self, plan_id: str) -> InspectionPlan | None: ...

    def list_plans(self) -> list[InspectionPlan]: ...

    def put_visit(self, visit: Visit) -> None: ...

    def get_visit(self, visit_id: str) -> Visit | None: ...

    def list_visits(self, *, plan_id: str | None = None, unit_id: str | None = None) -> list[Visit]: ...

    def put_finding(self, finding: Finding) -> None: ...

    def get_finding(self, finding_id: str) -> Finding | None: ...

    def list_findings(
        self,
        *,
        unit_id: str | None = None,
        visit_id: str | None = None,
        status: Sequence[str] = (),
        due_before: date | None = None,
    ) -> list[Finding]:
        """Oldest first; `due_before`: remediation deadline on or before that day."""

    def put_file(self, file: EvidenceFile) -> None: ...

    def get_file(self, file_id: str) -> EvidenceFile | None: ...

    def list_files(
        self, *, unit_id: str | None = None, visit_id: str | None = None
    ) -> list[EvidenceFile]: ...

    def file_by_hash(self, visit_id: str, sha256: str) -> EvidenceFile | None: ...

    def add_reminder(self, reminder: Reminder) -> bool:
        """Store a reminder unless one with its id exists; True when it is new."""

    def list_reminders(self, *, unit_id: str | None = None, limit: int = 200) -> list[Reminder]:
        """Newest first."""

    def evidence_events(self, *, unit_id: str, file_id: str, limit: int = 100) -> list[Event]:
        """Events stored as evidence of one uploaded file, oldest first."""

    def evidence_alerts(self, *, unit_id: str, limit: int = 20_000) -> list[Alert]:
        """Alerts raised on the unit's evidence events, whenever those events happened, oldest first."""
