"""The coverage job: every minute, measure, record gaps, raise or resolve silence alerts, publish
gauges. Run by APScheduler (`socpipe scheduler`, or a background scheduler in embedded mode)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from prometheus_client import Gauge

from api.coverage.service import TARGET_SCOPE, measure, track_gaps
from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.coverage import CoverageRepository, CoverageSnapshot, Gap
from soc_core.event import Soc, SocSource, SocSystem, SocUnit
from soc_core.metrics import SOURCE_LAST_SEEN
from soc_core.registry import CoverageTarget, Registry
from soc_core.store import Store

log = logging.getLogger(__name__)

SYSTEMS_IN_SCOPE = Gauge(
    "soc_systems", "Information systems in scope (was soc_systems_total)", ["scope", "unit"]
)
SYSTEMS_MONITORED = Gauge("soc_systems_monitored", "Information systems monitored", ["scope", "unit"])
COVERAGE_RATIO = Gauge("soc_coverage_ratio", "Covered / total for a scope (0..1)", ["scope", "unit"])
ENDPOINTS_IN_SCOPE = Gauge(
    "soc_endpoints", "Registered endpoints in scope (was soc_endpoints_total)", ["scope", "unit"]
)
ENDPOINTS_PROTECTED = Gauge(
    "soc_endpoints_protected", "Endpoints whose anti-malware reported", ["scope", "unit"]
)
COVERAGE_TARGET = Gauge(
    "soc_coverage_target_ratio",
    "The registry's coverage target for a scope (0..1): the one with the next deadline",
    ["scope", "unit"],
)

SILENT_RULE = RuleRef(
    id="socpipe-log-source-silent",
    name="Nguồn nhật ký ngừng gửi (log source silent)",
    author="socpipe",
    description="A log source the registry requires has sent nothing for longer than its allowed silence; "
    "the system it belongs to is not monitored until data returns.",
    level="medium",
    tags=["socpipe.coverage"],
)

ResolveAlert = Callable[[str, str], None]
"""Resolve alert `id` with a note (the triage workflow records who and when)."""


def silence_alert(gap: Gap, registry: Registry) -> Alert:
    source = next((s for s in registry.sources if s.id == gap.subject_id), None)
    system = next((s for s in registry.systems if source and s.id == source.system_id), None)
    unit = next((u for u in registry.units if system and u.id == system.unit_id), None)
    severity = Severity.HIGH if system and system.level >= 3 else Severity.MEDIUM
    return Alert.model_validate(
        {
            "id": alert_id(SILENT_RULE.id, gap.subject_id, gap.start.isoformat()),
            "@timestamp": gap.start,
            "severity": severity,
            "rule": SILENT_RULE,
            "soc": Soc(
                unit=SocUnit(id=unit.id if unit else None, name=unit.name if unit else None),
                system=SocSystem(
                    id=system.id if system else None,
                    name=system.name if system else None,
                    level=system.level if system else None,
                ),
                source=SocSource(id=gap.subject_id, format=source.format if source else None),
            ),
            "event": {
                "message": f"log source {gap.subject_id} silent since {gap.start.isoformat()}",
                "gap": {"kind": gap.kind, "subject_id": gap.subject_id, "start": gap.start.isoformat()},
            },
            "first_seen": gap.start,
            "last_seen": gap.start,
        }
    )


class CoverageJob:
    def __init__(
        self,
        store: Store,
        repo: CoverageRepository,
        *,
        resolve_alert: ResolveAlert | None = None,
        endpoint_window: timedelta = timedelta(hours=24),
    ) -> None:
        self.store = store
        self.repo = repo
        self.resolve_alert = resolve_alert
        self.endpoint_window = endpoint_window
        self.last: CoverageSnapshot | None = None

    def run(self, now: datetime | None = None) -> CoverageSnapshot:
        now = now or datetime.now(UTC)
        registry = self.store.load_registry()
        activity = self.store.source_activity()
        reports = self.repo.antimalware_last_report(now - self.endpoint_window)
        snapshot = measure(
            registry,
            {k: v.last_ingested for k, v in activity.items()},
            reports,
            now,
            endpoint_window=self.endpoint_window,
        )
        changes = track_gaps(self.repo.open_gaps(), snapshot, self.repo.first_ingest_after)
        self.repo.save_gaps(changes.opened, changes.closed)
        alerts = [
            silence_alert(g, registry) for g in changes.opened if g.kind == "source" and g.reason == "silent"
        ]
        if alerts:
            self.store.put_alerts(alerts)
        for gap in changes.closed:
            if gap.kind == "source" and gap.reason == "silent" and self.resolve_alert is not None:
                self.resolve_alert(
                    alert_id(SILENT_RULE.id, gap.subject_id, gap.start.isoformat()),
                    f"data returned at {gap.end.isoformat() if gap.end else '?'}",
                )
        self.repo.save_snapshot(snapshot)
        publish_gauges(snapshot)
        publish_targets(registry.targets, now)
        for source_id, act in activity.items():
            if act.last_ingested:
                SOURCE_LAST_SEEN.labels(source_id).set(act.last_ingested.timestamp())
        self.last = snapshot
        log.info(
            "coverage snapshot: %s",
            ", ".join(f"{f.scope}={f.covered}/{f.total}" for f in snapshot.figures if f.unit_id is None),
        )
        return snapshot


def publish_gauges(snapshot: CoverageSnapshot) -> None:
    for f in snapshot.figures:
        unit = f.unit_id or "province"
        if f.scope.endswith("endpoints"):
            ENDPOINTS_IN_SCOPE.labels(f.scope, unit).set(f.total)
            ENDPOINTS_PROTECTED.labels(f.scope, unit).set(f.covered)
        else:
            SYSTEMS_IN_SCOPE.labels(f.scope, unit).set(f.total)
            SYSTEMS_MONITORED.labels(f.scope, unit).set(f.covered)
        COVERAGE_RATIO.labels(f.scope, unit).set(f.ratio)


def publish_targets(targets: Iterable[CoverageTarget], now: datetime) -> None:
    """One target per scope and unit, for Prometheus' "coverage below target" rule
    (deploy/prometheus/socpipe.rules.yml): the one whose deadline comes next, or the last one
    once every deadline has passed. The console weighs deadlines and trends (`evaluate_target`)."""
    today = now.date()
    chosen: dict[tuple[str, str], CoverageTarget] = {}
    for t in sorted(targets, key=lambda t: t.deadline):
        key = (TARGET_SCOPE[t.scope], t.unit_id or "province")
        current = chosen.get(key)
        if current is None or current.deadline < today:
            chosen[key] = t
    COVERAGE_TARGET.clear()  # a target removed from the registry stops being a series
    for (scope, unit), t in chosen.items():
        COVERAGE_TARGET.labels(scope, unit).set(t.percent / 100)


COVERAGE_ACTOR = "socpipe-coverage"


def triage_resolver(store: Store) -> ResolveAlert:
    """Resolve a silence alert through the triage workflow (recorded on the alert and audited as
    the coverage job), unless an analyst already closed it."""
    from api.alerts import service as alerts
    from api.alerts.models import TriageEdit
    from api.auth.deps import Principal, Role
    from soc_core.alert import AlertStatus

    actor = Principal(
        user_id=COVERAGE_ACTOR, username=COVERAGE_ACTOR, role=Role.ANALYST, display_name="Coverage job"
    )

    def resolve(alert_id: str, note: str) -> None:
        current = store.get_alert(alert_id)
        if current is None or current.triage.status in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE):
            return
        alerts.update(
            store=store,
            alert_id=alert_id,
            actor=actor,
            change=TriageEdit(status=AlertStatus.RESOLVED, comment=note),
        )

    return resolve
