"""Coverage through the real distributed pipeline and the real clock: a source starts, stops and
resumes; the coverage job (the code `socpipe scheduler` runs) finds the gap exactly where the data
says, raises the silence alert and resolves it when data returns. Allowed silence is one minute,
so the test takes about a minute and a half."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from api.coverage.jobs import SILENT_RULE, CoverageJob, triage_resolver
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.store import AlertQuery, EventQuery
from stores.elastic.store import ElasticStore
from tests.backends import backend_of
from tests.e2e.procs import SocProcess, process_env
from tests.servers import ES_REFRESH_INTERVAL, Servers


@pytest.fixture
def stack(servers: Servers, prefix: str) -> Iterator[tuple[str, ElasticStore]]:
    env = process_env(servers, prefix)
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="so-khcn", name="Sở KH&CN")],
            systems=[
                InformationSystem(
                    id="portal",
                    name="Cổng TTĐT",
                    unit_id="so-khcn",
                    level=3,
                    important=True,
                    monitoring_deadline=datetime(2025, 8, 15).date(),
                )
            ],
            sources=[
                LogSource.model_validate(
                    {
                        "id": s,
                        "name": s,
                        "system_id": "portal",
                        "format": "ecs",
                        "token": f"tok-{s}",
                        "allowed_silence_minutes": 1,
                    }
                )
                for s in ("portal-web", "portal-fw")
            ],
        )
    )
    procs = [
        SocProcess(["api"], env, "api").start(),
        SocProcess(["worker", "normalize"], env, "n").start(),
        SocProcess(["worker", "index"], env, "i").start(),
    ]
    yield f"http://127.0.0.1:{env['SOC_HTTP_PORT']}", store
    for p in procs:
        p.terminate()
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.close()


def _send(url: str, source: str, n: int) -> None:
    line = orjson.dumps({"@timestamp": datetime.now(UTC).isoformat(), "message": f"{source} {n}"})
    resp = httpx.post(
        f"{url}/ingest/v1/events", content=line, headers={"Authorization": f"Bearer tok-{source}"}
    )
    assert resp.status_code == 202, resp.text


def _ms(ts: datetime) -> datetime:
    """Elasticsearch keeps dates to the millisecond: gaps are exact to that."""
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _wait_for(store: ElasticStore, source: str, count: int) -> datetime:
    """Wait until `count` events of `source` are indexed; return the latest ingest time (ms)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        store.refresh()
        page = store.search_events(EventQuery(source_id=source, size=1000))
        if page.total >= count:
            return _ms(max(e.event["ingested"] for e in page.items if e.event.get("ingested")))
        time.sleep(0.5)
    raise AssertionError(f"{source}: {count} events not indexed in time")


def test_a_source_stops_and_resumes_through_kafka(stack: tuple[str, ElasticStore]) -> None:
    url, store = stack
    repo = backend_of(store).coverage
    job = CoverageJob(store, repo, resolve_alert=triage_resolver(store))
    _send(url, "portal-web", 0)
    _send(url, "portal-fw", 0)
    last_fw = _wait_for(store, "portal-fw", 1)
    _wait_for(store, "portal-web", 1)
    assert job.run().figure("important_systems").covered == 1

    # portal-fw falls silent; portal-web keeps sending until the allowed minute has passed.
    n = 1
    while datetime.now(UTC) < last_fw + timedelta(seconds=65):
        _send(url, "portal-web", n)
        n += 1
        time.sleep(5)
    _wait_for(store, "portal-web", n)
    snap = job.run()
    assert snap.figure("important_systems").covered == 0
    open_gaps = {(g.kind, g.subject_id): g for g in repo.gaps() if g.end is None}
    assert open_gaps[("source", "portal-fw")].start == last_fw + timedelta(minutes=1)
    assert open_gaps[("system", "portal")].start == last_fw + timedelta(minutes=1)
    store.refresh()
    alerts = store.search_alerts(AlertQuery(rule_id=SILENT_RULE.id)).items
    assert [(a.soc.source.id, a.triage.status.value) for a in alerts] == [("portal-fw", "new")]

    # It resumes: the gap ends at the first event back and the alert resolves itself.
    _send(url, "portal-fw", 1)
    _send(url, "portal-web", n)
    back = _wait_for(store, "portal-fw", 2)
    _wait_for(store, "portal-web", n + 1)
    assert job.run().figure("important_systems").covered == 1
    closed = {(g.kind, g.subject_id): g for g in repo.gaps() if g.end is not None}
    assert closed[("source", "portal-fw")].end == back
    assert closed[("system", "portal")].end == back
    store.refresh()
    alert = store.get_alert(alerts[0].id)
    assert alert is not None and alert.triage.status.value == "resolved"
