"""The provincial rule pack as the meta-test and the correlation-sample test read it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"


@cache
def rule_doc(path: Path) -> dict[str, Any]:
    """One rule file's YAML document (each file of the pack holds one rule or one correlation)."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


ALL_FILES = sorted(PACK.glob("*.yml"))
RULE_FILES = [p for p in ALL_FILES if "correlation" not in rule_doc(p)]
CORRELATION_FILES = [p for p in ALL_FILES if "correlation" in rule_doc(p)]


def by_name() -> dict[str, dict[str, Any]]:
    """Rules and correlations by their Sigma `name` (what correlations reference)."""
    return {rule_doc(p)["name"]: rule_doc(p) for p in ALL_FILES if "name" in rule_doc(p)}


def manifest(path: Path) -> dict[str, dict[str, Any]]:
    """The samples of a correlation rule: `<stem>.samples.json`, file name -> expectation."""
    text = path.with_suffix(".samples.json").read_text(encoding="utf-8")
    data: dict[str, dict[str, Any]] = json.loads(text)
    return data
