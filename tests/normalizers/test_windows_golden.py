"""Golden files of the Windows formats: each `<format>/<case>.raw` gives exactly `<case>.expected.json`.

Formats: `winlogbeat`, `evtx_json`, `nxlog_windows`. The inputs are real events (see
`windows/make_cases.py`, which also documents how the Winlogbeat and NXLog cases were converted).
Conventions are those of the generic `test_golden.py` (same source id, fixed `received_at`, raw =
file text minus one trailing newline, expected = `Event.to_doc()` without `event.ingested`/
`event.created`, 2-space sorted JSON), so both tests agree on the same files; this one adds what
is particular to Windows: no golden case may be a dead letter, and the ECS basics are checked.

Regenerate after an intended mapping change, then review the diff (the detection rules are
written against these files):

    SOC_REGEN_GOLDEN=1 .venv/bin/pytest tests/normalizers/test_windows_golden.py
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from normalizers.base import VIETNAM
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from tests.normalizers.canonical import assert_canonical

ROOT = Path(__file__).parent
FORMATS = ("winlogbeat", "evtx_json", "nxlog_windows")
RECEIVED_AT = datetime(2026, 1, 1, 0, 10, tzinfo=VIETNAM)
SOURCE_ID = "golden"
REGEN = os.environ.get("SOC_REGEN_GOLDEN") == "1"


def cases() -> list[tuple[str, Path]]:
    return [(fmt, raw) for fmt in FORMATS for raw in sorted((ROOT / fmt).glob("*.raw"))]


def read_raw(path: Path) -> str:
    text = path.read_bytes().decode("utf-8")
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def normalize(payload: str, fmt: str) -> dict[str, Any]:
    record = RawRecord(
        id=record_id(SOURCE_ID, payload),
        source_id=SOURCE_ID,
        format=fmt,
        received_at=RECEIVED_AT,
        payload=payload,
    )
    result = NormalizeStage()(record)
    assert isinstance(result, Event), f"dead letter: {result.reason}"
    assert_canonical(result)
    doc = result.to_doc()
    doc["event"].pop("ingested", None)
    doc["event"].pop("created", None)
    return doc


def test_there_are_golden_cases_for_every_windows_format() -> None:
    counts = {fmt: len(list((ROOT / fmt).glob("*.raw"))) for fmt in FORMATS}
    assert all(count >= 8 for count in counts.values()), counts


@pytest.mark.parametrize(("fmt", "raw"), cases(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_windows_golden(fmt: str, raw: Path) -> None:
    actual = normalize(read_raw(raw), fmt)
    # what every Windows event must have, whatever the case (FIELDS.md)
    assert actual["event"]["kind"] == "event"
    assert actual["event"]["code"] == actual["winlog"]["event_id"]
    assert actual["event"]["dataset"].startswith("windows.")
    assert actual["event"]["original"] == read_raw(raw)
    event_data = dict(actual["winlog"].get("event_data", {}))
    unnamed = event_data.pop("Data", [])  # Sigma's `Data`: the unnamed values, a list (FIELDS.md)
    assert isinstance(unnamed, list) and all(isinstance(value, str) for value in unnamed)
    assert all(isinstance(value, str) for value in event_data.values())
    target = raw.with_name(raw.name[: -len(".raw")] + ".expected.json")
    if REGEN:
        target.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        return
    if not target.exists():
        pytest.fail(
            f"{target.name} is missing: run SOC_REGEN_GOLDEN=1 pytest {Path(__file__).name} and review it"
        )
    assert actual == orjson.loads(target.read_bytes())
