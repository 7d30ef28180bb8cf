"""The embedded pipeline with the real detection engine: raw records in, events, alerts with
suppression and dead letters out, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import RawRecord, record_id
from soc_core.store import AlertQuery, DeadLetterQuery, EventQuery
from stores.sqlite.store import SqliteStore

PACK = Path(__file__).resolve().parent.parent / "detections" / "rules" / "provincial"


def _firewall_off(n: int, at: datetime) -> RawRecord:
    doc = {
        "@timestamp": at.isoformat(),
        "host": {"name": "motcua-pc01"},
        "winlog": {
            "channel": "Microsoft-Windows-Sysmon/Operational",
            "event_id": 1,
            "record_id": n,
            "provider_name": "Microsoft-Windows-Sysmon",
            "computer_name": "MOTCUA-PC01",
            "event_data": {
                "Image": "C:\\Windows\\System32\\netsh.exe",
                "CommandLine": "netsh advfirewall set allprofiles state off",
                "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                "User": "XA\\vanthu",
            },
        },
    }
    payload = orjson.dumps(doc).decode()
    return RawRecord(id=record_id("src", payload), source_id="src", format="winlogbeat", payload=payload)


def test_repeats_on_one_host_become_one_alert_with_a_count(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    engine = DetectionEngine.from_folders([PACK])
    pipeline = EmbeddedPipeline(store, NormalizeStage(), SuppressingDetect(DetectStage(engine)))
    t0 = datetime(2025, 7, 2, 1, 0, tzinfo=UTC)
    records = [_firewall_off(n, t0 + timedelta(minutes=2 * n)) for n in range(4)]
    records.append(RawRecord(id="junk", source_id="src", format="winlogbeat", payload="not json"))
    outcome = pipeline.ingest(records)
    assert len(outcome.events) == 4 and len(outcome.deadletters) == 1
    pipeline.ingest(records)  # a shipper resends the batch: nothing is written twice
    assert store.search_events(EventQuery()).total == 4
    assert store.list_deadletters(DeadLetterQuery()).total == 1
    alerts = store.search_alerts(AlertQuery()).items
    vn02 = [a for a in alerts if "VN-02" in a.checklist]
    assert len(vn02) == 1, [a.rule.name for a in alerts]
    assert vn02[0].count == 4
    assert vn02[0].last_seen == t0 + timedelta(minutes=6)
    assert vn02[0].host_name == "motcua-pc01"
    assert vn02[0].rule.author  # the Sigma licence: authors are shown


def test_an_event_the_detect_stage_fails_on_is_a_dead_letter_and_the_batch_goes_on(tmp_path: Path) -> None:
    """A registry predicate (VN-02 here) that breaks on one host's events: that event is a detect
    dead letter with the exception as reason; the batch's other events and alerts are stored."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    engine = DetectionEngine.from_folders([PACK])

    def predicate(event: Event) -> bool:
        if (event.host or {}).get("name") == "broken-pc":
            raise KeyError("test: registry entry missing")
        return True

    stage = DetectStage(engine, timedelta(0), context={"VN-02": predicate})
    pipeline = EmbeddedPipeline(store, NormalizeStage(), SuppressingDetect(stage))
    t0 = datetime(2025, 7, 2, 1, 0, tzinfo=UTC)
    good = _firewall_off(1, t0)
    broken = _firewall_off(2, t0 + timedelta(minutes=1))
    doc = orjson.loads(broken.payload)
    doc["host"]["name"] = doc["winlog"]["computer_name"] = "broken-pc"
    payload = orjson.dumps(doc).decode()
    broken = broken.model_copy(update={"payload": payload, "id": record_id("src", payload)})
    outcome = pipeline.ingest([broken, good])
    assert [(d.id, d.stage) for d in outcome.deadletters] == [(broken.id, "detect")]
    assert "KeyError" in outcome.deadletters[0].reason
    assert store.search_events(EventQuery()).total == 2  # the event itself is stored; its alert is not
    assert [a.event_ids for a in store.search_alerts(AlertQuery()).items if "VN-02" in a.checklist] == [
        [good.id]
    ]
