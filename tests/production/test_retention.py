"""Retention per index kind on the real local Elasticsearch, with a controlled clock: an index
expires the configured days after the end of the day or month in its name."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from soc_core.errors import StoreError
from soc_core.store import AuditQuery
from socpipe.jobs import add_retention_job
from stores.elastic import ElasticBackend
from stores.elastic.retention import ElasticRetention, period_end
from stores.elastic.store import ElasticStore
from tests.servers import Servers

NOW = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
DAYS = {"events": 365, "alerts": 730, "deadletters": 90, "audit": 0}

# alerts: the ECS-shaped indices (issue 18) and the older ones, named by the same months
EXPIRED = ["events-2025.12.04", "alerts-2024.11", "alerts-ecs-2024.11", "deadletters-2026.08"]
KEPT = [
    "events-2025.12.05",  # its day ended 2025-12-06: 365 days later is tomorrow
    "events-2026.12.05",
    "alerts-2024.12",
    "alerts-ecs-2024.12",
    "deadletters-2026.09",
    "audit-2020.01",  # 0 days: kept forever
    "events-copy",  # not a day: left alone, reported
    "registry",
]


@pytest.fixture
def backend(servers: Servers, prefix: str) -> Iterator[ElasticBackend]:
    store = ElasticStore(servers.es_url, prefix=prefix)
    store.setup()
    built = ElasticBackend.over(store)
    for name in EXPIRED + KEPT:
        if not store.es.indices.exists(index=f"{prefix}{name}"):
            store.es.indices.create(index=f"{prefix}{name}")
    yield built
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.es.indices.delete_index_template(name=f"{prefix}*", ignore=[404])
    for kind in DAYS:
        store.es.options(ignore_status=[400, 404, 405, 500]).ilm.delete_lifecycle(
            name=f"{prefix}{kind}-retention"
        )
    store.close()


def indices(backend: ElasticBackend, prefix: str) -> set[str]:
    names = backend.client.indices.get_alias(index=f"{prefix}*")
    return {n.removeprefix(prefix) for n in names}


def test_expired_indices_go_the_rest_stay(backend: ElasticBackend, prefix: str) -> None:
    retention = backend.retention(DAYS)
    result = retention.run(NOW)
    assert result.unreadable == [f"{prefix}events-copy"]
    if retention.has_ilm():  # a cluster with ILM deletes them itself, counting from the period's end
        assert sorted(result.handed_to_ilm) == sorted(
            f"{prefix}{n}"
            for n in EXPIRED + KEPT
            if n.split("-")[0] in ("events", "alerts", "deadletters") and n != "events-copy"
        )
        got = backend.client.indices.get_settings(index=f"{prefix}events-2025.12.04", flat_settings=True)
        settings = got[f"{prefix}events-2025.12.04"]["settings"]
        assert settings["index.lifecycle.name"] == f"{prefix}events-retention"
        assert settings["index.lifecycle.origination_date"] == str(
            int(datetime(2025, 12, 5, tzinfo=UTC).timestamp() * 1000)
        )
        return
    assert sorted(result.deleted) == sorted(f"{prefix}{n}" for n in EXPIRED)
    left = indices(backend, prefix)
    assert not left & set(EXPIRED)
    assert set(KEPT) <= left
    # each deletion is in the audit log once, also after a second run that finds nothing to do
    assert retention.run(NOW).deleted == []
    backend.store.refresh()
    page = backend.store.search_audit(AuditQuery(action="retention.delete", size=10))
    assert sorted(e.target_id or "" for e in page.items) == sorted(f"{prefix}{n}" for n in EXPIRED)
    assert {e.actor for e in page.items} == {"system:retention"}


def test_a_day_later_the_next_day_expires(backend: ElasticBackend, prefix: str) -> None:
    retention = backend.retention({"events": 365})
    if retention.has_ilm():
        pytest.skip("ILM deletes on this cluster; the scheduler only hands indices over")
    retention.run(NOW)
    assert "events-2025.12.05" in indices(backend, prefix)
    assert retention.run(datetime(2026, 12, 6, tzinfo=UTC)).deleted == [f"{prefix}events-2025.12.05"]


def test_the_local_cluster_without_ilm_is_detected(backend: ElasticBackend) -> None:
    """The local integ-test build has no ILM: the scheduler must delete (a full distribution has it)."""
    assert backend.retention(DAYS).has_ilm() is False


def test_period_ends() -> None:
    assert period_end("2026.12.31", "day") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("2026.12", "month") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("2026.02", "month") == datetime(2026, 3, 1, tzinfo=UTC)
    assert period_end("copy", "month") is None


def test_an_unknown_kind_is_refused(backend: ElasticBackend) -> None:
    with pytest.raises(StoreError):
        ElasticRetention(backend.client, "x-", {"logs": 1}, audit=lambda entries: None)


def test_the_scheduler_job_deletes(backend: ElasticBackend, prefix: str) -> None:
    """The job as `socpipe scheduler` registers it, on the real clock: last year's day goes."""
    sched = BackgroundScheduler(timezone="UTC")
    add_retention_job(sched, backend.retention({"events": 30}), interval_s=3600, first_run=datetime.now(UTC))
    sched.start()
    try:
        deadline = time.monotonic() + 30
        while "events-2025.12.04" in indices(backend, prefix) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        sched.shutdown(wait=True)
    assert "events-2025.12.04" not in indices(backend, prefix)
    assert {"registry", "events-copy"} <= indices(backend, prefix)
