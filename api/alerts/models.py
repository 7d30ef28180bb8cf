"""Alert triage schemas: search parameters, triage edits (single and bulk), comments, the detail view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from api.alerts.pivots import Pivot
from api.alerts.sla import DEFAULT_POLICY, overdue_query
from api.paging import DEFAULT_SIZE, MAX_SIZE, ItemPage
from api.times import Time
from soc_core.alert import AlertStatus, Severity
from soc_core.errors import QueryError
from soc_core.kql import ALERT_FIELDS, DEFAULT_LIMITS, And, Node, parse_for
from soc_core.store import FACETS, AlertSearch

Sort = Literal["newest", "oldest", "severity"]
OriginChoice = Literal["live", "evidence", "all"]
Collapse = Literal["none", "group"]
SlaChoice = Literal["breached"]

OPEN_STATUSES = (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.IN_PROGRESS)
CLOSED_STATUSES = (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE)


class AlertSearchParams(BaseModel):
    """What the queue's filter form and the search API accept (empty strings mean "no filter")."""

    model_config = ConfigDict(extra="ignore")

    start: Time | None = None
    end: Time | None = None
    severity: list[Severity] = Field(default_factory=list)
    status: list[AlertStatus] = Field(default_factory=list)
    rule: str | None = None
    unit: str | None = None
    system: str | None = None
    host: str | None = None
    user: str | None = None
    checklist: str | None = None
    technique: str | None = None
    assignee: str | None = None
    incident: str | None = None
    q: str | None = Field(
        default=None,
        description='a KQL query (host_name:web* and not severity:low, "đã xóa", netsh*); free text'
        " ignores case and diacritics",
    )
    origin: OriginChoice | None = Field(
        default=None,
        description="live telemetry, alerts from inspection evidence files, or all; unset: live, or all"
        " when asking for one visit, group or incident (whose alerts may come from evidence files)",
    )
    visit: str | None = Field(default=None, max_length=64, description="evidence of one inspection visit")
    group: str | None = Field(default=None, max_length=128, description="the members of one alert group")
    collapse: Collapse = Field(default="none", description="group: one row per alert group")
    sla: SlaChoice | None = Field(
        default=None,
        description="breached: high and critical live alerts still unacknowledged past their SLA"
        " (SOC_NOTIFY_SLA_HIGH_S, SOC_NOTIFY_SLA_CRITICAL_S)",
    )
    sort: Sort = "newest"
    size: int = Field(default=DEFAULT_SIZE, ge=1, le=MAX_SIZE)
    cursor: str | None = Field(default=None, max_length=1024)

    _kql: Node | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_query(self, info: ValidationInfo) -> AlertSearchParams:
        """`q` is read here, so a query that cannot be read is a 422 that says where and what was
        expected, before any store is asked; the validation context may carry `QueryLimits`."""
        text = self.q.strip() if self.q else ""
        context = info.context or {}
        limits = context.get("query_limits") or DEFAULT_LIMITS
        if text:
            try:
                self._kql = parse_for(text, ALERT_FIELDS, limits)
            except QueryError as exc:
                raise ValueError(f"q: {exc.explain()}") from None
        if self.sla == "breached":
            if self.origin == "evidence":
                raise ValueError("sla: alerts from evidence files have no SLA; use origin=live or all")
            overdue = overdue_query(context.get("sla_policy") or DEFAULT_POLICY, datetime.now(UTC))
            self._kql = And((self._kql, overdue)) if self._kql is not None else overdue
        return self

    @model_validator(mode="after")
    def _groups_page_by_time(self) -> AlertSearchParams:
        """Groups are ordered by their key (the time of their evidence); a severity walk would list a
        group under each of its members' severities."""
        if self.collapse == "group" and self.sort == "severity":
            raise ValueError("collapse=group orders groups by time: use sort=newest or sort=oldest")
        return self

    def to_search(self) -> AlertSearch:
        def clean(value: str | None) -> str | None:
            return value.strip() or None if value else None

        return AlertSearch(
            start=self.start,
            end=self.end,
            severity=[s.value for s in self.severity],
            status=[s.value for s in self.status],
            rule_id=clean(self.rule),
            unit_id=clean(self.unit),
            system_id=clean(self.system),
            host_name=clean(self.host),
            user_name=clean(self.user),
            checklist=clean(self.checklist),
            technique=clean(self.technique),
            assignee=clean(self.assignee),
            incident_id=clean(self.incident),
            kql=self._kql,
            origin="live"
            if self.sla
            else self.origin or ("all" if self.visit or self.group or self.incident else "live"),
            visit_id=clean(self.visit),
            group=clean(self.group),
            ascending=self.sort == "oldest",
            size=self.size,
            cursor=self.cursor or None,
        )


