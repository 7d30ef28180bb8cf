"""The coverage job on both stores: sources start, stop and resume; figures, gaps and silence alerts
match what the test caused, to the second (the clock is the test's, the data is real)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.coverage.jobs import SILENT_RULE, CoverageJob, triage_resolver
from soc_core.alert import alert_id
from soc_core.event import Event
from soc_core.registry import Endpoint, InformationSystem, LogSource, Registry, Unit, UnitKind
from soc_core.store import AlertQuery, Store
from tests.backends import backend_of

T0 = datetime(2025, 8, 1, 1, 0, tzinfo=UTC)


def _registry() -> Registry:
    return Registry(
        units=[
            Unit(id="so-khcn", name="Sở KH&CN"),
            Unit(id="hcc", name="TT PVHCC", kind=UnitKind.SERVICE_CENTRE),
        ],
        systems=[
            InformationSystem(id="portal", name="Cổng TTĐT", unit_id="so-khcn", level=3, important=True),
            InformationSystem(id="qlvb", name="QLVB", unit_id="so-khcn", level=3, important=True),
        ],
        sources=[
            LogSource(id="portal-web", name="nginx", system_id="portal", allowed_silence_minutes=5),
            LogSource(id="qlvb-win", name="winsec", system_id="qlvb", allowed_silence_minutes=5),
        ],
        endpoints=[Endpoint(id="pc1", hostname="HCC-PC01", unit_id="hcc")],
    )


def _event(n: int, source: str, at: datetime, **extra: object) -> Event:
    return Event.from_doc(
        {
            "@timestamp": at,
            "message": f"{source} {n}",
            "host": {"name": extra.pop("host", "srv")},
            "event": {"id": f"{source}-{n}", "ingested": at, **extra},
            "soc": {"source": {"id": source}},
        }
    )


def test_sources_start_stop_and_resume(store: Store) -> None:
    store.save_registry(_registry())
    repo = backend_of(store).coverage
    resolve = triage_resolver(store)
    resolved: list[tuple[str, str]] = []

    def recording_resolver(aid: str, note: str) -> None:
        resolved.append((aid, note))
        resolve(aid, note)

    job = CoverageJob(store, repo, resolve_alert=recording_resolver)

    # Minute 0-10: both sources send every minute; the endpoint's Kaspersky agent reports.
    store.put_events(
        [_event(m, s, T0 + timedelta(minutes=m)) for m in range(11) for s in ("portal-web", "qlvb-win")]
    )
    store.put_events([_event(0, "hcc-ksc", T0 + timedelta(minutes=2), host="hcc-pc01", module="kaspersky")])
    store.refresh()
    snap = job.run(now=T0 + timedelta(minutes=10, seconds=30))
    assert (snap.figure("important_systems").covered, snap.figure("important_systems").total) == (2, 2)
    assert snap.figure("endpoints").covered == 1

    # portal-web stops after minute 10; qlvb-win keeps going until minute 30.
    store.put_events([_event(m, "qlvb-win", T0 + timedelta(minutes=m)) for m in range(11, 31)])
    store.refresh()
    snap = job.run(now=T0 + timedelta(minutes=14))  # 4 min of silence: still within the allowed 5
    assert snap.figure("important_systems").covered == 2
    snap = job.run(now=T0 + timedelta(minutes=16))
    assert snap.figure("important_systems").covered == 1
    gaps = {(g.kind, g.subject_id): g for g in repo.gaps() if g.end is None}
    assert gaps[("source", "portal-web")].start == T0 + timedelta(minutes=15)  # last event + 5 min
    assert gaps[("system", "portal")].start == T0 + timedelta(minutes=15)
    store.refresh()
    silent = store.search_alerts(AlertQuery(rule_id=SILENT_RULE.id))
    assert silent.total == 1
    alert = silent.items[0]
    assert (
        alert.soc.source.id == "portal-web"
        and alert.soc.system.id == "portal"
        and alert.soc.unit.id == "so-khcn"
    )
    assert alert.timestamp == T0 + timedelta(minutes=15)
    assert alert.severity.value == "high"  # level 3 system

    # A second run does not raise the alert again.
    job.run(now=T0 + timedelta(minutes=17))
    store.refresh()
    assert store.search_alerts(AlertQuery(rule_id=SILENT_RULE.id)).total == 1

    # portal-web resumes at minute 22:30.
    back = T0 + timedelta(minutes=22, seconds=30)
    store.put_events([_event(100 + m, "portal-web", back + timedelta(minutes=m)) for m in range(3)])
    store.refresh()
    snap = job.run(now=T0 + timedelta(minutes=25))
    assert snap.figure("important_systems").covered == 2
    closed = {(g.kind, g.subject_id): g for g in repo.gaps() if g.end is not None}
    assert closed[("source", "portal-web")].end == back
    assert closed[("system", "portal")].end == back
    assert resolved == [
        (
            alert_id(SILENT_RULE.id, "portal-web", (T0 + timedelta(minutes=15)).isoformat()),
            f"data returned at {back.isoformat()}",
        )
    ]
    store.refresh()
    silent_alert = store.get_alert(resolved[0][0])
    assert silent_alert is not None and silent_alert.triage.status.value == "resolved"  # through triage

    # History: one point per run, covering what happened.
    points = repo.history("important_systems", None, T0, T0 + timedelta(hours=1))
    assert [(c, t) for _, c, t in points] == [(2, 2), (2, 2), (1, 2), (1, 2), (2, 2)]
    # The endpoint report is older than 24 h a day later: it is no longer protected.
    snap = job.run(now=T0 + timedelta(days=1, minutes=3))
    assert snap.figure("endpoints").covered == 0
