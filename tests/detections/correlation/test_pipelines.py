"""Correlation rules end to end: `socpipe detect` on the specification's own example, and the
embedded pipeline storing correlation alerts and their repeats."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from detections.cli import detect_command
from detections.correlation.engine import LiveCorrelation
from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import RawRecord, record_id
from soc_core.store import AlertQuery
from stores.sqlite.store import SqliteStore
from tests.detections.correlation.conftest import Run, correlation, win

#: The Sigma specification's example, verbatim in substance: a chained correlation in one file.
SPEC_EXAMPLE = """\
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
description: Detects multiple failed logins by a single user followed by a successful login of that user
author: Florian Roth (Nextron Systems)
date: 2023-06-16
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
falsepositives:
    - Unlikely
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
description: Detects multiple failed logins within a certain amount of time
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
description: Detects a successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
"""

T0 = datetime(2025, 7, 15, 1, 0, tzinfo=UTC)


def _ecs(code: int, second: int, user: str) -> dict[str, Any]:
    return {
        "@timestamp": (T0 + timedelta(seconds=second)).isoformat(),
        "event": {"code": str(code)},
        "host": {"name": "dc01"},
        "winlog": {"channel": "Security", "event_data": {"User": user}},
    }


def test_socpipe_detect_runs_the_specification_example_whatever_the_file_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mr_failed_then_success.yml").write_text(SPEC_EXAMPLE)
    early = [_ecs(4625, 10 * i, "bob") for i in range(12)] + [_ecs(4625, 10 * i, "eve") for i in range(12)]
    late = [_ecs(4624, 200, "bob"), _ecs(4624, 3600, "eve")]  # eve: an hour later, outside 10m
    (tmp_path / "a.ndjson").write_text("\n".join(json.dumps(e) for e in late))  # read first
    (tmp_path / "b.ndjson").write_text("\n".join(json.dumps(e) for e in early))
    detect_command([tmp_path / "a.ndjson", tmp_path / "b.ndjson"], rules=[rules], format=None, stats=False)
    out, err = capsys.readouterr()
    alerts = [json.loads(line) for line in out.splitlines()]
    assert [a["rule"]["id"] for a in alerts] == ["b180ead8-d58f-40b2-ae54-c8940995b9b6"]
    (alert,) = alerts
    assert alert["event"]["winlog"]["event_data"]["User"] == "bob"
    assert alert["rule"]["author"] == "Florian Roth (Nextron Systems)" and alert["severity"] == "high"
    assert "2 correlations, 0 quarantined" in err and "correlation_alerts=1" in err


def _failed_logon(n: int, at: datetime, address: str) -> RawRecord:
    doc = {
        "@timestamp": at.isoformat(),
        "host": {"name": "dc01"},
        "winlog": {
            "channel": "Security",
            "event_id": 4625,
            "record_id": n,
            "provider_name": "Microsoft-Windows-Security-Auditing",
            "computer_name": "DC01",
            "event_data": {"TargetUserName": f"user{n}", "IpAddress": address},
        },
    }
    payload = orjson.dumps(doc).decode()
    return RawRecord(id=record_id("src", payload), source_id="src", format="winlogbeat", payload=payload)


BRUTE_FORCE = """\
title: brute force
id: 00000000-0000-4000-8000-0000000000b1
level: high
correlation:
    type: event_count
    rules: failed_logon
    group-by: [IpAddress]
    timespan: 5m
    condition:
        gte: 3
---
title: failed logon
id: 00000000-0000-4000-8000-0000000000b2
name: failed_logon
level: low
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: 4625
    condition: selection
"""


def test_embedded_pipeline_stores_one_correlation_alert_with_its_repeats(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bf.yml").write_text(BRUTE_FORCE)
    engine = DetectionEngine.from_folders([rules])
    clock = [0.0]
    correlation = LiveCorrelation(lambda: engine.correlations, lateness_s=60, clock=lambda: clock[0])
    pipeline = EmbeddedPipeline(store, NormalizeStage(), SuppressingDetect(DetectStage(engine), correlation))
    records = [_failed_logon(n, T0 + timedelta(seconds=20 * n), "10.9.9.9") for n in range(6)]
    for record in reversed(records[:3]):  # out of order, within the lateness
        pipeline.ingest([record])
    pipeline.ingest(records[3:])
    pipeline.ingest(records[3:])  # a shipper resends: nothing counted twice
    clock[0] = 100.0  # no hit for longer than the lateness
    pipeline.store_alerts(correlation.idle())  # the scheduler's idle flush
    (alert,) = store.search_alerts(AlertQuery()).items  # the base rule (generate: false) raises none
    assert alert.rule.id == "00000000-0000-4000-8000-0000000000b1"
    assert alert.count == 6 and alert.first_seen == T0
    assert alert.last_seen == T0 + timedelta(seconds=100)


def test_an_uploaded_evidence_file_is_correlated_as_a_whole(tmp_path: Path) -> None:
    """Evidence uploads decide their correlations when the file ends, in event-time order."""
    from api.inspections.evidence import detect_for_upload
    from detections.cli import fold_repeats
    from soc_core.alert import Alert
    from tests.detections.correlation.conftest import win

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bf.yml").write_text(BRUTE_FORCE)
    detect = detect_for_upload(DetectionEngine.from_folders([rules]))
    assert isinstance(detect, SuppressingDetect)
    events = [win(4625, 3600 - 60 * n, IpAddress="10.1.1.1") for n in range(4)]  # newest first
    assert [out for e in events for out in detect(e)] == []  # held until the end of the file
    decided = detect.finish()
    assert isinstance(decided[0], Alert) and decided[0].count == 3  # fires at its threshold
    (alert,) = fold_repeats(decided)
    assert alert.count == 4 and alert.first_seen == events[-1].timestamp


def test_a_process_creation_correlation_reads_its_fields_from_sysmon_and_security_4688(
    make_engine: Any,
) -> None:
    """Without Sysmon a process_creation rule fires on 4688 (another field name for the image):
    the correlation's value field is read from whichever shape the hit came from."""
    rule = """\
title: shell started
id: 00000000-0000-4000-8000-0000000000e1
name: shell_started
status: test
level: low
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        CommandLine|contains: 'whoami'
    condition: selection
"""
    tools = correlation(
        """
type: value_count
rules: shell_started
group-by: [Computer]
timespan: 10m
condition:
    field: Image
    gte: 3
"""
    )
    events = []
    for n, image in enumerate(("C:\\a\\one.exe", "C:\\b\\two.exe", "C:\\c\\three.exe")):
        security = n != 1  # the second one came from Sysmon, the others from process auditing
        data = {"CommandLine": "whoami /all", "NewProcessName" if security else "Image": image}
        event = win(4688 if security else 1, 30 * n, **data)
        doc = event.to_doc()
        doc["winlog"]["computer_name"] = "ws01"
        if not security:
            doc["winlog"]["channel"] = "Microsoft-Windows-Sysmon/Operational"
        events.append(Event.from_doc(doc))
    run = Run(make_engine(rule, tools)).feed(events).flush()
    (alert,) = run.alerts
    assert alert.count == 3