class TriageEdit(BaseModel):
    """An analyst's edit of an alert's triage (the body of `PATCH .../triage` and of bulk changes; not
    the detection stage's `detections.suppression.AlertUpdate`, a repeat of an alert). `assignee=""`
    unassigns; tags are added/removed, not replaced (bulk-friendly)."""

    model_config = ConfigDict(extra="forbid")

    status: AlertStatus | None = None
    assignee: str | None = Field(default=None, max_length=64)
    add_tags: list[str] = Field(default_factory=list, max_length=20)
    remove_tags: list[str] = Field(default_factory=list, max_length=20)
    comment: str | None = Field(default=None, max_length=10_000)


class BulkUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=500)
    update: TriageEdit


class BulkResult(BaseModel):
    updated: list[str]
    failed: dict[str, str]


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=10_000)


class FacetRead(BaseModel):
    value: str
    count: int
    label: str | None = None


class AlertPage(ItemPage[dict[str, Any]]):
    """Alert documents; with `collapse=group`, one `GroupRead` per group (`total` counts groups)."""

    facets: dict[str, list[FacetRead]] | None = None


class GroupRead(BaseModel):
    """One row of the collapsed queue: the alerts raised on the same evidence, most severe first."""

    group: str
    size: int = Field(description="member alerts matching the filters (`alerts` lists up to 50)")
    severity: Severity = Field(description="the highest severity among the members")
    rules: list[dict[str, str]] = Field(description="each member's rule id and name, most severe first")
    alerts: list[dict[str, Any]] = Field(description="the member alert documents, most severe first")


class GroupTriageResult(BulkResult):
    """A group's triage: the same change applied to every member (each audited on its own)."""

    group: str


class RuleFrequency(BaseModel):
    """How often this rule fired on this unit: the analyst's first question about noise."""

    last_24h: int
    last_7d: int
    last_30d: int
    total: int


class AlertDetail(BaseModel):
    alert: dict[str, Any]
    event: dict[str, Any] | None = Field(description="the triggering event as stored (ECS)")
    event_fields: list[tuple[str, str]] = Field(description="the event's ECS fields, dotted, sorted")
    original: str | None = Field(description="the original record as received")
    related: list[dict[str, Any]] = Field(
        description="alerts on the same host, by the same user, from the same source IP or of the same"
        " rule within an hour either side, newest first"
    )
    related_by: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per related alert id, what it shares: host, user, source_ip, rule",
    )
    pivots: list[Pivot] = Field(
        default_factory=list,
        description="the event explorer around the alert (±15 minutes) on its host, user and source IP",
    )
    siblings: list[dict[str, Any]] = Field(
        default_factory=list, description="the other alerts of its group (same evidence), most severe first"
    )
    visit_id: str | None = Field(default=None, description="the inspection visit whose evidence raised it")
    rule_frequency: RuleFrequency
    time_to_acknowledge_s: float | None = Field(description="from the alert's creation (`created_at`)")
    time_to_resolve_s: float | None = Field(description="from the alert's creation (`created_at`)")


class NewAlerts(BaseModel):
    """What an open queue polls (`GET /api/v1/alerts/news`)."""

    since: datetime
    checked_at: datetime
    new: int = Field(description="alerts matching the filters stored after `since`")
    status_counts: dict[str, int] = Field(
        description="per status (and open, all): alerts matching every filter but the status"
    )


ALL_FACETS = FACETS
