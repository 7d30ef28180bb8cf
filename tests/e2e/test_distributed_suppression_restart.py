"""Distributed mode: restarting the detect worker between repeats keeps one alert with the right count.

Real processes (api, normalize, detect, index) on the real Kafka and Elasticsearch. Two repeats go
through, the detect worker is stopped and a new one started (nothing in its memory), then a third
repeat and a resend of the first record (a replay) arrive: one alert, counted three times.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from soc_core.alert import Alert
from soc_core.store import AlertQuery
from stores.elastic.store import ElasticStore
from tests.e2e.procs import SocProcess
from tests.e2e.test_distributed_alerts import _netsh, distributed_env, post_records
from tests.servers import Servers


def _vn02(store: ElasticStore) -> list[Alert]:
    store.refresh()
    return [a for a in store.search_alerts(AlertQuery()).items if "VN-02" in a.checklist]


def _wait_for_count(store: ElasticStore, count: int, timeout_s: float = 120) -> list[Alert]:
    deadline = time.monotonic() + timeout_s
    alerts: list[Alert] = []
    while time.monotonic() < deadline:
        alerts = _vn02(store)
        if sum(a.count for a in alerts) >= count:
            return alerts
        time.sleep(1)
    return alerts


def test_a_detect_restart_does_not_split_a_repeat_series(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    env, store = distributed_env(servers, prefix, tmp_path)
    procs = [SocProcess(["api"], env, "api").start()]
    try:
        for stage in ("normalize", "index"):
            procs.append(SocProcess(["worker", stage], env, stage).start(timeout_s=120))
        detect = SocProcess(["worker", "detect"], env, "detect").start(timeout_s=120)
        procs.append(detect)
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        post_records(env, b"\n".join(_netsh(n, t0 + timedelta(minutes=n)) for n in range(2)))
        (alert,) = _wait_for_count(store, 2)
        assert alert.count == 2

        assert detect.terminate() == 0  # SIGTERM: the batch in hand finishes and commits
        procs.append(SocProcess(["worker", "detect"], env, "detect-again").start(timeout_s=120))
        post_records(env, _netsh(2, t0 + timedelta(minutes=2)) + b"\n" + _netsh(0, t0))  # a repeat, a replay
        alerts = _wait_for_count(store, 3)
        time.sleep(3)  # anything late (a wrong second alert, a recount) has time to arrive
        alerts = _vn02(store)
        assert [(a.id, a.count) for a in alerts] == [(alert.id, 3)]
        assert alerts[0].last_seen == t0 + timedelta(minutes=2) and len(alerts[0].event_ids) == 3
    finally:
        for p in procs:
            p.terminate()
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
