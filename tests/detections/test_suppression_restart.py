"""Suppression survives a detect restart: the new stage continues the series the store holds.

Embedded mode (SQLite, detect and store in one process) and distributed mode (detect worker ->
Kafka -> index worker -> Elasticsearch) both restart the stage between repeats and must end with one
alert counting every repeat once, replays included.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from buses.kafka import KafkaBus
from detections.stage import DetectStage, SuppressingDetect
from soc_core.alert import Alert
from soc_core.bus import Message
from soc_core.event import Event
from soc_core.open_alerts import OpenAlert, StoreOpenAlerts
from soc_core.pipeline import BatchOutcome, detect_batch, store_outcome
from soc_core.settings import Mode, Settings
from soc_core.store import AlertSearch, Store
from socpipe.runtime import build_detect
from socpipe.workers import detect_handler, index_handler
from stores.elastic.store import ElasticStore
from stores.sqlite.store import SqliteStore
from tests.backends import backend_of
from tests.detections.test_stage import NETSH_RULE, PACK, netsh_event
from tests.servers import ES_REFRESH_INTERVAL, Servers


def settings_for(tmp_path: Path, **stores: str) -> Settings:
    return Settings.model_validate(
        {
            "mode": Mode.DISTRIBUTED if stores else Mode.EMBEDDED,
            "data_dir": tmp_path,
            "detection": {"rule_dirs": [PACK]},
            "stores": stores,
        }
    )


def netsh_alerts(store: Store) -> list[Alert]:
    store.refresh()
    page = store.search_alert_queue(AlertSearch(rule_id=NETSH_RULE, size=50))
    return sorted(page.items, key=lambda a: a.timestamp)


def embedded_run(detect: SuppressingDetect, store: Store, events: Sequence[Event]) -> None:
    """What `EmbeddedPipeline.ingest` does after normalizing: detect, then store the batch."""
    outcome = BatchOutcome(events=list(events))
    outcome.alerts, outcome.repeats = detect_batch(detect, outcome.events)
    store_outcome(store, outcome)


@pytest.fixture
def sqlite(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "store.sqlite3")
    store.setup()
    return store


def test_embedded_restart_continues_the_series(sqlite: SqliteStore, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    backend = backend_of(sqlite)
    embedded_run(build_detect(settings, backend), sqlite, [netsh_event("ev-1", 0), netsh_event("ev-2", 1)])

    restarted = build_detect(settings, backend)  # a new process: nothing in memory
    embedded_run(restarted, sqlite, [netsh_event("ev-2", 1), netsh_event("ev-3", 2)])  # a replay, a repeat
    (alert,) = netsh_alerts(sqlite)
    assert (alert.count, alert.event_ids) == (3, ["ev-1", "ev-2", "ev-3"])
    assert alert.last_seen == netsh_event("ev-3", 2).timestamp

    again = build_detect(settings, backend)  # replay everything after one more restart: no change
    embedded_run(again, sqlite, [netsh_event(f"ev-{n + 1}", n) for n in range(3)])
    (alert,) = netsh_alerts(sqlite)
    assert alert.count == 3

    later = build_detect(settings, backend)  # past the window (10 min from the first): a new alert
    embedded_run(later, sqlite, [netsh_event("ev-4", 12)])
    assert [a.count for a in netsh_alerts(sqlite)] == [3, 1]


def test_without_the_lookup_a_restart_splits_the_series(
    sqlite: SqliteStore, pack_engine: DetectStage
) -> None:
    """What the lookup fixes (and what the test above would see without it)."""
    embedded_run(SuppressingDetect(DetectStage(pack_engine.engine)), sqlite, [netsh_event("ev-1", 0)])
    embedded_run(SuppressingDetect(DetectStage(pack_engine.engine)), sqlite, [netsh_event("ev-2", 1)])
    assert [a.count for a in netsh_alerts(sqlite)] == [1, 1]


def test_a_stage_seeded_on_start_needs_no_lookup_per_key(
    sqlite: SqliteStore, pack_engine: DetectStage
) -> None:
    lookup = StoreOpenAlerts(lambda: sqlite)
    embedded_run(SuppressingDetect(DetectStage(pack_engine.engine, lookup=lookup)), sqlite, [netsh_event()])
    stage = DetectStage(pack_engine.engine, lookup=lookup)
    now = netsh_event().timestamp + timedelta(minutes=3)
    assert stage.suppressor.seed_recent(now, limit=100) == 1
    embedded_run(SuppressingDetect(stage), sqlite, [netsh_event("ev-2", 2)])
    assert stage.suppressor.counters["lookups"] == 0
    (alert,) = netsh_alerts(sqlite)
    assert alert.count == 2


class CountingLookup:
    """The store's lookup, counting how it is asked."""

    def __init__(self, inner: StoreOpenAlerts) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.keys = 0

    def find(self, rule_id: str, host_key: str, at: datetime, window: timedelta) -> OpenAlert | None:
        self.calls["find"] += 1
        return self.inner.find(rule_id, host_key, at, window)

    def find_many(
        self, keys: Sequence[tuple[str, str, datetime]], window: timedelta
    ) -> list[OpenAlert | None]:
        self.calls["find_many"] += 1
        self.keys += len(keys)
        return self.inner.find_many(keys, window)

    def recent(self, since: datetime, limit: int) -> list[OpenAlert]:
        return self.inner.recent(since, limit)


