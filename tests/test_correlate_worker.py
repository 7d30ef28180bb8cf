"""The correlate worker on the in-process bus: hits from the detect worker, alerts to soc.alerts,
state in the changelog before the commit; a crash at any point counts nothing twice."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from soc_core.bus import InProcessBus, KeyValue, Message
from soc_core.errors import BusError
from soc_core.settings import DetectionSettings, Settings, StoreSettings
from socpipe.correlate import CorrelateWorker
from socpipe.workers import HitBuffer, StageWorker, detect_handler
from tests.detections.correlation.conftest import BASE_RULES, correlation, win

BRUTE_FORCE = correlation(
    "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 10m\ncondition:\n    gte: 5"
)


@pytest.fixture
def rules(tmp_path: Path) -> DetectionEngine:
    for i, text in enumerate((*BASE_RULES, BRUTE_FORCE)):
        (tmp_path / f"r{i}.yml").write_text(text)
    return DetectionEngine.from_folders([tmp_path])


def _settings() -> Settings:
    # no lateness: the idle flush (after 0 s of quiet) applies every buffered hit at once
    return Settings(
        stores=StoreSettings(topic_prefix="t-"), detection=DetectionSettings(correlation_lateness_s=0)
    )


def _detected(bus: InProcessBus, rules: DetectionEngine, settings: Settings, addresses: list[str]) -> None:
    """The detect worker's output for failed logons from these addresses, 10 s apart."""
    hits = HitBuffer()
    handle = detect_handler(settings, bus, SuppressingDetect(DetectStage(rules), hits), hits=hits)
    events = [win(4625, 10 * n, IpAddress=address) for n, address in enumerate(addresses)]
    handle([Message("e", 0, n, None, e.to_json()) for n, e in enumerate(events)])


def _correlate(
    bus: InProcessBus, rules: DetectionEngine, settings: Settings
) -> tuple[CorrelateWorker, object]:
    worker = CorrelateWorker(settings, bus, lambda: rules.correlations)
    consumer = bus.consumer(
        [settings.stores.topic_rulehits], "correlate", on_assign=worker.on_assign, on_revoke=worker.on_revoke
    )
    return worker, consumer


def _alerts(bus: InProcessBus, settings: Settings) -> dict[str, int]:
    """Final count per correlation alert id, as the index worker would fold it."""
    counts: dict[str, int] = {}
    for m in bus.read_partition(settings.stores.topic_alerts, 0):
        doc = orjson.loads(m.value)
        if "repeat" in doc:
            counts[doc["repeat"]["alert_id"]] = max(counts[doc["repeat"]["alert_id"]], doc["repeat"]["count"])
        elif doc["rule"]["id"].endswith("c001"):
            counts.setdefault(doc["id"], doc["count"])
    return counts


def _run_until_idle(worker: CorrelateWorker, consumer: object) -> dict[str, int]:
    """Run the worker until its input is drained; the engine's counters before it stops."""
    stop = threading.Event()
    counters: dict[str, int] = {}

    def idle() -> None:
        worker.idle()
        counters.update(worker.engines[0].counters)
        stop.set()

    StageWorker("correlate", consumer, worker.handle, batch=4, stop=stop, idle=idle).run()  # type: ignore[arg-type]
    return counters


def test_the_detect_worker_keys_hits_by_correlation_and_group(rules: DetectionEngine) -> None:
    bus, settings = InProcessBus(), _settings()
    _detected(bus, rules, settings, ["10.0.0.1", "10.0.0.2"])
    keys = [m.key for m in bus.read_partition(settings.stores.topic_rulehits, 0)]
    assert keys == [
        b'00000000-0000-4000-8000-00000000c001|["10.0.0.1"]',
        b'00000000-0000-4000-8000-00000000c001|["10.0.0.2"]',
    ]
    assert bus.topic_length(settings.stores.topic_alerts) == 0  # the base rule does not generate


def test_a_crash_after_the_changelog_but_before_the_commit_counts_nothing_twice(
    rules: DetectionEngine,
) -> None:
    bus, settings = InProcessBus(), _settings()
    _detected(bus, rules, settings, ["10.0.0.1"] * 7 + ["10.0.0.2"] * 3)
    first, consumer = _correlate(bus, rules, settings)
    batch = consumer.poll(6, 0)  # type: ignore[attr-defined]
    first.handle(batch)  # alerts and changelog published ... and the process dies: no commit
    assert bus.topic_length(settings.stores.topic_correlation_state) > 0
    second, consumer = _correlate(bus, rules, settings)
    assert _run_until_idle(second, consumer)["replayed"] == 6
    assert list(_alerts(bus, settings).values()) == [7]


