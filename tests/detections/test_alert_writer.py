"""The offline alert writer (`DetectStage.evaluate_json`) writes `Alert.to_json()`'s bytes exactly:
on every event of EVTX-ATTACK-SAMPLES against the whole SigmaHQ corpus and the provincial pack, and
on the odd events that take the model's path (evidence, a name that is not a string, odd offsets)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from detections.cli import PACKAGED_RULES
from detections.engine import DetectionEngine
from detections.offline import records
from detections.stage import DetectStage
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from tests.detections.conftest import SIGMA, sigma_corpus
from tests.detections.test_stage import netsh_event

EVTX = SIGMA.parent / "evtx-attack-samples"
CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PACK = PACKAGED_RULES / "provincial"


def model_bytes(stage: DetectStage, event: Event) -> list[bytes]:
    """What the model path writes for the event, with the writer's creation time."""
    alerts, _ = stage.evaluate(event)
    return [alert.model_copy(update={"created_at": CREATED}).to_json() for alert in alerts]


def test_writer_bytes_equal_the_models_on_the_evtx_corpus(tmp_path: Path) -> None:
    paths = sorted(EVTX.rglob("*.evtx"))
    if not paths:
        pytest.fail(f"EVTX-ATTACK-SAMPLES missing: no .evtx under {EVTX}")
    engine = DetectionEngine.from_folders([PACKAGED_RULES, *sigma_corpus()], cache_dir=tmp_path / "cache")
    stage = DetectStage(engine)
    normalize = NormalizeStage()
    counters: Counter[str] = Counter()
    alerts = 0
    for path in paths:
        source = f"cli:{path.name}"
        for rid, payload, fmt, bounded in records(path, None, counters, Counter()):
            event = normalize.normalize(
                payload,
                record_id=rid,
                source_id=source,
                format_name=fmt,
                received_at=CREATED,
                nesting_bounded=bounded,
                deferred=True,  # as `socpipe detect` reads them: the document built for the alerts
            )
            assert isinstance(event, Event), event
            written, _ = stage.evaluate_json(event, created_at=CREATED)
            assert written == model_bytes(stage, event), (path.name, event.id)
            alerts += len(written)
    assert alerts > 1000  # the corpus raises about 1,600 alerts


def netsh(**changes: Any) -> Event:
    """test_stage's netsh event (which the pack's VN-02 rule fires on) with top-level changes."""
    event = netsh_event()
    event.doc.update(changes)
    return event


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"user": {}},
        {"host": {"name": "WS-01", "ip": ["10.0.0.1"]}, "user": {"name": 'Nguyễn "a"\n'}},
        {"@timestamp": datetime(2025, 7, 15, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=7)))},
        {"@timestamp": datetime(2025, 7, 15, 8, 0, tzinfo=timezone(timedelta(hours=7, seconds=30)))},
        {"soc": {"source": {"id": "src-1"}, "evidence": {"visit_id": "v", "x": None}}},
        {"soc": {}},
        {"message": '","matched":["x"]', "labels": {"matched": "y"}},
    ],
)
def test_writer_bytes_equal_the_models_on_odd_events(changes: dict[str, Any]) -> None:
    stage = DetectStage(DetectionEngine.from_folders([PACK]))
    event = netsh(**changes)
    event._soc = None  # the document changed: the model is read again
    written, _ = stage.evaluate_json(event, created_at=CREATED)
    assert written and written == model_bytes(stage, event)


def test_writer_follows_a_reloaded_rule(tmp_path: Path) -> None:
    """A rule read again (a changed level) is written with its new fields, not the remembered ones."""
    folder = tmp_path / "rules"
    folder.mkdir()
    text = (PACK / "proc_creation_win_vn02_firewall_disabled_cli.yml").read_text(encoding="utf-8")
    (folder / "rule.yml").write_text(text, encoding="utf-8")
    engine = DetectionEngine.from_folders([folder])
    stage = DetectStage(engine)
    (first,), _ = stage.evaluate_json(netsh(), created_at=CREATED)
    (folder / "rule.yml").write_text(text.replace("level: high", "level: critical"), encoding="utf-8")
    engine.reload()
    (second,), _ = stage.evaluate_json(netsh(), created_at=CREATED)
    assert b'"severity":"high"' in first and b'"severity":"critical"' in second
    assert [second] == model_bytes(stage, netsh())
