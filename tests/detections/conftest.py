"""Helpers for detection tests: rules as inline YAML, events as flat dicts (pySigma's test style)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from detections.engine import DetectionEngine

SIGMA = Path(__file__).resolve().parents[3] / "shared" / "data" / "sigma"
SYSMON = "Microsoft-Windows-Sysmon/Operational"


def sysmon1(**event_data: Any) -> dict[str, Any]:
    """A flat Sysmon process-creation event with the given EventData fields."""
    flat: dict[str, Any] = {"winlog.channel": SYSMON, "event.code": "1", "host.name": "ws01"}
    flat.update({f"winlog.event_data.{k}": v for k, v in event_data.items()})
    return flat


def proc_rule(detection: str, *, rule_id: str = "00000000-0000-4000-8000-000000000001") -> str:
    """A Windows process_creation rule around the given (indented) detection block."""
    return f"""\
title: test rule
id: {rule_id}
status: test
level: high
author: test
logsource:
    category: process_creation
    product: windows
detection:
{textwrap.indent(textwrap.dedent(detection).strip(), "    ")}
"""


EngineFactory = Callable[..., DetectionEngine]


@pytest.fixture
def make_engine(tmp_path: Path) -> EngineFactory:
    """Write the given rule texts to files and load them into a fresh engine."""
    counter = {"n": 0}

    def build(*rules: str, cache_dir: Path | None = None) -> DetectionEngine:
        folder = tmp_path / f"rules{counter['n']}"
        counter["n"] += 1
        folder.mkdir()
        for i, text in enumerate(rules):
            (folder / f"rule{i}.yml").write_text(text, encoding="utf-8")
        return DetectionEngine.from_folders([folder], cache_dir=cache_dir)

    return build


@pytest.fixture
def matches(make_engine: EngineFactory) -> Callable[[str, dict[str, Any]], bool]:
    """matches(detection_block, event) -> did the single rule fire?"""

    def check(detection: str, event: dict[str, Any]) -> bool:
        engine = make_engine(proc_rule(detection))
        assert not engine.quarantined, engine.quarantined
        return bool(engine.match(event))

    return check


def sigma_corpus() -> list[Path]:
    sets = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
    missing = [str(p) for p in sets if not p.is_dir()]
    if missing:
        pytest.fail(f"SigmaHQ corpus missing (shared/data/sigma beside the repository): {missing}")
    return sets
