"""`DetectionEngine.read_fields()`: a flat view of only those fields matches as the whole view does.

`socpipe detect` hands the engine's read fields to the normalize stage, whose flat views then leave
out the event's times when no rule, filter or correlation reads them (`NormalizeStage.normalize`'s
`reads`). Checked on every event of EVTX-ATTACK-SAMPLES against the whole SigmaHQ corpus and the
provincial pack with its correlations: the same rules fire, with the same selections, and the same
correlation hits come out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detections.cli import PACKAGED_RULES
from detections.engine import DetectionEngine
from detections.offline import records
from detections.stage import DetectStage
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from tests.detections.conftest import SIGMA, proc_rule, sigma_corpus

EVTX = SIGMA.parent / "evtx-attack-samples"
RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TIMES = ("@timestamp", "event.ingested", "event.created")


def _hits(stage: DetectStage, event: Event) -> list[tuple[Any, ...]]:
    return [(h.correlation_id, h.rule_id, h.group, h.value, h.ts) for h in stage.evaluate_json(event)[1]]


def test_a_view_of_the_read_fields_matches_as_the_whole_view_on_the_evtx_corpus(tmp_path: Path) -> None:
    paths = sorted(EVTX.rglob("*.evtx"))
    if not paths:
        pytest.fail(f"EVTX-ATTACK-SAMPLES missing: no .evtx under {EVTX}")
    engine = DetectionEngine.from_folders([PACKAGED_RULES, *sigma_corpus()], cache_dir=tmp_path / "cache")
    assert engine.correlations.correlations  # the pack's correlation rules read their group-by fields
    reads = engine.read_fields()
    assert not set(TIMES) & reads  # no rule of this set reads a time: the views leave them out
    stage, normalize = DetectStage(engine), NormalizeStage()
    fired = hits = 0
    for path in paths:
        for rid, payload, fmt, bounded in records(path, None, Counter(), Counter()):
            whole, part = (
                normalize.normalize(
                    payload,
                    record_id=rid,
                    source_id=f"cli:{path.name}",
                    format_name=fmt,
                    received_at=RECEIVED,
                    nesting_bounded=bounded,
                    deferred=True,
                    reads=fields,
                )
                for fields in (None, reads)
            )
            assert isinstance(whole, Event) and isinstance(part, Event), (path.name, rid)
            whole_flat, part_flat = whole.flat(), part.flat()
            assert part_flat == {k: v for k, v in whole_flat.items() if k not in TIMES}, (path.name, rid)
            matches = engine.match(whole_flat)
            assert engine.match(part_flat) == matches, (path.name, rid)
            fired += len(matches)
            whole_hits = _hits(stage, whole)
            assert _hits(stage, part) == whole_hits, (path.name, rid)
            hits += len(whole_hits)
    assert fired > 1000 and hits > 0  # the corpus fires about 1,600 times


def test_read_fields_name_conditions_dispatch_and_correlation_group_by(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    detection = "selection:\n    CommandLine|contains: whoami\ncondition: selection"
    (rules / "rule.yml").write_text(proc_rule(detection))
    (rules / "count.yml").write_text(
        "title: whoami thrice\nid: 7d1f0e2a-5b8e-4a57-9b52-0a3f3c6f2b11\ncorrelation:\n"
        "  type: event_count\n  rules: [00000000-0000-4000-8000-000000000001]\n"
        "  group-by: [ParentImage]\n  timespan: 5m\n  condition: {gte: 3}\n"
    )
    engine = DetectionEngine.from_folders([rules])
    assert len(engine.rules) == 1 and len(engine.correlations.correlations) == 1
    reads = engine.read_fields()
    assert "winlog.event_data.CommandLine" in reads  # the condition
    assert "winlog.event_data.ParentImage" in reads  # the correlation's group-by, read by no rule
    assert {"winlog.channel", "event.code"} <= reads  # the dispatch of process creation
    assert not set(TIMES) & reads
