"""Distributed correlation on the real Kafka and Elasticsearch: the correlate worker is SIGKILLed
mid-window and restarted, and every group still gets exactly one alert per window, with the
right count (nothing lost, nothing counted twice)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from buses.kafka import KafkaBus
from soc_core.settings import StoreSettings
from soc_core.store import AlertQuery
from stores.elastic.store import ElasticStore
from tests.detections.correlation.conftest import BASE_RULES, correlation, win
from tests.e2e.procs import SocProcess, process_env
from tests.servers import ES_REFRESH_INTERVAL, Servers

pytestmark = [pytest.mark.servers, pytest.mark.chaos]

CID = "00000000-0000-4000-8000-00000000c001"
GROUPS = 12
FIRST, SECOND = 30, 8  # failed logons per group in its first and second window


def _events(t0: datetime) -> tuple[list[bytes], list[bytes]]:
    """Per group: FIRST logons 5 s apart, then SECOND more an hour later (a second window); the
    groups interleaved in time, as one domain controller's log would have them."""
    offset = (t0 - datetime(2025, 7, 1, 8, 0, tzinfo=UTC)).total_seconds()
    first = [
        win(4625, offset + 5 * n, IpAddress=f"10.7.0.{g}").to_json()
        for n in range(FIRST)
        for g in range(GROUPS)
    ]
    second = [
        win(4625, offset + 3600 + 5 * n, IpAddress=f"10.7.0.{g}").to_json()
        for n in range(SECOND)
        for g in range(GROUPS)
    ]
    return first, second


def _counts(store: ElasticStore) -> dict[tuple[str | None, datetime | None], int]:
    store.refresh()
    alerts = store.search_alerts(AlertQuery(rule_id=CID, size=500)).items
    out: dict[tuple[str | None, datetime | None], int] = {}
    for a in alerts:
        key = (a.event.get("winlog", {}).get("event_data", {}).get("IpAddress"), a.first_seen)
        assert key not in out, f"two alerts for one group and window: {key}"
        out[key] = a.count
    return out


def _wait(
    store: ElasticStore, want: int, total: int, timeout_s: float
) -> dict[tuple[str | None, datetime | None], int]:
    deadline = time.monotonic() + timeout_s
    counts = _counts(store)
    while time.monotonic() < deadline and not (len(counts) == want and sum(counts.values()) == total):
        time.sleep(1)
        counts = _counts(store)
    return counts


def test_sigkill_of_the_correlate_worker_mid_window(servers: Servers, prefix: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    brute_force = correlation(
        "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 10m\ncondition:\n    gte: 5"
    )
    for i, text in enumerate((*BASE_RULES, brute_force)):
        (rules / f"r{i}.yml").write_text(text)
    env = process_env(
        servers,
        prefix,
        SOC_CONSUMER_BATCH="25",
        SOC_RULE_DIRS=json.dumps([str(rules)]),
        SOC_DATA_DIR=str(tmp_path / "data"),
        SOC_CORRELATION_LATENESS_S="5",
    )
    stores = StoreSettings(topic_prefix=prefix, kafka_bootstrap=servers.kafka_bootstrap)
    bus = KafkaBus(servers.kafka_bootstrap)
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    first, second = _events(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3))
    procs: list[SocProcess] = []
    try:
        for stage in ("detect", "index"):
            procs.append(SocProcess(["worker", stage], env, stage).start(timeout_s=120))
        correlate = SocProcess(["worker", "correlate"], env, "correlate").start(timeout_s=120)
        procs.append(correlate)
        bus.publish(
            stores.topic_events, [(b"src-dc", e) for e in first]
        )  # keyed by source, as normalize does
        fired = _wait(store, GROUPS, GROUPS * FIRST, 120)  # every group fired, its window still open
        assert len(fired) == GROUPS
        for n in range(0, len(second), 16):  # the second windows arrive while the worker is killed
            bus.publish(stores.topic_events, [(b"src-dc", e) for e in second[n : n + 16]])
            if n == 32:
                correlate.kill()
        restarted = SocProcess(["worker", "correlate"], env, "correlate-2").start(timeout_s=120)
        procs.append(restarted)
        counts = _wait(store, 2 * GROUPS, GROUPS * (FIRST + SECOND), 180)
        assert sorted(counts.values()) == [SECOND] * GROUPS + [FIRST] * GROUPS, restarted.log()
        assert "correlation state restored" in restarted.log()
    finally:
        for p in procs:
            p.terminate()
        bus.close()
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
