"""Coverage rules on a small registry: monitored systems, gaps exact to the event, targets."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from api.coverage.service import evaluate_target, measure, track_gaps
from soc_core.coverage import Gap, SourceState, TargetState
from soc_core.registry import (
    CoverageScope,
    CoverageTarget,
    Endpoint,
    InformationSystem,
    LogSource,
    Registry,
    Unit,
    UnitKind,
)

T0 = datetime(2025, 8, 1, 3, 0, tzinfo=UTC)


def registry() -> Registry:
    return Registry(
        units=[
            Unit(id="so-y-te", name="Sở Y tế"),
            Unit(id="hcc", name="TT PVHCC", kind=UnitKind.SERVICE_CENTRE),
        ],
        systems=[
            InformationSystem(id="portal", name="Cổng", unit_id="so-y-te", level=3, important=True),
            InformationSystem(id="qlvb", name="QLVB", unit_id="so-y-te", level=2, important=True),
            InformationSystem(id="wiki", name="Wiki", unit_id="so-y-te", level=1, important=False),
            InformationSystem(id="empty", name="No sources", unit_id="hcc", level=3, important=True),
        ],
        sources=[
            LogSource(id="portal-web", name="web", system_id="portal", allowed_silence_minutes=15),
            LogSource(id="portal-fw", name="fw", system_id="portal", allowed_silence_minutes=5),
            LogSource(id="qlvb-win", name="win", system_id="qlvb", allowed_silence_minutes=15),
            LogSource(id="wiki-web", name="web", system_id="wiki"),
        ],
        endpoints=[
            Endpoint(id="pc1", hostname="HCC-PC01", unit_id="hcc"),
            Endpoint(id="pc2", hostname="HCC-PC02", unit_id="hcc"),
        ],
    )


def test_a_system_is_monitored_only_when_every_source_delivers() -> None:
    seen = {
        "portal-web": T0 - timedelta(minutes=1),
        "portal-fw": T0 - timedelta(minutes=6),
        "qlvb-win": T0 - timedelta(minutes=14, seconds=59),
    }
    snap = measure(registry(), seen, {"hcc-pc01": T0 - timedelta(hours=2)}, T0)
    status = {s.system_id: s for s in snap.systems}
    assert not status["portal"].monitored  # the firewall passed its 5 minutes
    assert [(s.source_id, s.state) for s in status["portal"].failing_sources] == [
        ("portal-fw", SourceState.SILENT)
    ]
    assert status["portal"].failing_sources[0].not_delivering_since == T0 - timedelta(minutes=1)
    assert status["qlvb"].monitored
    assert status["wiki"].failing_sources[0].state is SourceState.NEVER
    assert not status["empty"].monitored  # declares no source
    important = snap.figure("important_systems")
    assert (important.covered, important.total) == (1, 3)
    assert (snap.figure("level3_and_above").covered, snap.figure("level3_and_above").total) == (0, 2)
    assert (
        snap.figure("service_centre_endpoints").covered,
        snap.figure("service_centre_endpoints").total,
    ) == (1, 2)
    assert snap.figure("important_systems", "so-y-te").total == 2


def test_gaps_open_when_silence_passes_and_close_at_the_first_event_back() -> None:
    reg = registry()
    seen = {"portal-web": T0, "portal-fw": T0, "qlvb-win": T0, "wiki-web": T0}
    first = measure(reg, seen, {}, T0 + timedelta(minutes=1))
    changes = track_gaps({}, first, lambda s, t: None)
    opened = {(g.kind, g.subject_id): g for g in changes.opened}
    assert ("system", "portal") not in opened
    assert opened[("system", "empty")].reason == "no log source declared"

    # The firewall stops at T0; at T0+10 it has been silent past its 5 minutes.
    later = T0 + timedelta(minutes=10)
    seen2 = {**seen, "portal-web": later, "qlvb-win": later, "wiki-web": later}
    snap = measure(reg, seen2, {}, later)
    changes = track_gaps(opened, snap, lambda s, t: None)
    new = {(g.kind, g.subject_id): g for g in changes.opened}
    assert new[("source", "portal-fw")].start == T0 + timedelta(minutes=5)
    assert new[("source", "portal-fw")].reason == "silent"
    assert new[("system", "portal")].start == T0 + timedelta(minutes=5)
    assert "portal-fw: silent" in new[("system", "portal")].reason

    # Data returns at T0+17:30 (first event); the snapshot runs at T0+20.
    back = T0 + timedelta(minutes=17, seconds=30)
    now = T0 + timedelta(minutes=20)
    snap = measure(
        reg,
        {
            **seen2,
            "portal-fw": now - timedelta(seconds=10),
            "portal-web": now,
            "qlvb-win": now,
            "wiki-web": now,
        },
        {},
        now,
    )
    all_open = {**opened, **new}
    changes = track_gaps(all_open, snap, lambda s, t: back if s == "portal-fw" else None)
    closed = {(g.kind, g.subject_id): g for g in changes.closed}
    assert closed[("source", "portal-fw")].end == back
    assert closed[("system", "portal")].end == back
    assert ("system", "empty") not in closed


def test_endpoint_gap_opens_and_closes() -> None:
    reg = registry()
    snap = measure(reg, {}, {"hcc-pc01": T0 - timedelta(hours=25)}, T0)
    changes = track_gaps({}, snap, lambda s, t: None)
    eps = {g.subject_id: g for g in changes.opened if g.kind == "endpoint"}
    assert eps["pc1"].reason == "anti-malware report overdue"
    assert eps["pc2"].reason == "no anti-malware report"
    snap2 = measure(reg, {}, {"hcc-pc01": T0 + timedelta(minutes=3)}, T0 + timedelta(minutes=5))
    closed = track_gaps({("endpoint", "pc1"): eps["pc1"]}, snap2, lambda s, t: None).closed
    assert closed[0].end == T0 + timedelta(minutes=3)


def _target(percent: float, deadline: date) -> CoverageTarget:
    return CoverageTarget(id="t", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=percent, deadline=deadline)


def test_target_states_from_current_ratio_deadline_and_trend() -> None:
    reg = registry()
    now = datetime(2025, 8, 10, 3, 0, tzinfo=UTC)
    seen = {"portal-web": now, "portal-fw": now, "qlvb-win": now}
    snap = measure(reg, seen, {}, now)  # 2 of 3 important systems
    assert evaluate_target(_target(60, date(2025, 8, 15)), snap, []).state is TargetState.MET
    assert evaluate_target(_target(100, date(2025, 8, 1)), snap, []).state is TargetState.MISSED
    rising = [(now - timedelta(days=d), (9 - d) / 9 * 0.667) for d in range(9, -1, -1)]
    on_track = evaluate_target(_target(100, date(2025, 8, 20)), snap, rising)
    assert on_track.state is TargetState.ON_TRACK
    assert on_track.projected_percent is not None and on_track.projected_percent >= 100
    flat = [(now - timedelta(days=d), 0.667) for d in range(5, -1, -1)]
    at_risk = evaluate_target(_target(100, date(2025, 8, 15)), snap, flat)
    assert at_risk.state is TargetState.AT_RISK
    assert at_risk.projected_percent is not None and 66 <= at_risk.projected_percent <= 67
    assert evaluate_target(_target(100, date(2025, 8, 15)), snap, []).state is TargetState.AT_RISK


def test_no_gap_is_reopened_while_open() -> None:
    reg = registry()
    snap = measure(reg, {}, {}, T0)
    open_gaps = {(g.kind, g.subject_id): g for g in track_gaps({}, snap, lambda s, t: None).opened}
    assert (
        track_gaps(open_gaps, measure(reg, {}, {}, T0 + timedelta(minutes=1)), lambda s, t: None).opened == []
    )
    assert all(isinstance(g, Gap) for g in open_gaps.values())