def test_a_restarted_stage_asks_the_store_once_a_batch_for_its_new_keys(
    sqlite: SqliteStore, pack_engine: DetectStage
) -> None:
    """After a restart every (rule, host) is new: one request for the batch, not one per key, and
    the same series as one lookup per key would continue."""
    hosts = ["ws-1", "ws-2", "ws-3"]
    first = SuppressingDetect(DetectStage(pack_engine.engine, lookup=StoreOpenAlerts(lambda: sqlite)))
    embedded_run(first, sqlite, [netsh_event(f"ev-{h}-1", 0, host=h) for h in hosts])

    lookup = CountingLookup(StoreOpenAlerts(lambda: sqlite))
    restarted = SuppressingDetect(DetectStage(pack_engine.engine, lookup=lookup))
    batch = [netsh_event(f"ev-{h}-{n}", n, host=h) for n in (2, 3) for h in hosts]
    embedded_run(restarted, sqlite, [*batch, netsh_event("ev-new", 3, host="ws-new")])
    assert lookup.calls == {"find_many": 1} and lookup.keys == 4  # three series and one new host
    counts = {a.host_name: (a.count, a.event_ids) for a in netsh_alerts(sqlite)}
    assert counts == {
        **{h: (3, [f"ev-{h}-1", f"ev-{h}-2", f"ev-{h}-3"]) for h in hosts},
        "ws-new": (1, ["ev-new"]),
    }
    embedded_run(restarted, sqlite, [netsh_event("ev-new-2", 4, host="ws-new")])  # known now: no lookup
    assert lookup.calls == {"find_many": 1}


def test_seeding_on_start_tolerates_a_store_that_is_down(pack_engine: DetectStage, tmp_path: Path) -> None:
    """A detect worker starts while its store is down; the first lookup then raises (batch retried)."""
    broken = SqliteStore(tmp_path / "gone" / "store.sqlite3")
    broken.close()
    stage = DetectStage(pack_engine.engine, lookup=StoreOpenAlerts(lambda: broken))
    assert stage.suppressor.seed_recent(netsh_event().timestamp, limit=10) == 0
    assert stage.suppressor.counters["seed_errors"] == 1


@pytest.fixture(scope="module")
def pack_engine() -> DetectStage:
    from detections.engine import DetectionEngine

    return DetectStage(DetectionEngine.from_folders([PACK]))


# -- distributed: detect worker -> Kafka -> index worker -> Elasticsearch --------------------------


def _messages(topic: str, events: Sequence[Event]) -> list[Message]:
    return [Message(topic, 0, n, None, e.to_json()) for n, e in enumerate(events)]


def test_distributed_restart_continues_the_series(servers: Servers, prefix: str, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        kafka_bootstrap=servers.kafka_bootstrap,
        es_url=servers.es_url,
        topic_prefix=prefix,
        index_prefix=prefix,
    )
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    backend = backend_of(store)
    bus = KafkaBus(servers.kafka_bootstrap)
    bus.ensure_topics(settings.stores.topics, 1)
    alerts_in = bus.consumer([settings.stores.topic_alerts], f"{prefix}index")
    index = index_handler(settings, store)
    topic = settings.stores.topic_events

    def detect_and_index(events: Sequence[Event], expect_records: int) -> None:
        detect_handler(settings, bus, build_detect(settings, backend))(_messages(topic, events))
        got: list[Message] = []
        deadline = time.monotonic() + 30
        while len(got) < expect_records and time.monotonic() < deadline:
            got.extend(alerts_in.poll(100, timeout_s=1))
        assert len(got) == expect_records
        index(got)
        alerts_in.commit()
        store.refresh()  # the index worker's writes become searchable (1 s in production)

    try:
        detect_and_index([netsh_event("ev-1", 0), netsh_event("ev-2", 1)], 2)  # an alert, a repeat
        detect_and_index([netsh_event("ev-2", 1), netsh_event("ev-3", 2)], 2)  # restarted: two repeats
        (alert,) = netsh_alerts(store)
        assert (alert.count, alert.event_ids) == (3, ["ev-1", "ev-2", "ev-3"])
    finally:
        alerts_in.close()
        bus.close()
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
