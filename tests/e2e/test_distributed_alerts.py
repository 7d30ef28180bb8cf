"""Distributed mode, the whole way: Winlogbeat records posted to the intake go through Kafka, the
normalize, detect and index workers, and arrive in Elasticsearch as events and one suppressed
alert (count = number of repeats); the scheduler process serves its health."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.store import AlertQuery, EventQuery
from stores.elastic.store import ElasticStore, EsAuth, connect
from tests.e2e.procs import SocProcess, process_env
from tests.servers import ES_REFRESH_INTERVAL, Servers

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
TOKEN = "e2e-winlogbeat-token"


def _netsh(n: int, at: datetime) -> bytes:
    return orjson.dumps(
        {
            "@timestamp": at.isoformat().replace("+00:00", "Z"),
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_id": 1,
                "record_id": 1000 + n,
                "provider_name": "Microsoft-Windows-Sysmon",
                "computer_name": "MOTCUA-PC01.xa.local",
                "event_data": {
                    "Image": "C:\\Windows\\System32\\netsh.exe",
                    "CommandLine": "netsh advfirewall set allprofiles state off",
                    "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                    "User": "XA\\vanthu",
                },
            },
        }
    )


def distributed_env(
    servers: Servers, prefix: str, tmp_path: Path, *, auth: EsAuth | None = None, **settings: str
) -> tuple[dict[str, str], ElasticStore]:
    """The environment of every process (plus `settings`, e.g. security), and the store (reached
    with `auth`) with the unit, system and Winlogbeat source."""
    env = process_env(
        servers,
        prefix,
        SOC_RULE_DIRS=orjson.dumps([str(PACK)]).decode(),
        SOC_DATA_DIR=str(tmp_path),
        **settings,
    )
    store = ElasticStore(
        connect(servers.es_url, auth=auth), prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL
    )
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="xa-gia-tran", name="UBND xã Gia Trấn")],
            systems=[InformationSystem(id="motcua", name="Một cửa", unit_id="xa-gia-tran", level=2)],
            sources=[
                LogSource.model_validate(
                    {
                        "id": "motcua-winlog",
                        "name": "Winlogbeat",
                        "system_id": "motcua",
                        "format": "winlogbeat",
                        "token": TOKEN,
                    }
                )
            ],
        )
    )
    return env, store


def post_records(env: dict[str, str], body: bytes) -> None:
    resp = httpx.post(
        f"http://127.0.0.1:{env['SOC_HTTP_PORT']}/ingest/v1/events",
        content=body,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert resp.status_code == 202, resp.text


def test_winlogbeat_records_become_one_suppressed_alert_in_elasticsearch(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    env, store = distributed_env(servers, prefix, tmp_path)
    records_become_one_alert(env, store, prefix)


def records_become_one_alert(env: dict[str, str], store: ElasticStore, prefix: str) -> None:
    """The API, the three workers and the scheduler as processes of `env`; three posted records end
    as three events and one alert with count 3 in `store` (the test's indices are deleted after)."""
    procs = [SocProcess(["api"], env, "api").start()]
    try:
        for stage in ("normalize", "detect", "index"):
            procs.append(SocProcess(["worker", stage], env, stage).start(timeout_s=120))
        procs.append(SocProcess(["scheduler"], env, "scheduler").start())
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        post_records(env, b"\n".join(_netsh(n, t0 + timedelta(minutes=n)) for n in range(3)))
        deadline = time.monotonic() + 120
        alerts = []
        while time.monotonic() < deadline:
            store.refresh()
            alerts = [a for a in store.search_alerts(AlertQuery()).items if "VN-02" in a.checklist]
            if alerts and alerts[0].count == 3:
                break
            time.sleep(1)
        assert store.search_events(EventQuery(source_id="motcua-winlog")).total == 3
        assert len(alerts) == 1, [a.rule.name for a in alerts]
        alert = alerts[0]
        assert alert.count == 3
        assert alert.last_seen == t0 + timedelta(minutes=2)
        assert (alert.soc.unit.id, alert.soc.system.id, alert.host_name) == (
            "xa-gia-tran",
            "motcua",
            "motcua-pc01",
        )
        assert alert.rule.author
    finally:
        for p in procs:
            p.terminate()
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
