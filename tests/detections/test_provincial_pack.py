"""Meta-test of the provincial rule pack (elastic/detection-rules style): every rule parses, has a
stable id, a level, the provincial author, ATT&CK tags and at most one checklist tag, and its samples
match / don't. Correlation documents (Sigma correlation rules) are checked the same way for their
metadata, parse with pySigma, reference rules of the pack, and have raw-log samples that must and
must not fire (run through `socpipe detect` by test_provincial_correlations.py)."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from sigma.correlations import SigmaCorrelationRule

from detections.engine import DetectionEngine
from detections.tags import CHECKLIST_CODES, checklist_codes, threats
from soc_core.event import flatten
from tests.detections.provincial_pack import (
    ALL_FILES,
    CORRELATION_FILES,
    PACK,
    RULE_FILES,
    by_name,
    manifest,
    rule_doc,
)


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    return DetectionEngine.from_folders([PACK])


def _events(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    events = data if isinstance(data, list) else [data]
    assert events, f"{path.name} has no events"
    return [flatten(e) for e in events]  # samples may be flat or nested ECS


def test_pack_loads_without_quarantine(engine: DetectionEngine) -> None:
    assert RULE_FILES and CORRELATION_FILES
    assert engine.quarantined == []
    assert len(engine.rules) == len(RULE_FILES)
    assert all(r.dormant is None for r in engine.rules), [r.dormant for r in engine.rules if r.dormant]


def test_checklist_codes_covered(engine: DetectionEngine) -> None:
    covered = {code for r in engine.rules for code in checklist_codes(r.tags)}
    assert covered >= {"VN-01", "VN-02", "VN-03", "VN-04", "VN-05", "VN-06", "VN-10", "VN-11", "VN-12"}


def test_ids_and_names_unique() -> None:
    ids = [str(rule_doc(p)["id"]) for p in ALL_FILES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    names = [rule_doc(p)["name"] for p in ALL_FILES if "name" in rule_doc(p)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def _check_metadata(doc: dict[str, Any]) -> None:
    assert uuid.UUID(doc["id"]).version == 4
    assert doc["author"] == "socpipe provincial SOC"
    assert doc["level"] in {"informational", "low", "medium", "high", "critical"}
    tags = doc["tags"]
    codes = checklist_codes(tags)
    # A checklist tag where the checklist has a matching weakness, never more than one.
    assert len(codes) <= 1 and set(codes) <= CHECKLIST_CODES, tags
    assert len(codes) == sum(t.startswith("checklist.") for t in tags), f"malformed checklist tag in {tags}"
    assert threats(tags), "needs at least one ATT&CK tactic or technique tag"


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_metadata(path: Path, engine: DetectionEngine) -> None:
    doc = rule_doc(path)
    _check_metadata(doc)
    assert engine.rule(doc["id"]).path == str(path)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.stem)
def test_rule_samples(path: Path, engine: DetectionEngine) -> None:
    rule_id = rule_doc(path)["id"]
    positive = path.with_suffix(".match.json")
    negative = path.with_suffix(".nomatch.json")
    assert positive.exists() and negative.exists(), "each rule needs .match.json and .nomatch.json"
    for n, event in enumerate(_events(positive)):
        fired = [m.rule.id for m in engine.match(event)]
        assert rule_id in fired, f"{positive.name}[{n}] did not fire"
    for n, event in enumerate(_events(negative)):
        fired = [m.rule.id for m in engine.match(event)]
        assert rule_id not in fired, f"{negative.name}[{n}] fired"


# -- correlation documents -----------------------------------------------------------------------


@pytest.mark.parametrize("path", CORRELATION_FILES, ids=lambda p: p.stem)
def test_correlation_metadata(path: Path) -> None:
    doc = rule_doc(path)
    _check_metadata(doc)
    rule = SigmaCorrelationRule.from_dict(doc)  # raises on what pySigma rejects
    assert not rule.errors
    correlation = doc["correlation"]
    assert isinstance(correlation.get("generate"), bool), "say deliberately whether base rules alert"
    assert correlation.get("group-by"), "a provincial correlation always groups (by source, host or unit)"
    names = by_name()
    for ref in correlation["rules"]:
        assert ref in names, f"{ref} is not a rule of the pack (reference by name)"


def test_generate_agrees_for_shared_base_rules() -> None:
    """A rule referenced by several correlations gets the same `generate` from each, so whether it
    alerts on its own does not depend on how an engine combines them."""
    generate: dict[str, set[bool]] = defaultdict(set)
    for path in CORRELATION_FILES:
        correlation = rule_doc(path)["correlation"]
        for ref in correlation["rules"]:
            generate[ref].add(correlation["generate"])
    assert {ref: g for ref, g in generate.items() if len(g) > 1} == {}


def _visible(name: str) -> set[str]:
    """The correlations whose alerts show that `name` fired: itself, or, for a building block that
    another correlation references with `generate: false`, the correlations that use it."""
    users = [rule_doc(p) for p in CORRELATION_FILES if name in rule_doc(p)["correlation"]["rules"]]
    if not any(u["correlation"]["generate"] is False for u in users):
        return {name}
    return {v for u in users for v in _visible(u["name"])}


@pytest.mark.parametrize("path", CORRELATION_FILES, ids=lambda p: p.stem)
def test_correlation_samples(path: Path) -> None:
    visible = _visible(rule_doc(path)["name"])
    cases = manifest(path)
    correlations = {rule_doc(p)["name"] for p in CORRELATION_FILES}
    fire = [f for f, case in cases.items() if any(case["expect"].get(v, 0) > 0 for v in visible)]
    nofire = [f for f, case in cases.items() if f not in fire]
    assert fire and nofire, "each correlation needs samples that must fire and samples that must not"
    for file, case in cases.items():
        assert file.startswith(path.stem + ".") and file.endswith(".log"), file
        assert (PACK / file).is_file(), file
        assert (".fire" in file) == (file in fire), f"{file}: name says fire/nofire, expectation disagrees"
        assert set(case["expect"]) <= correlations and all(n > 0 for n in case["expect"].values()), case
        assert case["why"].strip()
    # no orphan sample: every raw log in the pack belongs to a manifest
    listed = {f for p in CORRELATION_FILES for f in manifest(p)}
    assert {p.name for p in PACK.glob(f"{path.stem}.*.log")} <= listed


def _base_rules(name: str) -> set[str]:
    """The detection rules under a correlation, through nested correlations."""
    doc = by_name()[name]
    if "correlation" not in doc:
        return {name}
    return {base for ref in doc["correlation"]["rules"] for base in _base_rules(ref)}


@pytest.mark.parametrize("path", CORRELATION_FILES, ids=lambda p: p.stem)
def test_fire_samples_reach_the_base_rules(path: Path, engine: DetectionEngine) -> None:
    """Every base rule a correlation counts matches events of its must-fire samples (through the
    real normalizers and the current single-event engine), so a sample fails for the right reason."""
    from normalizers.cli import frame
    from normalizers.stage import NormalizeStage
    from soc_core.event import Event
    from soc_core.records import RawRecord

    doc = rule_doc(path)
    ids = {n: str(d["id"]) for n, d in by_name().items()}
    visible = _visible(doc["name"])
    stage = NormalizeStage()
    for file, case in manifest(path).items():
        if not visible & set(case["expect"]):
            continue
        matched: set[str] = set()
        lines = (PACK / file).read_text(encoding="utf-8").splitlines()
        for n, (payload, _, fmt) in enumerate(frame(lines, None)):
            event = stage(RawRecord(id=f"{file}:{n}", source_id="sample", format=fmt, payload=payload))
            assert isinstance(event, Event), f"{file} record {n + 1} does not normalize: {event.reason}"
            matched.update(m.rule.id for m in engine.match(event.flat()))
        missing = {base for base in _base_rules(doc["name"]) if ids[base] not in matched}
        assert not missing, f"{file}: no event matches {missing}"
