"""Coverage measurement, targets and gaps: pure functions of the registry and what the store saw.

No I/O here, so the rules in `models.py` are tested directly and the scheduler job
(`api.coverage.jobs`) only gathers inputs and stores outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from soc_core.coverage import (
    CoverageSnapshot,
    EndpointStatus,
    Figure,
    Gap,
    SourceState,
    SourceStatus,
    SystemStatus,
    TargetState,
    TargetStatus,
)
from soc_core.registry import CoverageScope, CoverageTarget, Registry, UnitKind

SYSTEM_SCOPES: dict[str, Callable[[SystemStatus], bool]] = {
    "important_systems": lambda s: s.important,
    "level3_and_above": lambda s: s.level >= 3,
    "all_systems": lambda s: True,
}
ENDPOINT_SCOPES = ("endpoints", "service_centre_endpoints")


def measure(
    registry: Registry,
    source_last_seen: Mapping[str, datetime | None],
    antimalware_last_report: Mapping[str, datetime],
    now: datetime,
    *,
    endpoint_window: timedelta = timedelta(hours=24),
) -> CoverageSnapshot:
    """The coverage of the province at `now`.

    `source_last_seen`: last ingest time per source id; `antimalware_last_report`: last anti-malware
    report per host name, lower-cased.
    """
    sources_by_system: dict[str, list[SourceStatus]] = {}
    for src in registry.sources:
        last = source_last_seen.get(src.id)
        allowed = timedelta(minutes=src.allowed_silence_minutes)
        if last is None:
            state, since = SourceState.NEVER, None
        elif now - last < allowed:
            state, since = SourceState.DELIVERING, None
        else:
            state, since = SourceState.SILENT, last + allowed
        sources_by_system.setdefault(src.system_id, []).append(
            SourceStatus(
                source_id=src.id,
                name=src.name,
                system_id=src.system_id,
                state=state,
                last_seen=last,
                allowed_silence_minutes=src.allowed_silence_minutes,
                not_delivering_since=since,
            )
        )
    systems = [
        SystemStatus(
            system_id=s.id,
            name=s.name,
            unit_id=s.unit_id,
            level=s.level,
            important=s.important,
            monitoring_deadline=s.monitoring_deadline,
            sources=sources_by_system.get(s.id, []),
            monitored=bool(sources_by_system.get(s.id))
            and all(x.state is SourceState.DELIVERING for x in sources_by_system[s.id]),
        )
        for s in registry.systems
    ]
    service_centres = {u.id for u in registry.units if u.kind is UnitKind.SERVICE_CENTRE}
    endpoints = []
    for ep in registry.endpoints:
        report = antimalware_last_report.get(ep.hostname.lower())
        endpoints.append(
            EndpointStatus(
                endpoint_id=ep.id,
                hostname=ep.hostname,
                unit_id=ep.unit_id,
                secret_documents=ep.secret_documents,
                last_report=report,
                protected=report is not None and now - report < endpoint_window,
            )
        )
    figures = _figures(systems, endpoints, service_centres, [u.id for u in registry.units])
    return CoverageSnapshot(at=now, systems=systems, endpoints=endpoints, figures=figures)


def _figures(
    systems: list[SystemStatus],
    endpoints: list[EndpointStatus],
    service_centres: set[str],
    unit_ids: list[str],
) -> list[Figure]:
    figures: list[Figure] = []
    for unit_id in [None, *unit_ids]:
        scoped_systems = [s for s in systems if unit_id is None or s.unit_id == unit_id]
        for scope, included in SYSTEM_SCOPES.items():
            chosen = [s for s in scoped_systems if included(s)]
            figures.append(
                Figure(
                    scope=scope, unit_id=unit_id, total=len(chosen), covered=sum(s.monitored for s in chosen)
                )
            )
        scoped_endpoints = [e for e in endpoints if unit_id is None or e.unit_id == unit_id]
        centre = [e for e in scoped_endpoints if e.unit_id in service_centres]
        figures.append(
            Figure(
                scope="endpoints",
                unit_id=unit_id,
                total=len(scoped_endpoints),
                covered=sum(e.protected for e in scoped_endpoints),
            )
        )
        figures.append(
            Figure(
                scope="service_centre_endpoints",
                unit_id=unit_id,
                total=len(centre),
                covered=sum(e.protected for e in centre),
            )
        )
    return [f for f in figures if f.unit_id is None or f.total > 0]


TARGET_SCOPE = {
    CoverageScope.IMPORTANT_SYSTEMS: "important_systems",
    CoverageScope.LEVEL3_AND_ABOVE: "level3_and_above",
    CoverageScope.SERVICE_CENTRE_ENDPOINTS: "service_centre_endpoints",
}


def evaluate_target(
    target: CoverageTarget, snapshot: CoverageSnapshot, history: Iterable[tuple[datetime, float]]
) -> TargetStatus:
    """Met, on track, at risk or missed; the trend is a least-squares line through `history`
    (time, ratio 0..1) projected to the end of the deadline day (Asia/Ho_Chi_Minh, UTC+7)."""
    scope = TARGET_SCOPE[target.scope]
    current = snapshot.figure(scope, target.unit_id)
    percent_now = 100 * current.ratio
    deadline_end = datetime.combine(target.deadline, time(23, 59, 59), tzinfo=UTC) - timedelta(hours=7)
    # A forecast only means something before the deadline.
    projected = _project(list(history), deadline_end) if snapshot.at <= deadline_end else None
    if percent_now >= target.percent:
        state = TargetState.MET
    elif snapshot.at > deadline_end:
        state = TargetState.MISSED
    elif projected is not None and projected >= target.percent:
        state = TargetState.ON_TRACK
    else:
        state = TargetState.AT_RISK
    return TargetStatus(
        target_id=target.id,
        scope=scope,
        unit_id=target.unit_id,
        percent=target.percent,
        deadline=target.deadline,
        current=current,
        state=state,
        projected_percent=None if projected is None else round(projected, 1),
    )


def _project(points: list[tuple[datetime, float]], when: datetime) -> float | None:
    """Percent expected at `when` from a linear fit; None without at least an hour of history."""
    if len(points) < 2 or (max(p[0] for p in points) - min(p[0] for p in points)) < timedelta(hours=1):
        return None
    t0 = points[0][0]
    xs = [(p[0] - t0).total_seconds() for p in points]
    ys = [100 * p[1] for p in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0
    last_x, last_y = xs[-1], ys[-1]
    projected = last_y + slope * ((when - t0).total_seconds() - last_x)
    return max(0.0, min(100.0, projected))


@dataclass
class GapChanges:
    opened: list[Gap] = field(default_factory=list)
    closed: list[Gap] = field(default_factory=list)  # with their `end` set


FirstIngestAfter = Callable[[str, datetime], datetime | None]


def track_gaps(
    open_gaps: Mapping[tuple[str, str], Gap], snapshot: CoverageSnapshot, first_ingest_after: FirstIngestAfter
) -> GapChanges:
    """Compare a snapshot with the gaps still open: open new ones, close those that ended.

    A closed source gap ends at the first event ingested after it started, so the history is
    exact to the event, not to the snapshot minute.
    """
    changes = GapChanges()
    source_ends: dict[str, datetime] = {}
    for system in snapshot.systems:
        for src in system.sources:
            key = ("source", src.source_id)
            gap = open_gaps.get(key)
            if src.state is not SourceState.DELIVERING and gap is None:
                start = src.not_delivering_since or snapshot.at
                changes.opened.append(
                    Gap(
                        kind="source", subject_id=src.source_id, start=start, end=None, reason=src.state.value
                    )
                )
            elif src.state is SourceState.DELIVERING and gap is not None:
                end = first_ingest_after(src.source_id, gap.start) or src.last_seen or snapshot.at
                end = max(end, gap.start)
                source_ends[src.source_id] = end
                changes.closed.append(gap.model_copy(update={"end": end}))
    for system in snapshot.systems:
        key = ("system", system.system_id)
        gap = open_gaps.get(key)
        if not system.monitored and gap is None:
            failing = system.failing_sources
            starts = [s.not_delivering_since or snapshot.at for s in failing] or [snapshot.at]
            reason = ", ".join(f"{s.source_id}: {s.state.value}" for s in failing) or "no log source declared"
            changes.opened.append(
                Gap(kind="system", subject_id=system.system_id, start=min(starts), end=None, reason=reason)
            )
        elif system.monitored and gap is not None:
            ends = [source_ends[s.source_id] for s in system.sources if s.source_id in source_ends]
            changes.closed.append(gap.model_copy(update={"end": max(ends) if ends else snapshot.at}))
    for ep in snapshot.endpoints:
        key = ("endpoint", ep.endpoint_id)
        gap = open_gaps.get(key)
        if not ep.protected and gap is None:
            changes.opened.append(
                Gap(
                    kind="endpoint",
                    subject_id=ep.endpoint_id,
                    start=snapshot.at,
                    end=None,
                    reason="no anti-malware report"
                    if ep.last_report is None
                    else "anti-malware report overdue",
                )
            )
        elif ep.protected and gap is not None:
            changes.closed.append(
                gap.model_copy(update={"end": max(ep.last_report or snapshot.at, gap.start)})
            )
    return changes


def monitored_since(gaps: Iterable[Gap], system_id: str, first_event: datetime | None) -> datetime | None:
    """Since when a monitored system has been monitored: the end of its last gap, else its first event."""
    ends = [g.end for g in gaps if g.kind == "system" and g.subject_id == system_id and g.end is not None]
    return max(ends) if ends else first_event


def days_until(deadline: date, now: datetime) -> int:
    return (deadline - now.date()).days
