"""Golden files: every `tests/normalizers/<format>/<case>.raw` gives exactly `<case>.expected.json`.

Generic over formats: the folder name is the registry format, the `.raw` file (UTF-8, minus one
trailing newline) is one raw record, and it goes through the real `NormalizeStage` with a fixed
`received_at` (so year-less syslog times are reproducible) and the default Asia/Ho_Chi_Minh zone.
The expected file holds `Event.to_doc()` without the volatile `event.ingested`/`event.created`,
or `{"dead_letter": {...}}` for a case that must be refused.

Regenerate after an intended change with `SOC_REGEN_GOLDEN=1 pytest tests/normalizers/test_golden.py`
and review the diff: the files are the contract the detection rules are written against.
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
from soc_core.records import DeadLetter, RawRecord, record_id
from tests.normalizers.canonical import assert_canonical

ROOT = Path(__file__).parent
# 00:10 on New Year's Day: year-less December lines belong to the year before, January to this one.
RECEIVED_AT = datetime(2026, 1, 1, 0, 10, tzinfo=VIETNAM)
SOURCE_ID = "golden"
REGEN = os.environ.get("SOC_REGEN_GOLDEN") == "1"
_VOLATILE = ("ingested", "created")


def golden_cases() -> list[tuple[str, Path]]:
    """(format, raw path) for every case in every format folder."""
    cases: list[tuple[str, Path]] = []
    for folder in sorted(ROOT.iterdir()):
        if folder.is_dir() and not folder.name.startswith(("_", ".")):
            cases.extend((folder.name, raw) for raw in sorted(folder.glob("*.raw")))
    return cases


def read_raw(path: Path) -> str:
    """The record: the file's text minus a single trailing newline (bytes kept, no newline translation)."""
    text = path.read_bytes().decode("utf-8")
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def make_record(payload: str, fmt: str | None) -> RawRecord:
    return RawRecord(
        id=record_id(SOURCE_ID, payload),
        source_id=SOURCE_ID,
        format=fmt,
        received_at=RECEIVED_AT,
        payload=payload,
    )


def normalize(payload: str, fmt: str | None) -> dict[str, Any]:
    """The stage's result as the comparable document."""
    result = NormalizeStage()(make_record(payload, fmt))
    if isinstance(result, DeadLetter):
        return {"dead_letter": {"format_tried": result.format_tried, "reason": result.reason}}
    assert isinstance(result, Event)
    assert_canonical(result)
    doc = result.to_doc()
    for key in _VOLATILE:
        doc["event"].pop(key, None)
    return doc


def expected_path(raw: Path) -> Path:
    return raw.with_name(raw.name[: -len(".raw")] + ".expected.json")


@pytest.mark.parametrize(("fmt", "raw"), golden_cases(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_golden(fmt: str, raw: Path) -> None:
    actual = normalize(read_raw(raw), fmt)
    target = expected_path(raw)
    if REGEN:
        target.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        return
    if not target.exists():
        pytest.fail(
            f"{target.name} is missing: run SOC_REGEN_GOLDEN=1 pytest {Path(__file__).name} and review it"
        )
    expected = orjson.loads(target.read_bytes())
    assert actual == expected


def test_every_folder_is_a_registered_format() -> None:
    """A folder name that is not a format would test nothing but the dead-letter path."""
    from normalizers import registry

    folders = {fmt for fmt, _ in golden_cases()}
    assert folders <= set(registry.names()), (
        f"unknown format folders: {sorted(folders - set(registry.names()))}"
    )
