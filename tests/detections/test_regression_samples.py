"""Every positive SigmaHQ regression sample fires its rule, through the real normalizer.

The samples are evtx-to-JSON records; they go through `NormalizeStage` with format `evtx_json`
(the path every Windows event takes), then the engine loaded with the whole corpus.
"""

from __future__ import annotations

import importlib.util

import pytest

from detections.engine import DetectionEngine
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from tests.detections.conftest import SIGMA, sigma_corpus
from tests.detections.evtx_samples import cases


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DetectionEngine:
    return DetectionEngine.from_folders(sigma_corpus(), cache_dir=tmp_path_factory.mktemp("rule-cache"))


def test_every_regression_sample_fires_its_rule(engine: DetectionEngine) -> None:
    if importlib.util.find_spec("normalizers.evtx_json") is None:
        pytest.fail("normalizers.evtx_json is missing: the regression samples need the Windows normalizer")
    from normalizers.stage import NormalizeStage

    stage = NormalizeStage()
    all_cases = list(cases(SIGMA / "regression_data"))
    assert len(all_cases) >= 100
    missed: list[str] = []
    dead: list[str] = []
    for rule_id, title, path, records in all_cases:
        fired: set[str] = set()
        for n, payload in enumerate(records):
            record = RawRecord(
                id=record_id("regression", payload, shipper_id=f"{path}:{n}"),
                source_id="regression",
                format="evtx_json",
                payload=payload,
            )
            event = stage(record)
            if not isinstance(event, Event):
                dead.append(f"{path.name}[{n}]: {event.reason}")
                continue
            fired |= {m.rule.id for m in engine.match(event.flat())}
        if rule_id not in fired:
            missed.append(f"{rule_id} {title} ({path.name})")
    assert dead == []
    assert missed == [], f"{len(missed)}/{len(all_cases)} samples did not fire their rule"
