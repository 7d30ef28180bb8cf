"""Alert groups: the rules that match one event share a deterministic group key; repeats keep it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from detections.stage import DetectStage, SuppressingDetect
from soc_core.alert import Alert, AlertRepeat, alert_group
from tests.detections.conftest import EngineFactory, proc_rule
from tests.detections.test_stage import netsh_event

FIREWALL_OFF = """
selection:
    CommandLine|contains: 'advfirewall set allprofiles state off'
condition: selection
"""
NETSH = """
selection:
    Image|endswith: '\\\\netsh.exe'
condition: selection
"""


def test_the_key_is_the_evidence_not_the_order_or_the_zone() -> None:
    at = datetime(2025, 7, 15, 1, 0, tzinfo=UTC)
    key = alert_group(at, ["ev-2", "ev-1"])
    assert key == alert_group(at, ["ev-1", "ev-2", "ev-1"])
    assert key == alert_group(at.astimezone(timezone(timedelta(hours=7))), ["ev-1", "ev-2"])
    assert key == alert_group(at.replace(tzinfo=None), ["ev-1", "ev-2"])  # naive times are UTC
    assert key.startswith("2025-07-15T01:00:00.000000Z/")
    assert key != alert_group(at, ["ev-1"]) != alert_group(at + timedelta(seconds=1), ["ev-1"])
    later = alert_group(at + timedelta(minutes=1), ["ev-0"])
    assert sorted([later, key]) == [key, later]  # keys sort in time order


def test_stored_keys_stay_the_same() -> None:
    """Stores hold these keys: their text and hash must never change (years before 1000 too)."""
    at = datetime(2025, 7, 15, 1, 0, 0, 123, tzinfo=UTC)
    assert alert_group(at, ["ev-1", "ev-2"]) == "2025-07-15T01:00:00.000123Z/b617ac7212e86ffd7aa9"
    assert alert_group(datetime(999, 1, 2), []) == "999-01-02T00:00:00.000000Z/6fa1d8fcfd719046d762"


def test_rules_on_one_event_share_a_group_and_repeats_keep_it(make_engine: EngineFactory) -> None:
    engine = make_engine(
        proc_rule(FIREWALL_OFF, rule_id="00000000-0000-4000-8000-00000000000a"),
        proc_rule(NETSH, rule_id="00000000-0000-4000-8000-00000000000b"),
    )
    stage = DetectStage(engine)
    first = stage(netsh_event("ev-1", 0))
    assert len(first) == 2 and len({a.id for a in first}) == 2
    assert {a.group for a in first} == {alert_group(netsh_event("ev-1", 0).timestamp, ["ev-1"])}
    assert {a.group for a in stage(netsh_event("ev-2", 1))} != {a.group for a in first}

    detect = SuppressingDetect(DetectStage(engine))
    created = detect(netsh_event("ev-1", 0))
    repeats = detect(netsh_event("ev-2", 1))
    assert all(isinstance(r, AlertRepeat) for r in repeats)
    for alert in created:
        assert isinstance(alert, Alert)
        repeat = next(r for r in repeats if isinstance(r, AlertRepeat) and r.alert_id == alert.id)
        assert repeat.apply(alert).group == alert.group  # the series stays in its group
