"""What a periodic report says, gathered once from the store: the PDF, the DOCX and the JSON are
laid out from this one object, so they never disagree.

Figures (the Subcommittee's questions, issue 16):
- coverage now per scope, its change over the period (first snapshot of the period against now),
  and each registry target with its state and the projection of its trend (`api.coverage`);
- alerts raised on events of the period, by unit and severity (store facets: exact at any volume;
  deadline reminders are the SOC's own bookkeeping and are left out);
- incidents detected in the period (new) and resolved in it; mean time to acknowledge over the
  incidents acknowledged in the period, mean time to resolve over those resolved in it (the
  period's performance, whenever the incident began);
- log sources silent or never connected now; inspection findings past their remediation deadline.
"""

from __future__ import annotations

import statistics
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from api.coverage.view import build_report
from api.incidents.models import time_to_acknowledge, time_to_resolve
from api.inspections.jobs import REMINDER_RULE
from api.periodic.periods import ReportKind, bounds
from soc_core.alert import Incident, Severity
from soc_core.coverage import CoverageRepository, SourceState
from soc_core.inspections import InspectionRepository
from soc_core.store import AlertSearch, IncidentQuery, Store

COVERAGE_SCOPES = (
    "important_systems",
    "level3_and_above",
    "all_systems",
    "endpoints",
    "service_centre_endpoints",
)
NO_UNIT = "Chưa xác định đơn vị"
FACET_SPARE = 100
"""Unit buckets read beyond the registry's units: alerts of a unit since removed keep their own row."""
START_POINTS = 5000
"""Buckets the period's coverage history is read in to find its first measurement (a month: ~9 min)."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoverageRow(Section):
    scope: str
    covered: int
    total: int
    ratio: float
    ratio_at_start: float | None
    """The first measurement of the period (None: nothing was measured in it)."""


class TargetRow(Section):
    scope: str
    unit_name: str
    percent: float
    deadline: date
    current_percent: float
    projected_percent: float | None
    state: str


class UnitAlerts(Section):
    unit_id: str | None
    unit_name: str
    by_severity: dict[str, int]
    total: int


class IncidentRow(Section):
    id: str
    title: str
    severity: str
    status: str
    units: list[str]
    detected_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None


class SilentSource(Section):
    source_id: str
    name: str
    system_name: str
    unit_name: str
    state: str
    last_seen: datetime | None


class OverdueFinding(Section):
    id: str
    unit_name: str
    checklist_code: str | None
    description: str
    minutes_date: date
    remediation_deadline: date
    days_overdue: int


class PeriodicReport(Section):
    kind: ReportKind
    period_first: date
    period_following: date
    generated_at: datetime
    generated_by: str
    coverage_at: datetime
    coverage: list[CoverageRow]
    targets: list[TargetRow]
    alerts_total: int
    alerts_by_severity: dict[str, int]
    alerts_by_unit: list[UnitAlerts]
    new_incidents: list[IncidentRow]
    resolved_incidents: list[IncidentRow]
    acknowledged_in_period: int
    mtta_s: float | None
    mttr_s: float | None
    silent_sources: list[SilentSource]
    overdue_findings: list[OverdueFinding]


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _all_incidents(store: Store) -> list[Incident]:
    found: list[Incident] = []
    cursor: str | None = None
    while True:
        page = store.search_incidents(IncidentQuery(size=200, cursor=cursor))
        found += page.items
        cursor = page.cursor
        if cursor is None or not page.items:
            return found


def _unit_counts(
    store: Store, start: datetime, end: datetime, units: int
) -> dict[str | None, dict[str, int]]:
    """Alerts per unit (None: no unit) and severity, without deadline reminders."""
    counts: dict[str | None, dict[str, int]] = {}
    for severity in Severity:
        search: dict[str, Any] = {"start": start, "end": end, "severity": [severity.value], "size": 1}
        every = store.alert_facets(AlertSearch(**search), ["unit"], size=units + FACET_SPARE)["unit"]
        reminders = store.alert_facets(
            AlertSearch(**search, rule_id=REMINDER_RULE.id), ["unit"], size=units + FACET_SPARE
        )
        minus = {b.value: b.count for b in reminders["unit"]}
        total = store.search_alert_queue(AlertSearch(**search)).total
        total -= store.search_alert_queue(AlertSearch(**search, rule_id=REMINDER_RULE.id)).total
        named = 0
        for bucket in every:
            n = bucket.count - minus.get(bucket.value, 0)
            if n:
                counts.setdefault(bucket.value, {})[severity.value] = n
                named += n
        if total - named > 0:
            counts.setdefault(None, {})[severity.value] = total - named
    return counts


def _incident_row(inc: Incident, unit_names: dict[str, str]) -> IncidentRow:
    return IncidentRow(
        id=inc.id,
        title=inc.title,
        severity=inc.severity.value,
        status=inc.status.value,
        units=[unit_names.get(u, u) for u in inc.unit_ids],
        detected_at=inc.detected_at,
        acknowledged_at=inc.acknowledged_at,
        resolved_at=inc.resolved_at,
        time_to_acknowledge_s=time_to_acknowledge(inc),
        time_to_resolve_s=time_to_resolve(inc),
    )


def build_periodic(
    *,
    store: Store,
    coverage: CoverageRepository,
    inspections: InspectionRepository,
    kind: ReportKind,
    first: date,
    following: date,
    generated_by: str,
    now: datetime,
) -> PeriodicReport:
    """The report of the period [`first`, `following`) as measured at `now`."""
    start, end = bounds(first, following)
    report = build_report(store, coverage, now=now, history_days=1)
    registry, snapshot = report.registry, report.snapshot
    unit_names = {u.id: u.name for u in registry.units}

    rows = []
    for scope in COVERAGE_SCOPES:
        figure = snapshot.figure(scope)
        # Elasticsearch keeps each bucket's last snapshot: fine buckets, so the first is the start's.
        history = coverage.history(scope, None, start, min(end, now), max_points=START_POINTS)
        at_start = history[0] if history else None
        rows.append(
            CoverageRow(
                scope=scope,
                covered=figure.covered,
                total=figure.total,
                ratio=round(figure.ratio, 4),
                ratio_at_start=round(at_start[1] / at_start[2], 4) if at_start and at_start[2] else None,
            )
        )
    targets = [
        TargetRow(
            scope=t.scope,
            unit_name=unit_names.get(t.unit_id, t.unit_id) if t.unit_id else "Toàn tỉnh",
            percent=t.percent,
            deadline=t.deadline,
            current_percent=round(100 * t.current.ratio, 1),
            projected_percent=t.projected_percent,
            state=t.state.value,
        )
        for t in report.targets
    ]

    counts = _unit_counts(store, start, end, len(registry.units))
    by_unit = [
        UnitAlerts(
            unit_id=unit_id,
            unit_name=unit_names.get(unit_id, unit_id) if unit_id else NO_UNIT,
            by_severity={s.value: per.get(s.value, 0) for s in Severity},
            total=sum(per.values()),
        )
        for unit_id, per in counts.items()
    ]
    by_unit.sort(key=lambda u: (-u.total, u.unit_name))
    by_severity = {s.value: sum(u.by_severity[s.value] for u in by_unit) for s in Severity}

    incidents = _all_incidents(store)
    new = sorted((i for i in incidents if start <= i.detected_at < end), key=lambda i: i.detected_at)
    resolved = sorted(
        (i for i in incidents if i.resolved_at and start <= i.resolved_at < end), key=lambda i: i.detected_at
    )
    acknowledged = [i for i in incidents if i.acknowledged_at and start <= i.acknowledged_at < end]

    systems = {s.system_id: s for s in snapshot.systems}
    silent = [
        SilentSource(
            source_id=src.source_id,
            name=src.name,
            system_name=system.name,
            unit_name=unit_names.get(system.unit_id, system.unit_id),
            state=src.state.value,
            last_seen=src.last_seen,
        )
        for system in systems.values()
        for src in system.sources
        if src.state is not SourceState.DELIVERING
    ]
    silent.sort(key=lambda s: (s.unit_name, s.system_name, s.source_id))

    overdue = [
        OverdueFinding(
            id=f.id,
            unit_name=unit_names.get(f.unit_id, f.unit_id),
            checklist_code=f.checklist_code,
            description=f.description,
            minutes_date=f.minutes_date,
            remediation_deadline=f.remediation_deadline,
            days_overdue=-f.days_left(now),
        )
        for f in inspections.list_findings()
        if f.remediation(now) == "overdue"
    ]
    overdue.sort(key=lambda f: (f.remediation_deadline, f.unit_name, f.id))

    return PeriodicReport(
        kind=kind,
        period_first=first,
        period_following=following,
        generated_at=now,
        generated_by=generated_by,
        coverage_at=snapshot.at,
        coverage=rows,
        targets=targets,
        alerts_total=sum(by_severity.values()),
        alerts_by_severity=by_severity,
        alerts_by_unit=by_unit,
        new_incidents=[_incident_row(i, unit_names) for i in new],
        resolved_incidents=[_incident_row(i, unit_names) for i in resolved],
        acknowledged_in_period=len(acknowledged),
        mtta_s=_mean([s for i in acknowledged if (s := time_to_acknowledge(i)) is not None]),
        mttr_s=_mean([s for i in resolved if (s := time_to_resolve(i)) is not None]),
        silent_sources=silent,
        overdue_findings=overdue,
    )
