"""SIGKILL the HTTP receiver (`socpipe api`, distributed) during a load of 50,000 events: every
event it acknowledged (202) is on the raw topic. The client retries what was not acknowledged,
so in the end all 50,000 are there, each id once among the distinct ids."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from soc_core.records import record_id
from stores.elastic.store import ElasticStore
from tests.e2e.procs import SocProcess, process_env
from tests.ingest.helpers import consume_raw, save_registry, source
from tests.servers import ES_REFRESH_INTERVAL, Servers

pytestmark = [pytest.mark.servers, pytest.mark.chaos]
TOKEN = "kill-test-token"
TOTAL = 50_000
BATCH = 500


@pytest.fixture
def env(servers: Servers, prefix: str) -> Iterator[dict[str, str]]:
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    save_registry(store, [source("load-ecs", format="ecs", token=TOKEN)])
    yield process_env(servers, prefix)
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.close()


def _payload(n: int) -> str:
    return orjson.dumps({"@timestamp": "2025-07-01T08:00:00+07:00", "message": f"load {n}"}).decode()


def _body(start: int) -> bytes:
    return b"\n".join(
        orjson.dumps({"id": f"load:{n}", "payload": _payload(n)}) for n in range(start, start + BATCH)
    )


def _post_all(url: str, acked: list[int], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, TOTAL, BATCH):
            while not stop.is_set():
                try:
                    resp = client.post(
                        "/ingest/v1/records",
                        content=_body(start),
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                except httpx.TransportError:
                    time.sleep(0.2)  # the receiver is down: not acknowledged, send again
                    continue
                if resp.status_code == 202:
                    acked.append(start)
                    break
                assert resp.status_code == 503, resp.text
                time.sleep(float(resp.headers.get("Retry-After", "1")))


def test_every_acknowledged_event_is_on_the_raw_topic_after_a_sigkill(
    env: dict[str, str], prefix: str
) -> None:
    api = SocProcess(["api"], env, "api").start()
    procs = [api]
    acked: list[int] = []
    stop = threading.Event()
    url = f"http://127.0.0.1:{env['SOC_HTTP_PORT']}"
    poster = threading.Thread(target=_post_all, args=(url, acked, stop), daemon=True)
    poster.start()
    try:
        deadline = time.monotonic() + 120
        while len(acked) * BATCH < TOTAL * 2 // 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        api.kill()  # SIGKILL mid-load
        acked_before_kill = {n for start in list(acked) for n in range(start, start + BATCH)}
        assert acked_before_kill, "nothing acknowledged before the kill"
        api = SocProcess(["api"], env, "api-2").start()
        procs.append(api)
        poster.join(300)
        assert not poster.is_alive(), "the load did not finish"
    finally:
        stop.set()
        for p in procs:
            p.terminate()
    on_topic = {
        r.id for r in consume_raw(env["SOC_KAFKA_BOOTSTRAP"], f"{prefix}soc.raw", TOTAL, timeout_s=120)
    }
    expected = {n: record_id("load-ecs", _payload(n), f"load:{n}") for n in range(TOTAL)}
    missing_acked = [n for n in acked_before_kill if expected[n] not in on_topic]
    assert missing_acked == [], f"{len(missing_acked)} acknowledged events are not on the topic"
    assert on_topic == set(expected.values())  # the retried rest arrived too, nothing foreign
    assert len(acked) * BATCH == TOTAL
