"""Meta-test of the provincial rule pack (elastic/detection-rules style): every rule parses, has a
stable id, a level, the provincial author, ATT&CK and checklist tags, and its samples match / don't."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from detections.engine import DetectionEngine
from detections.tags import CHECKLIST_CODES, checklist_codes, threats
from soc_core.event import flatten

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
RULE_FILES = sorted(PACK.glob("*.yml"))


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    return DetectionEngine.from_folders([PACK])


def _events(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    events = data if isinstance(data, list) else [data]
    assert events, f"{path.name} has no events"
    return [flatten(e) for e in events]  # samples may be flat or nested ECS


def test_pack_loads_without_quarantine(engine: DetectionEngine) -> None:
    assert RULE_FILES
    assert engine.quarantined == []
    assert len(engine.rules) == len(RULE_FILES)
    assert all(r.dormant is None for r in engine.rules), [r.dormant for r in engine.rules if r.dormant]


def test_checklist_codes_covered(engine: DetectionEngine) -> None:
    covered = {code for r in engine.rules for code in checklist_codes(r.tags)}
    assert covered >= {"VN-01", "VN-02", "VN-03", "VN-04", "VN-05", "VN-06", "VN-10", "VN-11", "VN-12"}


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_metadata(path: Path, engine: DetectionEngine) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert uuid.UUID(doc["id"]).version == 4
    assert doc["author"] == "socpipe provincial SOC"
    assert doc["level"] in {"informational", "low", "medium", "high", "critical"}
    tags = doc["tags"]
    codes = checklist_codes(tags)
    assert len(codes) == 1 and codes[0] in CHECKLIST_CODES, tags
    assert any(t.startswith("checklist.vn-") for t in tags)
    assert threats(tags), "needs at least one ATT&CK tactic or technique tag"
    assert engine.rule(doc["id"]).path == str(path)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_samples(path: Path, engine: DetectionEngine) -> None:
    rule_id = yaml.safe_load(path.read_text(encoding="utf-8"))["id"]
    positive = path.with_suffix(".match.json")
    negative = path.with_suffix(".nomatch.json")
    assert positive.exists() and negative.exists(), "each rule needs .match.json and .nomatch.json"
    for n, event in enumerate(_events(positive)):
        fired = [m.rule.id for m in engine.match(event)]
        assert rule_id in fired, f"{positive.name}[{n}] did not fire"
    for n, event in enumerate(_events(negative)):
        fired = [m.rule.id for m in engine.match(event)]
        assert rule_id not in fired, f"{negative.name}[{n}] fired"
