"""Notifications in both modes, never in the pipeline's way: embedded mode's background notifier
behind a bounded hand-off, and the distributed `worker notify` on the alerts topic in its own group."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from soc_core.bus import Bus
from soc_core.event import Event
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import DeadLetter, RawRecord
from soc_core.registry import Registry
from soc_core.settings import NotifySettings, Settings, StoreSettings
from socpipe.notify import AlertHandoff, build_notify_worker, start_embedded_notify
from socpipe.workers import StageWorker
from stores.sqlite.store import SqliteStore
from tests.conftest import make_event
from tests.notify.conftest import make_alert, registry
from tests.notify.servers import HttpStub


def notify_settings(http: HttpStub, **extra: object) -> NotifySettings:
    values: dict[str, object] = {
        "oncall": [f"webhook:{http.url}/soc"],
        "webhook_secret": "k",
        "timeout_s": 60,
        "retry_initial_s": 0,
    }
    values.update(extra)
    return NotifySettings(**values)  # type: ignore[arg-type]


def test_embedded_pipeline_hands_alerts_to_the_background_notifier(http: HttpStub, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    store.save_registry(registry())
    alert = make_alert(1)
    event = make_event(1)

    def normalize(record: RawRecord) -> Event:
        return event

    pipeline = EmbeddedPipeline(store, normalize, lambda e: [alert])
    settings = Settings(notify=notify_settings(http))
    handoff, runner, thread = start_embedded_notify(
        settings, registry=store.load_registry, store=store, deadletter=store.put_deadletters
    )
    pipeline.alert_sink = handoff.offer
    http.hold = threading.Event()  # the webhook receiver hangs until released
    try:
        outcome = pipeline.ingest([RawRecord(id="r1", source_id="src-portal", payload="x")])
        # the batch is stored and acknowledged while the notification is still stuck in delivery
        assert [a.id for a in outcome.alerts] == [alert.id]
        assert store.get_alert(alert.id) is not None
        assert http.requests == []
        http.hold.set()
        [req] = http.wait_for(1)
        assert req.json()["data"]["alert_id"] == alert.id
    finally:
        runner.stop.set()
        thread.join(10)
        store.close()
    assert not thread.is_alive()


def test_a_full_handoff_is_a_dead_letter_never_a_wait() -> None:
    letters: list[DeadLetter] = []

    def sink(batch: Sequence[DeadLetter]) -> None:
        letters.extend(batch)

    handoff = AlertHandoff(2, sink)
    handoff.offer([make_alert(n) for n in range(3)])
    assert handoff.waiting == 2
    [letter] = letters
    assert letter.stage == "notify" and letter.reason.startswith("notification queue full (2 alerts waiting)")
    assert [m.key for m in handoff.poll(10, 0.1)] == [make_alert(n).id.encode() for n in range(2)]


def test_notify_worker_reads_the_alerts_topic_in_its_own_group(
    bus: Bus, prefix: str, http: HttpStub, tmp_path: Path
) -> None:
    stores = StoreSettings(topic_prefix=prefix, topic_partitions=1)
    settings = Settings(stores=stores, notify=notify_settings(http))
    bus.ensure_topics([stores.topic_alerts, stores.topic_deadletter], 1)
    store = SqliteStore(tmp_path / "s.sqlite3")  # triage reads only (acknowledgements)
    store.setup()
    stop = threading.Event()
    letters: list[DeadLetter] = []

    def sink(batch: Sequence[DeadLetter]) -> None:
        letters.extend(batch)

    notifier = build_notify_worker(settings, registry=Registry, store=store, deadletter=sink, stop=stop)
    consumer = bus.consumer([stores.topic_alerts], f"{prefix}socpipe-notify")
    runner = StageWorker("notify", consumer, notifier.handle, idle=notifier.idle, stop=stop, deadletter=sink)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        alert = make_alert(7)
        repeat = b'{"repeat":{"alert_id":"x"}}'
        bus.publish(
            stores.topic_alerts, [(alert.id.encode(), alert.to_json()), (b"x", repeat), (b"y", b"{oops")]
        )
        [req] = http.wait_for(1, timeout=60)
        assert req.json()["data"]["alert_id"] == alert.id
        # the index worker's group is untouched: it still reads every alert from the start
        other = bus.consumer([stores.topic_alerts], f"{prefix}socpipe-index")
        seen: list[bytes] = []
        for _ in range(60):
            seen += [m.value for m in other.poll(10, 1.0)]
            if len(seen) >= 3:
                break
        other.close()
        assert len(seen) == 3
    finally:
        stop.set()
        thread.join(30)
        store.close()
    assert [(d.stage, d.reason.split(" at ")[0]) for d in letters] == [("notify", "undecodable record")], (
        letters
    )
