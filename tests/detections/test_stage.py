"""DetectStage builds alerts; Suppressor folds repeats; tags map to ATT&CK and checklist codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from detections.engine import DetectionEngine
from detections.stage import DetectStage
from detections.suppression import AlertUpdate, NewAlert, Suppressor
from detections.tags import checklist_codes, threats
from soc_core.alert import Severity, alert_id
from soc_core.event import Event

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
NETSH_RULE = "6cd690c3-f7a5-43b5-a603-1791fa6d88b2"
VN12_RULE = "5d21453c-3061-4bdb-bf22-efa6b0fae646"


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    return DetectionEngine.from_folders([PACK])


def netsh_event(event_id: str = "ev-1", minute: int = 0, host: str = "ws-tthc-01") -> Event:
    return Event.from_doc(
        {
            "@timestamp": datetime(2025, 7, 15, 1, minute, tzinfo=UTC),
            "event": {"id": event_id, "code": "1", "kind": "event"},
            "host": {"name": host},
            "user": {"name": "motcua"},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_data": {
                    "Image": "C:\\Windows\\System32\\netsh.exe",
                    "CommandLine": "netsh advfirewall set allprofiles state off",
                },
            },
            "soc": {"unit": {"id": "u-01", "name": "UBND xã A"}, "source": {"id": "src-1"}},
        }
    )


def test_alert_fields(engine: DetectionEngine) -> None:
    stage = DetectStage(engine)
    event = netsh_event()
    (alert,) = stage(event)
    assert alert.id == alert_id(NETSH_RULE, "ev-1")
    assert alert.severity is Severity.HIGH
    assert alert.rule.id == NETSH_RULE and alert.rule.author == "socpipe provincial SOC"
    assert alert.rule.name.startswith("VN-02") and alert.rule.reference
    assert alert.checklist == ["VN-02"]
    assert [t.technique for t in alert.threat] == [
        {
            "id": "T1686",
            "name": "Disable or Modify System Firewall",
            "reference": "https://attack.mitre.org/techniques/T1686/",
        }
    ]
    assert alert.threat[0].tactic == {
        "id": "TA0112",
        "name": "Defense Impairment",
        "reference": "https://attack.mitre.org/tactics/TA0112/",
    }
    assert alert.soc.unit.id == "u-01" and alert.soc.source.id == "src-1"
    assert (alert.host_name, alert.user_name) == ("ws-tthc-01", "motcua")
    assert alert.event["winlog"]["event_data"]["CommandLine"].startswith("netsh")
    assert alert.event_ids == ["ev-1"] and alert.matched
    assert alert.timestamp == event.timestamp == alert.first_seen == alert.last_seen
    assert stage(netsh_event())[0].id == alert.id  # deterministic


def test_vn12_needs_the_registry_predicate(engine: DetectionEngine) -> None:
    event = Event.from_doc(
        {
            "@timestamp": "2025-07-15T01:00:00Z",
            "event": {"id": "ev-net", "code": "3"},
            "host": {"name": "mat-01"},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_data": {"Initiated": "true", "DestinationIp": "142.250.199.78"},
            },
        }
    )
    assert [m.rule.id for m in engine.match(event.flat())] == [VN12_RULE]
    plain = DetectStage(engine)
    assert plain(event) == []
    assert plain.counters["dropped_out_of_context"] == 1
    secret = DetectStage(
        engine, context={"VN-12": lambda e: e.host is not None and e.host.get("name") == "mat-01"}
    )
    assert [a.checklist for a in secret(event)] == [["VN-12"]]
    other = DetectStage(engine, context={"VN-12": lambda e: False})
    assert other(event) == []


def test_suppression_counts_repeats_per_rule_and_host(engine: DetectionEngine) -> None:
    stage = DetectStage(engine, suppression_window=timedelta(minutes=10))
    (first,) = stage.process(netsh_event("e1", minute=0))
    assert isinstance(first, NewAlert)
    (second,) = stage.process(netsh_event("e2", minute=4))
    assert isinstance(second, AlertUpdate)
    assert (second.alert_id, second.count, second.event_id) == (first.alert.id, 2, "e2")
    assert second.last_seen == datetime(2025, 7, 15, 1, 4, tzinfo=UTC)
    (replayed,) = stage.process(netsh_event("e2", minute=4))
    assert isinstance(replayed, AlertUpdate) and replayed.count == 2  # a replay counts once
    (again_first,) = stage.process(netsh_event("e1", minute=0))
    assert isinstance(again_first, NewAlert) and again_first.alert.id == first.alert.id
    (other_host,) = stage.process(netsh_event("e3", minute=5, host="ws-tthc-02"))
    assert isinstance(other_host, NewAlert)
    (later,) = stage.process(netsh_event("e4", minute=11))
    assert isinstance(later, NewAlert) and later.alert.id == alert_id(NETSH_RULE, "e4")


def test_suppression_is_deterministic(engine: DetectionEngine) -> None:
    def run() -> list[Any]:
        stage = DetectStage(engine)
        out: list[Any] = []
        for i in range(8):
            for outcome in stage.process(netsh_event(f"e{i}", minute=i * 3)):
                if isinstance(outcome, NewAlert):  # created_at is the wall clock by design
                    out.append(outcome.alert.model_dump(exclude={"created_at"}))
                else:
                    out.append(outcome)
        return out

    assert run() == run()


def test_zero_window_disables_suppression(engine: DetectionEngine) -> None:
    suppressor = Suppressor(timedelta(0))
    stage = DetectStage(engine)
    for i in range(3):
        (alert,) = stage(netsh_event(f"z{i}"))
        assert isinstance(suppressor.offer(alert), NewAlert)


def test_tag_conventions() -> None:
    tags = [
        "attack.execution",
        "attack.t1059.001",
        "attack.g0016",
        "checklist.vn-05",
        "checklist.vn-99",
        "vn.vn-01",
    ]
    assert checklist_codes(tags) == ["VN-05"]
    (threat,) = threats(tags)
    assert threat.tactic is not None and threat.tactic["id"] == "TA0002"
    assert threat.technique == {
        "id": "T1059.001",
        "name": "PowerShell",
        "reference": "https://attack.mitre.org/techniques/T1059/001/",
    }
    two_tactics = threats(["attack.persistence", "attack.privilege_escalation", "attack.t1098"])
    assert [t.technique for t in two_tactics if t.technique] == [
        {
            "id": "T1098",
            "name": "Account Manipulation",
            "reference": "https://attack.mitre.org/techniques/T1098/",
        }
    ]
    assert {t.tactic["id"] for t in two_tactics if t.tactic} == {"TA0003", "TA0004"}


def test_alert_soc_is_a_copy_with_its_own_evidence(engine: DetectionEngine) -> None:
    """The alert's provincial context equals the event's, and changing the alert's evidence dict
    leaves the event's untouched (the frozen unit/system/source models are shared, not copied)."""
    doc = netsh_event().doc
    event = Event.from_doc({**doc, "soc": {**doc["soc"], "evidence": {"visit_id": "v-1", "files": ["a"]}}})
    (alert,) = DetectStage(engine)(event)
    assert alert.soc == event.soc and alert.soc is not event.soc
    assert alert.soc.evidence is not None and event.soc.evidence is not None
    alert.soc.evidence["files"].append("b")
    assert event.soc.evidence == {"visit_id": "v-1", "files": ["a"]}


def test_alert_json_is_its_document(engine: DetectionEngine) -> None:
    """Alert.to_json() writes the event with orjson into pydantic's dump of the rest: the bytes
    must parse to exactly `to_doc()`, whatever the event or the evidence hold (a `matched` key
    elsewhere, a number orjson cannot write, which takes pydantic's path)."""
    stage = DetectStage(engine)
    (alert,) = stage(netsh_event())
    evidence = {"visit_id": "v-1", "matched": ["x"], "note": ',"matched":["y"]'}
    odd = alert.model_copy(
        update={
            "soc": alert.soc.model_copy(update={"evidence": evidence}),
            "event": {**alert.event, "matched": {"a": '","matched":'}, "n": 2.5, "e": ""},
        }
    )
    huge = alert.model_copy(update={"event": {**alert.event, "big": 2**70}})
    for case in (alert, odd, huge):
        assert orjson.loads(case.to_json()) == case.to_doc()
    assert list(orjson.loads(alert.to_json())) == list(alert.to_doc())  # field order kept
