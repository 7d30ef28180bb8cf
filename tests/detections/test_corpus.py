"""The whole SigmaHQ corpus loads: almost everything compiles, and what does not is explained."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from detections.engine import DetectionEngine
from tests.detections.conftest import sigma_corpus

#: Known, explained quarantines. `%known_cdcs%` is an `expand` placeholder for the site's list of
#: domain controllers; it needs a site value (a pipeline variable) before the rule can run.
EXPECTED_REASONS = ("unresolved placeholder",)
MAX_QUARANTINED = 10


@pytest.fixture(scope="module")
def corpus_engine(tmp_path_factory: pytest.TempPathFactory) -> DetectionEngine:
    return DetectionEngine.from_folders(sigma_corpus(), cache_dir=tmp_path_factory.mktemp("rule-cache"))


def test_whole_corpus_loads_with_few_explained_quarantines(corpus_engine: DetectionEngine) -> None:
    summary = corpus_engine.summary()
    assert summary["rules"] >= 3700
    assert summary["routed"] >= 3200
    reasons = Counter(q.reason.split(":")[0] for q in corpus_engine.quarantined)
    assert len(corpus_engine.quarantined) <= MAX_QUARANTINED, corpus_engine.quarantined
    for q in corpus_engine.quarantined:
        assert any(r in q.reason for r in EXPECTED_REASONS), (q.path, q.reason)
    assert sum(reasons.values()) == len(corpus_engine.quarantined)


def test_routed_windows_rules_are_dispatched_by_channel(corpus_engine: DetectionEngine) -> None:
    """A Windows rule without a channel condition would meet unrelated events: it must be dormant."""
    checked = 0
    for result in corpus_engine._files.values():
        for loaded in result.rules:
            if loaded.info.logsource.get("product") == "windows" and loaded.info.dormant is None:
                assert "winlog.channel" in loaded.compiled.dispatch, loaded.info
                checked += 1
    assert checked > 2500


def test_warm_start_reads_every_rule_from_the_cache(corpus_engine: DetectionEngine, tmp_path: Path) -> None:
    cache_dir = corpus_engine._cache.dir if corpus_engine._cache else tmp_path
    warm = DetectionEngine.from_folders(sigma_corpus(), cache_dir=cache_dir)
    assert warm.last_reload.recompiled_files == 0
    assert warm.summary() == corpus_engine.summary()
