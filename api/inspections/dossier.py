"""The unit dossier (hồ sơ đơn vị): everything the SOC knows about one unit within a window.

What the inspection team reads before walking in (DOMAIN.md): the unit's systems with their
security level and its approval; coverage now and through the window with every gap; alerts and
incidents by severity, rule and checklist code, each alert with the event behind it; how fast its
incidents were acknowledged and resolved; the findings of earlier visits and whether each met its
remediation deadline; endpoints without anti-malware; and the evidence collected on site.

`build_dossier` gathers it once; the API answers it as JSON, the console renders it, and
`api.inspections.export` lays the same object out as the PDF and DOCX, so the three never disagree.
Visibility is checked first: an inspector asking for a unit outside their plans gets `AccessDenied`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from babel.support import Translations
from pydantic import BaseModel, ConfigDict, Field

from api.alerts.sla import DEFAULT_POLICY
from api.auth.deps import Principal
from api.coverage.view import build_report
from api.errors import InvalidChange, NotFound
from api.i18n import LOCALES, label, translations
from api.incidents.models import time_to_acknowledge, time_to_resolve
from api.inspections import service
from api.inspections.jobs import REMINDER_RULE
from api.inspections.labels import CHECKLIST, CHECKLIST_CODES
from api.inspections.models import VN_TZ, EvidenceFile, vn_day_end, vn_day_start, vn_today
from api.times import OUT_OF_RANGE, check_day, check_time
from soc_core.alert import Alert, AlertStatus, IncidentStatus, Severity
from soc_core.coverage import CoverageRepository, Gap
from soc_core.event import Event
from soc_core.inspections import InspectionRepository
from soc_core.registry import ApprovalStatus, Registry
from soc_core.sla import SlaPolicy, sla_state
from soc_core.store import AlertSearch, AlertStore, IncidentQuery, IncidentStore, Store

MAX_ALERTS = 20_000
MAX_NOTABLE = 50
EXAMPLES_PER_CODE = 5
EVIDENCE_EVENTS_SHOWN = 10
DEFAULT_WINDOW_DAYS = 90
FIGURE_SCOPES = ("all_systems", "important_systems", "level3_and_above", "endpoints")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DossierUnit(Section):
    id: str
    name: str
    kind: str
    parent_id: str | None = None
    parent_name: str | None = None
    security_contact: str | None = None


class DossierPlan(Section):
    """The plan the window belongs to, when there is one: it gives the documents their heading."""

    id: str
    number: str | None
    title: str
    kind: str
    issuing_body: str
    place: str | None
    scope_start: date
    visit_date: date
    self_assessment_due: date | None
    self_assessment_received_at: datetime | None
    self_assessment_state: str
    legal_basis: list[str]
    team: list[dict[str, str | None]]
    signer_title: str | None
    signer_name: str | None


class GapRow(Section):
    kind: str
    subject_id: str
    subject_name: str
    start: datetime
    end: datetime | None
    seconds_in_window: float
    reason: str


class SourceRow(Section):
    id: str
    name: str
    state: str
    last_seen: datetime | None


class SystemRow(Section):
    id: str
    name: str
    level: int
    level_approval: str
    important: bool
    monitoring_deadline: date | None
    monitored_now: bool
    sources: list[SourceRow]
    gap_seconds: float
    monitored_share: float | None = Field(
        description="share of the observed part of the window without a gap (None before any measurement)"
    )


class FigureRow(Section):
    scope: str
    covered: int
    total: int
    ratio: float


class CoverageSection(Section):
    at: datetime
    figures: list[FigureRow]
    observed_from: datetime | None = Field(description="first coverage measurement inside the window")
    history: list[dict[str, Any]]
    gaps: list[GapRow]


class EventBrief(Section):
    id: str | None
    timestamp: datetime
    host: str | None
    user: str | None
    dataset: str | None
    code: str | None
    summary: str | None
    evidence: dict[str, Any] | None = None


class AlertBrief(Section):
    id: str
    timestamp: datetime
    severity: str
    status: str
    rule_id: str
    rule_name: str
    checklist: list[str]
    host: str | None
    user: str | None
    incident_id: str | None
    evidence: dict[str, Any] | None
    event: EventBrief | None


class RuleCount(Section):
    rule_id: str
    name: str
    severity: str
    count: int


class ChecklistRow(Section):
    code: str
    title: str
    title_en: str
    alerts: int
    evidence_alerts: int
    observed: list[str] = Field(description="what the registry or coverage shows for this code")
    observed_en: list[str] = Field(description="the same, in English")
    examples: list[AlertBrief]


class OverdueAlert(AlertBrief):
    sla_due_at: datetime
    late_s: float


class AcknowledgementSection(Section):
    """How the unit's live alerts were acknowledged (an early warning's link, or the SOC), how long it
    took from the alert's creation, and the high and critical ones nobody acknowledged within their
    SLA (`soc_core.sla`). Evidence-file alerts are left out: they are raised on the upload, long after
    the fact, and wait on nobody."""

    live: int
    acknowledged: int
    via_link: int = Field(description="acknowledged through an early warning's link (by the unit)")
    tta_mean_s: float | None
    tta_median_s: float | None
    with_sla: int = Field(description="live high and critical alerts, each with an SLA")
    in_time: int
    late: int = Field(description="acknowledged after their SLA")
    overdue_total: int = Field(description="not acknowledged, past their SLA, at the dossier's time")
    overdue: list[OverdueAlert] = Field(description="those, the latest first (at most 50)")


class AlertSection(Section):
    total: int
    live: int
    from_evidence: int
    truncated: bool
    by_severity: dict[str, int]
    by_status: dict[str, int]
    by_rule: list[RuleCount]
    by_checklist: list[ChecklistRow]
    notable: list[AlertBrief]
    acknowledgement: AcknowledgementSection


class IncidentRow(Section):
    id: str
    title: str
    severity: str
    status: str
    detected_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None
    alerts: int


class IncidentSection(Section):
    total: int
    open: int
    by_severity: dict[str, int]
    acknowledged: int
    resolved: int
    tta_mean_s: float | None
    tta_median_s: float | None
    ttr_mean_s: float | None
    ttr_median_s: float | None
    items: list[IncidentRow]


class FindingRow(Section):
    id: str
    visit_id: str
    visit_date: date | None
    minutes_number: str | None
    minutes_date: date
    checklist_code: str | None
    description: str
    severity: str
    remediation_deadline: date
    status: str
    remediated_at: datetime | None
    verified_at: datetime | None
    remediation: str


class FindingSection(Section):
    total: int
    on_time: int
    late: int
    overdue: int
    pending: int
    items: list[FindingRow]


class EndpointRow(Section):
    id: str
    hostname: str
    kind: str
    secret_documents: bool
    last_report: datetime | None


class EvidenceRow(Section):
    file: EvidenceFile
    visit_date: date | None
    events_shown: list[EventBrief]


class UnitDossier(Section):
    unit: DossierUnit
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    generated_by: str
    plan: DossierPlan | None
    systems: list[SystemRow]
    coverage: CoverageSection
    alerts: AlertSection
    incidents: IncidentSection
    findings: FindingSection
    endpoints_total: int
    endpoints_without_antimalware: list[EndpointRow]
    evidence: list[EvidenceRow]


# -- window ----------------------------------------------------------------------------------------


def parse_bound(value: str | None, *, end: bool) -> datetime | None:
    """`2025-07-01` is a Vietnamese calendar day (its start, or for `to` its end); a full ISO time
    is taken as given (UTC when it names no zone)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = check_day(date.fromisoformat(text))
            return vn_day_end(day) if end else vn_day_start(day)
        moment = check_time(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as exc:
        raise InvalidChange(f"dates are YYYY-MM-DD or ISO 8601 times; {OUT_OF_RANGE}", value=value) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- gathering -------------------------------------------------------------------------------------


def _overlap(start: datetime, end: datetime | None, w_start: datetime, w_end: datetime) -> float:
    stop = min(end or w_end, w_end)
    return max(0.0, (stop - max(start, w_start)).total_seconds())


def _event_brief(doc: dict[str, Any] | Event | None) -> EventBrief | None:
    if doc is None:
        return None
    if isinstance(doc, Event):
        event = doc
    else:
        try:
            event = Event.from_doc(doc)
        except ValueError:  # pydantic's ValidationError: a stored document we cannot read
            return None
    flat = event.flat()
    summary = (
        flat.get("process.command_line")
        or flat.get("winlog.event_data.CommandLine")
        or event.message
        or flat.get("url.original")
        or flat.get("event.action")
    )
    meta = event.event
    return EventBrief(
        id=meta.get("id"),
        timestamp=event.timestamp,
        host=(event.host or {}).get("name"),
        user=(event.user or {}).get("name"),
        dataset=meta.get("dataset"),
        code=meta.get("code"),
        summary=str(summary)[:500] if summary else None,
        evidence=event.soc.evidence,
    )


def _alert_brief(alert: Alert) -> AlertBrief:
    return AlertBrief(**_brief_fields(alert))


def _brief_fields(alert: Alert) -> dict[str, Any]:
    return dict(
        id=alert.id,
        timestamp=alert.timestamp,
        severity=alert.severity.value,
        status=alert.triage.status.value,
        rule_id=alert.rule.id,
        rule_name=alert.rule.name,
        checklist=list(alert.checklist),
        host=alert.host_name,
        user=alert.user_name,
        incident_id=alert.triage.incident_id,
        evidence=alert.soc.evidence,
        event=_event_brief(alert.event) if alert.event else None,
    )


def _alerts(
    store: AlertStore, repo: InspectionRepository, unit_id: str, start: datetime, end: datetime
) -> tuple[list[Alert], bool]:
    """The unit's alerts in the window plus every alert on its evidence, without deadline reminders.

    Evidence alerts count whenever their events happened: the plans do not limit the scope for what
    comes up during an inspection, and a log taken on site often reaches back before the window.
    """
    out: list[Alert] = []
    cursor: str | None = None
    truncated = False
    while True:
        page = store.search_alert_queue(
            AlertSearch(unit_id=unit_id, start=start, end=end, ascending=True, size=500, cursor=cursor)
        )
        out.extend(a for a in page.items if a.rule.id != REMINDER_RULE.id)
        cursor = page.cursor
        if cursor is None or not page.items:
            break
        if len(out) >= MAX_ALERTS:
            out, truncated = out[:MAX_ALERTS], True
            break
    seen = {a.id for a in out}
    out.extend(a for a in repo.evidence_alerts(unit_id=unit_id, limit=MAX_ALERTS) if a.id not in seen)
    out.sort(key=lambda a: (a.timestamp, a.id))
    return out, truncated


LINK_ACTOR = "ack:"
"""Who acknowledged through an early warning's link, in the alert's history (`api.notify.service`)."""


def _acknowledgement(alerts: list[Alert], sla: SlaPolicy, now: datetime) -> AcknowledgementSection:
    live = [a for a in alerts if not a.soc.evidence]
    acked = [(a, at) for a in live if (at := a.triage.acknowledged_at) is not None]
    tta = [max(0.0, (at - a.created_at).total_seconds()) for a, at in acked]
    states = [(a, s) for a in live if (s := sla_state(a, sla, now)) is not None]
    overdue = sorted(((a, s) for a, s in states if s.overdue), key=lambda p: p[0].created_at, reverse=True)
    late = sum(1 for _, s in states if s.breached and not s.overdue)
    return AcknowledgementSection(
        live=len(live),
        acknowledged=len(acked),
        via_link=sum(1 for a, _ in acked if any(c.actor.startswith(LINK_ACTOR) for c in a.triage.history)),
        tta_mean_s=_mean(tta),
        tta_median_s=_median(tta),
        with_sla=len(states),
        in_time=sum(
            1
            for a, s in states
            if not s.breached and (a.triage.acknowledged_at or a.triage.status is not AlertStatus.NEW)
        ),
        late=late,
        overdue_total=len(overdue),
        overdue=[
            OverdueAlert(**_brief_fields(a), sla_due_at=s.due_at, late_s=round(s.late_s, 1))
            for a, s in overdue[:MAX_NOTABLE]
        ],
    )


def _alert_section(
    alerts: list[Alert],
    truncated: bool,
    observed: dict[str, dict[str, list[str]]],
    sla: SlaPolicy,
    now: datetime,
) -> AlertSection:
    """`observed`: per language, what the registry shows for each checklist code; `sla` and `now`:
    which alerts waited past their SLA."""
    by_rule: dict[str, RuleCount] = {}
    for a in alerts:
        row = by_rule.get(a.rule.id)
        if row is None:
            by_rule[a.rule.id] = RuleCount(
                rule_id=a.rule.id, name=a.rule.name, severity=a.severity.value, count=1
            )
        else:
            row.count += 1
            if a.severity.rank > Severity(row.severity).rank:
                row.severity = a.severity.value
    checklist_rows = []
    for code in CHECKLIST_CODES:
        hits = [a for a in alerts if code in a.checklist]
        ranked = sorted(hits, key=lambda a: (-a.severity.rank, a.timestamp))
        checklist_rows.append(
            ChecklistRow(
                code=code,
                title=label(CHECKLIST, code, translations("vi")),
                title_en=label(CHECKLIST, code, translations("en")),
                alerts=len(hits),
                evidence_alerts=sum(1 for a in hits if a.soc.evidence),
                observed=observed["vi"].get(code, []),
                observed_en=observed["en"].get(code, []),
                examples=[_alert_brief(a) for a in ranked[:EXAMPLES_PER_CODE]],
            )
        )
    severities = Counter(a.severity.value for a in alerts)
    notable = sorted(
        (a for a in alerts if a.severity.rank >= Severity.HIGH.rank or a.checklist),
        key=lambda a: (-a.severity.rank, a.timestamp),
    )
    evidence = sum(1 for a in alerts if a.soc.evidence)
    return AlertSection(
        total=len(alerts),
        live=len(alerts) - evidence,
        from_evidence=evidence,
        truncated=truncated,
        by_severity={s.value: severities.get(s.value, 0) for s in Severity},
        by_status=dict(sorted(Counter(a.triage.status.value for a in alerts).items())),
        by_rule=sorted(by_rule.values(), key=lambda r: (-r.count, r.name)),
        by_checklist=checklist_rows,
        notable=[_alert_brief(a) for a in notable[:MAX_NOTABLE]],
        acknowledgement=_acknowledgement(alerts, sla, now),
    )


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _incident_section(store: IncidentStore, unit_id: str, start: datetime, end: datetime) -> IncidentSection:
    items: list[IncidentRow] = []
    cursor: str | None = None
    while True:
        page = store.search_incidents(IncidentQuery(unit_id=unit_id, size=200, cursor=cursor))
        for inc in page.items:
            if start <= inc.detected_at < end:
                items.append(
                    IncidentRow(
                        id=inc.id,
                        title=inc.title,
                        severity=inc.severity.value,
                        status=inc.status.value,
                        detected_at=inc.detected_at,
                        acknowledged_at=inc.acknowledged_at,
                        resolved_at=inc.resolved_at,
                        time_to_acknowledge_s=time_to_acknowledge(inc),
                        time_to_resolve_s=time_to_resolve(inc),
                        alerts=len(inc.alert_ids),
                    )
                )
        cursor = page.cursor
        if cursor is None or not page.items:
            break
    items.sort(key=lambda i: i.detected_at)
    tta = [i.time_to_acknowledge_s for i in items if i.time_to_acknowledge_s is not None]
    ttr = [i.time_to_resolve_s for i in items if i.time_to_resolve_s is not None]
    closed = (IncidentStatus.RESOLVED.value, IncidentStatus.CLOSED.value)
    severities = Counter(i.severity for i in items)
    return IncidentSection(
        total=len(items),
        open=sum(1 for i in items if i.status not in closed),
        by_severity={s.value: severities.get(s.value, 0) for s in Severity},
        acknowledged=len(tta),
        resolved=len(ttr),
        tta_mean_s=_mean(tta),
        tta_median_s=_median(tta),
        ttr_mean_s=_mean(ttr),
        ttr_median_s=_median(ttr),
        items=items,
    )


def _registry_observations(
    registry: Registry, unit_id: str, unprotected: int, endpoints: int, t: Translations
) -> dict[str, list[str]]:
    """Checklist codes the registry and coverage show without any alert (VN-06, VN-07, VN-08)."""
    unit = next(u for u in registry.units if u.id == unit_id)
    out: dict[str, list[str]] = {}
    if not (unit.security_contact or "").strip():
        out["VN-07"] = [t.gettext("The unit has declared no information security officer.")]
    pending = [
        s for s in registry.systems if s.unit_id == unit_id and s.level_approval != ApprovalStatus.APPROVED
    ]
    if pending:
        names = ", ".join(
            t.gettext("%(name)s (level %(level)d)") % {"name": s.name, "level": s.level} for s in pending
        )
        out["VN-08"] = [
            t.ngettext(
                "%(num)d system without an approved security level: %(names)s.",
                "%(num)d systems without an approved security level: %(names)s.",
                len(pending),
            )
            % {"num": len(pending), "names": names}
        ]
    if unprotected:
        out["VN-06"] = [
            t.ngettext(
                "%(num)d/%(total)d computer without a report from the centralised anti-malware.",
                "%(num)d/%(total)d computers without a report from the centralised anti-malware.",
                unprotected,
            )
            % {"num": unprotected, "total": endpoints}
        ]
    return out


def default_window(
    *,
    repo: InspectionRepository,
    principal: Principal,
    unit_id: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> tuple[datetime, datetime]:
    """Without dates: the scope of the unit's nearest planned visit (scope start to the visit day,
    or to now while the visit is ahead); without a plan, the last 90 days."""
    plans = service.plans_of_unit(repo=repo, principal=principal, unit_id=unit_id)
    today = vn_today(now)
    chosen = next((pe for pe in reversed(plans) if pe[1].visit_date >= today), plans[0] if plans else None)
    if end is None:
        past_visit = chosen is not None and chosen[1].visit_date < today
        end = vn_day_end(chosen[1].visit_date) if chosen is not None and past_visit else now
    if start is None:
        start = (
            vn_day_start(chosen[0].scope_start)
            if chosen is not None
            else end - timedelta(days=DEFAULT_WINDOW_DAYS)
        )
    if start >= end:
        raise InvalidChange(
            "the window must start before it ends", start=start.isoformat(), end=end.isoformat()
        )
    return start, end


def _plan_for_window(
    repo: InspectionRepository, principal: Principal, unit_id: str, end: datetime, now: datetime
) -> DossierPlan | None:
    """The plan whose visit the window leads up to: the first visit on or after the window's last day."""
    plans = service.plans_of_unit(repo=repo, principal=principal, unit_id=unit_id)
    last_day = vn_today(end - timedelta(microseconds=1))
    ahead = [pe for pe in plans if pe[1].visit_date >= last_day]
    chosen = min(ahead, key=lambda pe: pe[1].visit_date) if ahead else (plans[0] if plans else None)
    if chosen is None:
        return None
    plan, entry = chosen
    return DossierPlan(
        id=plan.id,
        number=plan.number,
        title=plan.title,
        kind=plan.kind.value,
        issuing_body=plan.issuing_body,
        place=plan.place,
        scope_start=plan.scope_start,
        visit_date=entry.visit_date,
        self_assessment_due=entry.self_assessment_due,
        self_assessment_received_at=entry.self_assessment_received_at,
        self_assessment_state=entry.self_assessment_state(now),
        legal_basis=list(plan.legal_basis),
        team=[
            {"username": m.username, "display_name": m.display_name, "team_role": m.team_role.value}
            for m in plan.team
        ],
        signer_title=plan.signer_title,
        signer_name=plan.signer_name,
    )


def build_dossier(
    *,
    store: Store,
    repo: InspectionRepository,
    coverage: CoverageRepository,
    unit_id: str,
    principal: Principal,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    sla: SlaPolicy = DEFAULT_POLICY,
) -> UnitDossier:
    """`sla`: the acknowledgement SLAs (`SOC_NOTIFY_SLA_*`) the alert section counts breaches by."""
    now = now or datetime.now(UTC)
    service.ensure_unit_visible(repo=repo, principal=principal, unit_id=unit_id)
    registry = store.load_registry()
    units = {u.id: u for u in registry.units}
    unit = units.get(unit_id)
    if unit is None:
        raise NotFound("no such unit", unit_id=unit_id)
    start, end = default_window(
        repo=repo, principal=principal, unit_id=unit_id, start=start, end=end, now=now
    )

    report = build_report(store, coverage, now=now, history_days=1)
    snapshot = report.snapshot
    systems = [s for s in registry.systems if s.unit_id == unit_id]
    system_ids = {s.id for s in systems}
    sources = {s.id: s for s in registry.sources if s.system_id in system_ids}
    endpoints = {e.id: e for e in registry.endpoints if e.unit_id == unit_id}
    names = {**{s.id: s.name for s in systems}, **{s.id: s.name for s in sources.values()}}
    names.update({e.id: e.hostname for e in endpoints.values()})
    subjects = {("system", i) for i in system_ids} | {("source", i) for i in sources}
    subjects |= {("endpoint", i) for i in endpoints}
    window_end = min(end, now)
    gaps: list[Gap] = [g for g in coverage.gaps(start=start, end=end) if (g.kind, g.subject_id) in subjects]
    history = coverage.history("all_systems", unit_id, start, end, max_points=200)
    # The chart's buckets are coarse (Elasticsearch keeps each bucket's last snapshot); when the
    # measurement began is read again at a finer grain, since every share of time depends on it.
    fine = coverage.history("all_systems", unit_id, start, end, max_points=5000) if history else []
    observed_from = max(start, fine[0][0]) if fine else None
    gap_rows = [
        GapRow(
            kind=g.kind,
            subject_id=g.subject_id,
            subject_name=names.get(g.subject_id, g.subject_id),
            start=g.start,
            end=g.end,
            seconds_in_window=_overlap(g.start, g.end, start, window_end),
            reason=g.reason,
        )
        for g in gaps
    ]
    status_by_system = {s.system_id: s for s in snapshot.systems}
    system_rows = []
    for s in sorted(systems, key=lambda x: (not x.important, -x.level, x.name)):
        gap_seconds = sum(
            r.seconds_in_window for r in gap_rows if r.kind == "system" and r.subject_id == s.id
        )
        observed = (window_end - observed_from).total_seconds() if observed_from else 0.0
        status = status_by_system.get(s.id)
        system_rows.append(
            SystemRow(
                id=s.id,
                name=s.name,
                level=s.level,
                level_approval=s.level_approval.value,
                important=s.important,
                monitoring_deadline=s.monitoring_deadline,
                monitored_now=bool(status and status.monitored),
                sources=[
                    SourceRow(id=x.source_id, name=x.name, state=x.state.value, last_seen=x.last_seen)
                    for x in (status.sources if status else [])
                ],
                gap_seconds=gap_seconds,
                monitored_share=round(max(0.0, 1 - gap_seconds / observed), 4) if observed > 0 else None,
            )
        )
    figures = [
        FigureRow(
            scope=scope,
            covered=snapshot.figure(scope, unit_id).covered,
            total=snapshot.figure(scope, unit_id).total,
            ratio=round(snapshot.figure(scope, unit_id).ratio, 4),
        )
        for scope in FIGURE_SCOPES
    ]
    unprotected = [
        e
        for e in snapshot.endpoints
        if e.unit_id == unit_id and not e.protected and e.endpoint_id in endpoints
    ]
    alerts, truncated = _alerts(store, repo, unit_id, start, end)
    observations = {
        lang: _registry_observations(registry, unit_id, len(unprotected), len(endpoints), translations(lang))
        for lang in LOCALES
    }

    visits = {v.id: v for v in repo.list_visits(unit_id=unit_id)}
    finding_rows = []
    for f in repo.list_findings(unit_id=unit_id):
        if f.minutes_date >= vn_today(end - timedelta(microseconds=1)) + timedelta(days=1):
            continue  # written after the window: not an earlier visit's finding
        visit = visits.get(f.visit_id)
        finding_rows.append(
            FindingRow(
                id=f.id,
                visit_id=f.visit_id,
                visit_date=visit.visit_date if visit else None,
                minutes_number=visit.minutes_number if visit else None,
                minutes_date=f.minutes_date,
                checklist_code=f.checklist_code,
                description=f.description,
                severity=f.severity.value,
                remediation_deadline=f.remediation_deadline,
                status=f.status.value,
                remediated_at=f.remediated_at,
                verified_at=f.verified_at,
                remediation=f.remediation(now),
            )
        )
    finding_rows.sort(key=lambda r: (r.minutes_date, r.id))
    outcome = Counter(r.remediation for r in finding_rows)

    evidence_rows = [
        EvidenceRow(
            file=file,
            visit_date=visits[file.visit_id].visit_date if file.visit_id in visits else None,
            events_shown=[
                b
                for b in (
                    _event_brief(e)
                    for e in repo.evidence_events(
                        unit_id=unit_id, file_id=file.id, limit=EVIDENCE_EVENTS_SHOWN
                    )
                )
                if b is not None
            ],
        )
        for file in repo.list_files(unit_id=unit_id)
    ]
    parent = units.get(unit.parent_id) if unit.parent_id else None
    return UnitDossier(
        unit=DossierUnit(
            id=unit.id,
            name=unit.name,
            kind=unit.kind.value,
            parent_id=unit.parent_id,
            parent_name=parent.name if parent else None,
            security_contact=unit.security_contact,
        ),
        window_start=start,
        window_end=end,
        generated_at=now,
        generated_by=principal.display_name or principal.username,
        plan=_plan_for_window(repo, principal, unit_id, end, now),
        systems=system_rows,
        coverage=CoverageSection(
            at=snapshot.at,
            figures=figures,
            observed_from=observed_from,
            history=[{"at": at.isoformat(), "covered": c, "total": t} for at, c, t in history],
            gaps=gap_rows,
        ),
        alerts=_alert_section(alerts, truncated, observations, sla, now),
        incidents=_incident_section(store, unit_id, start, end),
        findings=FindingSection(
            total=len(finding_rows),
            on_time=outcome.get("on_time", 0),
            late=outcome.get("late", 0),
            overdue=outcome.get("overdue", 0),
            pending=outcome.get("pending", 0),
            items=finding_rows,
        ),
        endpoints_total=len(endpoints),
        endpoints_without_antimalware=[
            EndpointRow(
                id=e.endpoint_id,
                hostname=e.hostname,
                kind=endpoints[e.endpoint_id].kind,
                secret_documents=e.secret_documents,
                last_report=e.last_report,
            )
            for e in sorted(unprotected, key=lambda x: x.hostname)
        ],
        evidence=evidence_rows,
    )


def vn_date(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).strftime("%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def vn_time(value: datetime | None) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M") if value else "—"


def window_days(dossier: UnitDossier) -> tuple[date, date]:
    """The window as the calendar days the documents print (the end is exclusive, so step back)."""
    return vn_today(dossier.window_start), vn_today(dossier.window_end - timedelta(microseconds=1))
