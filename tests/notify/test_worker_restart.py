"""`socpipe worker notify` as a real process on the real Kafka and Elasticsearch: stopped and started
again, it neither tells a group again nor loses the alerts a digest was holding; and a routing
version saved while it runs is in force within `SOC_NOTIFY_CONFIG_POLL_S`, without a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from buses.kafka import KafkaBus
from soc_core.alert import Alert, Severity
from soc_core.notify_config import ConfigKind, NotifyConfigVersion
from soc_core.settings import StoreSettings
from stores.elastic.notify_config import ElasticNotifyConfigStore
from stores.elastic.store import ElasticStore
from tests.e2e.procs import SocProcess, process_env
from tests.notify.conftest import make_alert
from tests.notify.servers import HttpStub
from tests.servers import ES_REFRESH_INTERVAL, Servers

WINDOW_S = 45
"""The digest window: long enough for the worker to restart and take one more alert before it ends."""


def test_flood_memory_and_routing_edits_in_a_running_worker(
    servers: Servers, prefix: str, http: HttpStub, tmp_path: Path
) -> None:
    env = process_env(
        servers,
        prefix,
        SOC_DATA_DIR=str(tmp_path),
        SOC_NOTIFY_ONCALL=orjson.dumps([f"webhook:{http.url}/soc"]).decode(),
        SOC_NOTIFY_WEBHOOK_SECRET="k",
        SOC_NOTIFY_DIGEST_THRESHOLD="2",
        SOC_NOTIFY_DIGEST_WINDOW_S=str(WINDOW_S),
        SOC_NOTIFY_CONFIG_POLL_S="1",
        SOC_NOTIFY_RETRY_INITIAL_S="0",
    )
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    topic = StoreSettings(topic_prefix=prefix).topic_alerts
    bus = KafkaBus(servers.kafka_bootstrap)
    bus.ensure_topics([topic, StoreSettings(topic_prefix=prefix).topic_deadletter], 1)
    now = datetime.now(UTC).replace(microsecond=0)
    alerts = {n: make_alert(n, at=now) for n in range(1, 6)}

    def publish(*sent: Alert) -> None:
        bus.publish(topic, [(a.id.encode(), a.to_json()) for a in sent])

    first = SocProcess(["worker", "notify"], env, "notify").start(timeout_s=120)
    again: SocProcess | None = None
    try:
        publish(*(alerts[n] for n in range(1, 5)))
        told = http.wait_for(2, timeout=60)
        assert [r.json()["data"]["alert_id"] for r in told] == [alerts[1].id, alerts[2].id]
        time.sleep(1)  # nothing more: 3 and 4 wait for the digest
        assert len(http.requests) == 2
        assert first.terminate() == 0

        again = SocProcess(["worker", "notify"], env, "notify-again").start(timeout_s=120)
        publish(alerts[1], alerts[5])  # a replay of a group already told, and one more in the flood
        requests = http.wait_for(3, timeout=WINDOW_S + 60)
        digest = requests[2].json()["data"]
        assert digest["kind"] == "digest" and digest["total"] == 3, [r.json()["data"] for r in requests]
        assert digest["alert_ids"] == [alerts[n].id for n in (3, 4, 5)]

        ElasticNotifyConfigStore(store.es, prefix).put(
            NotifyConfigVersion(
                kind=ConfigKind.ROUTING,
                version=1,
                text="rules:\n  - name: critical-only\n    min_severity: critical\n"
                f"    to: ['webhook:{http.url}/changed']\n",
                author="quantri",
                reason="thử",
                created_at=datetime.now(UTC),
            )
        )
        time.sleep(3)  # more than the poll interval
        critical = make_alert(6, at=datetime.now(UTC), severity=Severity.CRITICAL)
        publish(make_alert(7, at=datetime.now(UTC)), critical)  # high: no longer routed
        requests = http.wait_for(4, timeout=60)
        assert requests[3].path == "/changed" and requests[3].json()["data"]["alert_id"] == critical.id
        time.sleep(2)
        assert len(http.requests) == 4, [(r.path, r.json()["data"]) for r in http.requests]
    finally:
        for proc in (first, again):
            if proc is not None:
                proc.terminate()
        bus.close()
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
