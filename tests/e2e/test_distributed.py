"""Distributed mode on the real Kafka and Elasticsearch: every accepted event is indexed exactly
once, also when the normalize and index workers are killed with SIGKILL mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from stores.elastic.store import ElasticStore
from tests.e2e.procs import SocProcess, process_env
from tests.servers import Servers

TOKEN = "e2e-token-portal"
TOTAL = 6000
BATCH = 100


@pytest.fixture
def stack(servers: Servers, prefix: str) -> Iterator[tuple[dict[str, str], ElasticStore]]:
    env = process_env(
        servers,
        prefix,
        SOC_CONSUMER_BATCH="200",
    )
    store = ElasticStore(servers.es_url, prefix=prefix)
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="so-khcn", name="Sở Khoa học và Công nghệ")],
            systems=[
                InformationSystem(id="portal", name="Cổng TTĐT", unit_id="so-khcn", level=3, important=True)
            ],
            sources=[
                LogSource.model_validate(
                    {
                        "id": "portal-ecs",
                        "name": "ECS",
                        "system_id": "portal",
                        "format": "ecs",
                        "token": TOKEN,
                    }
                )
            ],
        )
    )
    yield env, store
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.close()


def _batch(start: int) -> bytes:
    return b"\n".join(
        orjson.dumps(
            {
                "@timestamp": f"2025-07-{1 + n % 28:02d}T08:00:{n % 60:02d}+07:00",
                "message": f"n={n}",
                "event": {"id": f"rec-{n}"},
                "host": {"name": f"host{n % 7}"},
            }
        )
        for n in range(start, start + BATCH)
    )


def _post_all(url: str, progress: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for start in range(0, TOTAL, BATCH):
            while True:
                resp = client.post(
                    "/ingest/v1/events", content=_batch(start), headers={"Authorization": f"Bearer {TOKEN}"}
                )
                if resp.status_code == 202:
                    break
                assert resp.status_code == 503, resp.text  # back-pressure is the only acceptable refusal
                time.sleep(float(resp.headers.get("Retry-After", "1")))
            progress.append(start + BATCH)


def _indexed_ids(store: ElasticStore) -> list[str]:
    """Every indexed event id, duplicates included (paged with search_after, no scroll contexts)."""
    store.refresh()
    ids: list[str] = []
    after: list[object] | None = None
    while True:
        extra = {"search_after": after} if after else {}
        resp = store.es.search(
            index=f"{store.prefix}events-*",
            size=5000,
            sort=[{"event.id": "asc"}, "_index"],
            source=["event.id"],
            **extra,
        )
        hits = resp["hits"]["hits"]
        if not hits:
            return ids
        ids.extend(h["_source"]["event"]["id"] for h in hits)
        after = hits[-1]["sort"]


@pytest.mark.chaos
def test_events_reach_elasticsearch_exactly_once_through_worker_kills(
    stack: tuple[dict[str, str], ElasticStore],
) -> None:
    env, store = stack
    api = SocProcess(["api"], env, "api").start()
    normalize = SocProcess(["worker", "normalize"], env, "normalize").start()
    index = SocProcess(["worker", "index"], env, "index").start()
    procs = [api, normalize, index]
    try:
        progress: list[int] = []
        poster = threading.Thread(
            target=_post_all, args=(f"http://127.0.0.1:{env['SOC_HTTP_PORT']}", progress)
        )
        poster.start()
        while not progress or progress[-1] < TOTAL // 3:
            time.sleep(0.05)
        normalize.kill()
        normalize = SocProcess(["worker", "normalize"], env, "normalize-2").start()
        procs.append(normalize)
        while progress[-1] < 2 * TOTAL // 3:
            time.sleep(0.05)
        index.kill()
        index = SocProcess(["worker", "index"], env, "index-2").start()
        procs.append(index)
        poster.join(timeout=300)
        assert not poster.is_alive()

        deadline = time.monotonic() + 180
        ids: list[str] = []
        while time.monotonic() < deadline:
            ids = _indexed_ids(store)
            if len(ids) >= TOTAL:
                break
            time.sleep(1)
        time.sleep(3)  # let any replayed duplicates arrive: they must not be written
        ids = _indexed_ids(store)
        assert len(ids) == TOTAL, f"{len(ids)} indexed for {TOTAL} accepted"
        assert len(set(ids)) == TOTAL
        event = store.get_event(ids[0])
        assert event is not None
        assert (event.soc.source.id, event.soc.unit.id, event.soc.system.id) == (
            "portal-ecs",
            "so-khcn",
            "portal",
        )

        # SIGTERM: each worker finishes its batch, commits and exits cleanly.
        assert normalize.terminate() == 0, normalize.log()
        assert index.terminate() == 0, index.log()
        assert "stopped after" in normalize.log()
        metrics = httpx.get(f"{api.ops_url}/metrics").text  # the ops listener, not the public port
        assert 'soc_source_events_received_total{source="portal-ecs"}' in metrics
    finally:
        for p in procs:
            p.terminate()
