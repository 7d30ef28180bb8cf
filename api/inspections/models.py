"""The inspection API's schemas: what it accepts (`XxxCreate`, `XxxUpdate`) and answers (`XxxRead`).

The stored models they are built from live in the kernel (`soc_core.inspections`), so every store
backend can persist them without importing the API; they are re-exported here for the API's code.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import Field, model_validator

from api.inspections.labels import CHECKLIST_CODES
from api.times import Day, Time
from soc_core.alert import Severity
from soc_core.inspections import (
    DEFAULT_ISSUING_BODY,
    REMEDIATION_DAYS,
    SELF_ASSESSMENT_DAYS_BEFORE,
    VN_TZ,
    ChecklistCode,
    EvidenceFile,
    Finding,
    FindingChange,
    FindingEvidence,
    FindingStatus,
    InspectionPlan,
    Model,
    PlanKind,
    PlanUnit,
    Reminder,
    ReminderKind,
    Slug,
    TeamMember,
    TeamRole,
    Text,
    Visit,
    vn_day_end,
    vn_day_start,
    vn_today,
)

__all__ = [
    "REMEDIATION_DAYS",
    "VN_TZ",
    "EvidenceFile",
    "Finding",
    "FindingChange",
    "FindingEvidence",
    "FindingStatus",
    "InspectionPlan",
    "PlanKind",
    "PlanUnit",
    "Reminder",
    "ReminderKind",
    "TeamMember",
    "TeamRole",
    "Visit",
    "vn_day_end",
    "vn_day_start",
    "vn_today",
]

assert len(CHECKLIST_CODES) == 12


# -- plans ---------------------------------------------------------------------------------------


class TeamMemberIn(Model):
    user: str = Field(min_length=1, max_length=64, description="user id or username")
    team_role: TeamRole = TeamRole.MEMBER


class PlanUnitIn(Model):
    unit_id: Slug
    visit_date: Day
    self_assessment_due: Day | None = Field(default=None, description="default: 7 days before the visit")

    def build(self) -> PlanUnit:
        due = self.self_assessment_due or self.visit_date - timedelta(days=SELF_ASSESSMENT_DAYS_BEFORE)
        return PlanUnit(unit_id=self.unit_id, visit_date=self.visit_date, self_assessment_due=due)


class PlanCreate(Model):
    number: str | None = Field(default=None, max_length=100, description='e.g. "12/KH-TBANM"')
    title: str = Field(min_length=1, max_length=500)
    kind: PlanKind = PlanKind.PERIODIC
    legal_basis: list[Text] = Field(default_factory=list, max_length=50)
    issuing_body: str = Field(default=DEFAULT_ISSUING_BODY, min_length=1, max_length=300)
    place: str | None = Field(
        default=None, max_length=100, description='where it is signed, e.g. "Ninh Bình"'
    )
    scope_start: Day = Field(description="the inspection scope starts here and ends on each visit date")
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
    scope_start: Day | None = None
    units: list[PlanUnitIn] | None = Field(default=None, min_length=1, max_length=500)
    team: list[TeamMemberIn] | None = Field(default=None, max_length=50)
    signer_title: str | None = Field(default=None, max_length=200)
    signer_name: str | None = Field(default=None, max_length=100)


class SelfAssessmentReceived(Model):
    received_at: Time | None = Field(
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


class VisitCreate(Model):
    plan_id: str = Field(min_length=1, max_length=64)
    unit_id: Slug
    visit_date: Day | None = Field(default=None, description="default: the date the plan scheduled")
    minutes_number: str | None = Field(default=None, max_length=100)
    minutes_date: Day | None = Field(default=None, description="default: the visit date")
    notes: str | None = Field(default=None, max_length=20_000)


class VisitUpdate(Model):
    visit_date: Day | None = None
    minutes_number: str | None = Field(default=None, max_length=100)
    minutes_date: Day | None = None
    notes: str | None = Field(default=None, max_length=20_000)


# -- findings ------------------------------------------------------------------------------------


class FindingCreate(Model):
    checklist_code: ChecklistCode | None = None
    description: str = Field(min_length=1, max_length=20_000)
    severity: Severity = Severity.MEDIUM
    alert_ids: list[str] = Field(default_factory=list, max_length=500)
    incident_ids: list[str] = Field(default_factory=list, max_length=100)
    file_ids: list[str] = Field(default_factory=list, max_length=100)
    remediation_deadline: Day | None = Field(default=None, description="default: minutes' date + 20 days")


class FindingUpdate(Model):
    checklist_code: ChecklistCode | None = None
    description: str | None = Field(default=None, min_length=1, max_length=20_000)
    severity: Severity | None = None
    alert_ids: list[str] | None = Field(default=None, max_length=500)
    incident_ids: list[str] | None = Field(default=None, max_length=100)
    file_ids: list[str] | None = Field(default=None, max_length=100)
    remediation_deadline: Day | None = None
    status: FindingStatus | None = None
    remediated_at: Time | None = Field(
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


VisitRead.model_rebuild()


# -- reminders and suggestions -------------------------------------------------------------------


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