class StateWriteFails(InProcessBus):
    """Kafka acknowledges the alerts, then the process dies before the changelog is written."""

    def publish(self, topic: str, records: Sequence[KeyValue]) -> None:
        if topic.endswith("soc.correlation.state"):
            raise BusError("test: killed before the changelog write")
        super().publish(topic, records)


def test_a_crash_before_the_changelog_replays_to_the_same_alert(rules: DetectionEngine) -> None:
    bus, settings = StateWriteFails(), _settings()
    _detected(bus, rules, settings, ["10.0.0.1"] * 7)
    first, consumer = _correlate(bus, rules, settings)
    with pytest.raises(BusError):
        first.handle(consumer.poll(7, 0))  # type: ignore[attr-defined]
    assert len(_alerts(bus, settings)) == 1  # published before the crash
    healthy = InProcessBus()
    healthy._topics, healthy._committed = bus._topics, bus._committed  # the same log, restarted
    second, consumer = _correlate(healthy, rules, settings)
    _run_until_idle(second, consumer)
    (count,) = _alerts(healthy, settings).values()  # the replay re-sends the same alert id
    assert count == 7


def test_the_changelog_tombstones_expired_groups_once_committed(rules: DetectionEngine) -> None:
    bus, settings = InProcessBus(), _settings()
    _detected(bus, rules, settings, ["10.0.0.1"] * 5)
    hits = HitBuffer()
    handle = detect_handler(settings, bus, SuppressingDetect(DetectStage(rules), hits), hits=hits)
    later = [win(4625, 5000 + n, IpAddress="10.0.0.9") for n in range(3)]  # moves the watermark on
    handle([Message("e", 0, 100 + n, None, e.to_json()) for n, e in enumerate(later)])
    worker, consumer = _correlate(bus, rules, settings)
    _run_until_idle(worker, consumer)
    worker.handle([])  # the next batch after the commit: deletes what is committed
    states = {m.key: m.value for m in bus.read_partition(settings.stores.topic_correlation_state, 0)}
    assert states[b'00000000-0000-4000-8000-00000000c001|["10.0.0.1"]'] == b""  # a tombstone
    assert states[b'00000000-0000-4000-8000-00000000c001|["10.0.0.9"]'] != b""


def test_a_chained_correlation_is_fed_through_the_topic(tmp_path: Path) -> None:
    """The specification's failed-logons-then-success: the inner correlation's alert comes back
    through soc.rulehits, re-keyed by the outer correlation's group."""
    many_failed = correlation(
        "type: event_count\nrules: failed_logon\ngroup-by: [TargetUserName]\ntimespan: 10m\n"
        "condition:\n    gte: 3",
        rule_id="00000000-0000-4000-8000-00000000c002",
        name="many_failed",
    )
    then_success = correlation(
        "type: temporal_ordered\nrules: [many_failed, successful_logon]\n"
        "group-by: [TargetUserName]\ntimespan: 10m"
    )
    for i, text in enumerate((*BASE_RULES, many_failed, then_success)):
        (tmp_path / f"r{i}.yml").write_text(text)
    rules = DetectionEngine.from_folders([tmp_path])
    bus, settings = InProcessBus(), _settings()
    hits = HitBuffer()
    handle = detect_handler(settings, bus, SuppressingDetect(DetectStage(rules), hits), hits=hits)
    events = [win(4625, n, TargetUserName="bob") for n in range(4)] + [win(4624, 30, TargetUserName="bob")]
    handle([Message("e", 0, n, None, e.to_json()) for n, e in enumerate(events)])
    worker, consumer = _correlate(bus, rules, settings)
    for _ in range(3):  # the chained hit needs another poll after the idle flush that raised it
        _run_until_idle(worker, consumer)
        worker, consumer = _correlate(bus, rules, settings)
    assert list(_alerts(bus, settings)) and all(
        orjson.loads(m.value).get("rule", {}).get("id", "").endswith("c001")
        for m in bus.read_partition(settings.stores.topic_alerts, 0)
        if b'"repeat"' not in m.value
    )
    chained = [m for m in bus.read_partition(settings.stores.topic_rulehits, 0) if b'"ch":true' in m.value]
    assert [m.key for m in chained] == [b'00000000-0000-4000-8000-00000000c001|["bob"]']
