"""The coverage report as the API, the console and the exports show it: one function builds it.

Figures are measured live (to the second) from the store; targets take their trend from the
snapshot history the scheduler keeps; gaps come from the history too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.support import Translations

from api.coverage.service import TARGET_SCOPE, evaluate_target, measure
from api.i18n import N_, label
from soc_core.coverage import CoverageRepository, CoverageSnapshot, Figure, Gap, SystemStatus, TargetStatus
from soc_core.registry import Registry
from soc_core.store import Store

SCOPE_LABELS = {
    "important_systems": N_("Important systems monitored"),
    "level3_and_above": N_("Level 3+ systems monitored"),
    "all_systems": N_("Information systems monitored"),
    "endpoints": N_("Computers with centralised anti-malware"),
    "service_centre_endpoints": N_("Public service centre computers with centralised anti-malware"),
}
TARGET_STATE = {
    "met": N_("Met"),
    "on_track": N_("On track"),
    "at_risk": N_("At risk"),
    "missed": N_("Missed"),
}
REASON = {
    "silent": N_("silent"),
    "never_connected": N_("never connected"),
    "delivering": N_("delivering"),
    "no anti-malware report": N_("no anti-malware report"),
    "anti-malware report overdue": N_("anti-malware report overdue"),
}
"""A source's state, or why an endpoint counts as unprotected (a gap's reason)."""


def gap_reason(reason: str, t: Translations) -> str:
    """A gap's reason (`yte-win: never_connected, ...`) with each state in words."""
    parts = []
    for piece in reason.split(", "):
        key, _, state = piece.partition(": ")
        parts.append(f"{key}: {label(REASON, state, t)}" if state else label(REASON, piece, t))
    return ", ".join(parts)


@dataclass(frozen=True)
class CoverageReport:
    now: datetime
    registry: Registry
    snapshot: CoverageSnapshot
    targets: list[TargetStatus]
    gaps: list[Gap]
    history: list[tuple[datetime, int, int]]

    def headline(self, scope: str) -> Figure:
        return self.snapshot.figure(scope)

    @property
    def unmonitored(self) -> list[SystemStatus]:
        return sorted(
            (s for s in self.snapshot.systems if not s.monitored),
            key=lambda s: (not s.important, -s.level, s.unit_id, s.system_id),
        )

    def unit_name(self, unit_id: str | None) -> str:
        if unit_id is None:
            return "Toàn tỉnh"
        return next((u.name for u in self.registry.units if u.id == unit_id), unit_id)

    def unit_rows(self) -> list[dict[str, Any]]:
        rows = []
        for unit in self.registry.units:
            systems = self.snapshot.figure("all_systems", unit.id)
            important = self.snapshot.figure("important_systems", unit.id)
            endpoints = self.snapshot.figure("endpoints", unit.id)
            if systems.total == 0 and endpoints.total == 0:
                continue
            rows.append({"unit": unit, "systems": systems, "important": important, "endpoints": endpoints})
        return rows


def build_report(
    store: Store,
    repo: CoverageRepository,
    *,
    now: datetime | None = None,
    history_days: int = 30,
    endpoint_window: timedelta = timedelta(hours=24),
    scope: str = "important_systems",
    unit_id: str | None = None,
) -> CoverageReport:
    now = now or datetime.now(UTC)
    registry = store.load_registry()
    activity = store.source_activity()
    reports = repo.antimalware_last_report(now - endpoint_window)
    snapshot = measure(
        registry,
        {k: v.last_ingested for k, v in activity.items()},
        reports,
        now,
        endpoint_window=endpoint_window,
    )
    start = now - timedelta(days=history_days)
    history = repo.history(scope, unit_id, start, now)
    targets = []
    for target in registry.targets:
        points = [
            (at, covered / total if total else 0.0)
            for at, covered, total in repo.history(
                TARGET_SCOPE[target.scope], target.unit_id, now - timedelta(days=14), now
            )
        ]
        targets.append(evaluate_target(target, snapshot, points))
    gaps = repo.gaps(start=start)
    return CoverageReport(
        now=now, registry=registry, snapshot=snapshot, targets=targets, gaps=gaps, history=history
    )


def report_json(report: CoverageReport) -> dict[str, Any]:
    """The JSON of `GET /api/v1/coverage`: figures per scope (province and units), targets, systems."""
    return {
        "at": report.now.isoformat(),
        "figures": [
            {
                "scope": f.scope,
                "unit_id": f.unit_id,
                "covered": f.covered,
                "total": f.total,
                "ratio": round(f.ratio, 4),
                "label": f"{f.covered}/{f.total}",
            }
            for f in report.snapshot.figures
        ],
        "targets": [
            t.model_dump(mode="json")
            | {
                "current": {
                    "covered": t.current.covered,
                    "total": t.current.total,
                    "ratio": round(t.current.ratio, 4),
                }
            }
            for t in report.targets
        ],
        "systems": [
            {
                "id": s.system_id,
                "name": s.name,
                "unit_id": s.unit_id,
                "level": s.level,
                "important": s.important,
                "monitored": s.monitored,
                "sources": [
                    {
                        "id": x.source_id,
                        "state": x.state.value,
                        "last_seen": x.last_seen.isoformat() if x.last_seen else None,
                        "not_delivering_since": x.not_delivering_since.isoformat()
                        if x.not_delivering_since
                        else None,
                    }
                    for x in s.sources
                ],
            }
            for s in report.snapshot.systems
        ],
        "endpoints": [e.model_dump(mode="json") for e in report.snapshot.endpoints],
    }
