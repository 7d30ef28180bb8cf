"""Inspection plans, visits, findings, evidence files and reminders, with their API schemas.

The words follow the teams' documents (DOMAIN.md): a plan (kế hoạch kiểm tra) names the units, the
scope start and the team; a visit (buổi kiểm tra) ends in minutes (biên bản) that record findings
(tồn tại, hạn chế) the unit must remediate (khắc phục) within 20 days of the minutes' date.

Stored models are the `Xxx` classes; `XxxCreate` / `XxxUpdate` are what the API accepts and
`XxxRead` what it answers, Dispatch-style. Dates the documents write as dates (visit, deadlines) are
`date`; moments recorded by the product are aware `datetime`s.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.inspections.labels import CHECKLIST_CODES
from soc_core.alert import Severity

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
REMEDIATION_DAYS = 20
"""Units remediate within 20 days of the minutes (Ninh Bình 2026 plan, section III.4)."""
SELF_ASSESSMENT_DAYS_BEFORE = 7
"""Units report 7 days before the visit unless the plan gives a date (Bắc Giang plan, IV.4.a)."""

ChecklistCode = Annotated[str, Field(pattern=r"^VN-(0[1-9]|1[0-2])$")]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]
Text = Annotated[str, Field(min_length=1, max_length=2000)]

assert len(CHECKLIST_CODES) == 12


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


class TeamMemberIn(Model):
    user: str = Field(min_length=1, max_length=64, description="user id or username")
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


class PlanUnitIn(Model):
    unit_id: Slug
    visit_date: date
    self_assessment_due: date | None = Field(default=None, description="default: 7 days before the visit")

    def build(self) -> PlanUnit:
        due = self.self_assessment_due or self.visit_date - timedelta(days=SELF_ASSESSMENT_DAYS_BEFORE)
        return PlanUnit(unit_id=self.unit_id, visit_date=self.visit_date, self_assessment_due=due)


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


class PlanCreate(Model):
    number: str | None = Field(default=None, max_length=100, description='e.g. "12/KH-TBANM"')
    title: str = Field(min_length=1, max_length=500)
    kind: PlanKind = PlanKind.PERIODIC
    legal_basis: list[Text] = Field(default_factory=list, max_length=50)
    issuing_body: str = Field(default=DEFAULT_ISSUING_BODY, min_length=1, max_length=300)
    place: str | None = Field(
        default=None, max_length=100, description='where it is signed, e.g. "Ninh Bình"'
    )
    scope_start: date = Field(description="the inspection scope starts here and ends on each visit date")
    units: list[PlanUnitIn] = Field(min_length=1, max_length=500)
    team: list[TeamMemberIn] = Field(default_factory=list, max_length=50)
    signer_title: str | None = Field(default=None, max_length=200)
    signer_name: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _units_once(self) -> PlanCreate:
        ids = [u.unit_id for u in self.units]
        if len(ids) != len(set(ids)):
            raise ValueError("a unit is listed twice")
        return self


class PlanUpdate(Model):
    number: str | None = Field(default=None, max_length=100)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    kind: PlanKind | None = None
    legal_basis: list[Text] | None = Field(default=None, max_length=50)
    issuing_body: str | None = Field(default=None, min_length=1, max_length=300)
    place: str | None = Field(default=None, max_length=100)
    scope_start: date | None = None
    units: list[PlanUnitIn] | None = Field(default=None, min_length=1, max_length=500)
    team: list[TeamMemberIn] | None = Field(default=None, max_length=50)
    signer_title: str | None = Field(default=None, max_length=200)
    signer_name: str | None = Field(default=None, max_length=100)


class SelfAssessmentReceived(Model):
    received_at: datetime | None = Field(
        default=None, description="default: now; null with received=false clears"
    )
    received: bool = True


class PlanUnitRead(Model):
    unit_id: str
    unit_name: str
    visit_date: date
    self_assessment_due: date | None
    self_assessment_received_at: datetime | None
    self_assessment_state: str


class PlanRead(Model):
    plan: InspectionPlan
    units: list[PlanUnitRead]


# -- visits --------------------------------------------------------------------------------------


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


class VisitCreate(Model):
    plan_id: str = Field(min_length=1, max_length=64)
    unit_id: Slug
    visit_date: date | None = Field(default=None, description="default: the date the plan scheduled")
    minutes_number: str | None = Field(default=None, max_length=100)
    minutes_date: date | None = Field(default=None, description="default: the visit date")
    notes: str | None = Field(default=None, max_length=20_000)


class VisitUpdate(Model):
    visit_date: date | None = None
    minutes_number: str | None = Field(default=None, max_length=100)
    minutes_date: date | None = None
    notes: str | None = Field(default=None, max_length=20_000)


# -- findings ------------------------------------------------------------------------------------


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


class FindingCreate(Model):
    checklist_code: ChecklistCode | None = None
    description: str = Field(min_length=1, max_length=20_000)
    severity: Severity = Severity.MEDIUM
    alert_ids: list[str] = Field(default_factory=list, max_length=500)
    incident_ids: list[str] = Field(default_factory=list, max_length=100)
    file_ids: list[str] = Field(default_factory=list, max_length=100)
    remediation_deadline: date | None = Field(default=None, description="default: minutes' date + 20 days")


class FindingUpdate(Model):
    checklist_code: ChecklistCode | None = None
    description: str | None = Field(default=None, min_length=1, max_length=20_000)
    severity: Severity | None = None
    alert_ids: list[str] | None = Field(default=None, max_length=500)
    incident_ids: list[str] | None = Field(default=None, max_length=100)
    file_ids: list[str] | None = Field(default=None, max_length=100)
    remediation_deadline: date | None = None
    status: FindingStatus | None = None
    remediated_at: datetime | None = Field(
        default=None, description="when the unit reported the remediation; default: now"
    )
    remediation_note: str | None = Field(default=None, max_length=20_000)


class FindingRead(Model):
    finding: Finding
    remediation: str
    days_left: int
    unit_name: str

    @classmethod
    def of(cls, finding: Finding, now: datetime, unit_name: str) -> FindingRead:
        return cls(
            finding=finding,
            remediation=finding.remediation(now),
            days_left=finding.days_left(now),
            unit_name=unit_name,
        )


class VisitRead(Model):
    visit: Visit
    unit_name: str
    plan_title: str
    findings: list[FindingRead]
    evidence: list[EvidenceFile]


# -- evidence files ------------------------------------------------------------------------------


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


VisitRead.model_rebuild()


# -- reminders and suggestions -------------------------------------------------------------------


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


class Suggestion(Model):
    """A unit whose recent telemetry shows signs of violation: a candidate for an ad-hoc inspection."""

    unit_id: str
    unit_name: str
    window_start: datetime
    window_end: datetime
    high_alerts: int
    checklist_hits: dict[str, int]
    reasons: list[str]
    reasons_en: list[str]
    planned_visit: date | None = Field(default=None, description="an upcoming visit already planned, if any")
