"""`Event.flat()` is the dotted view of the document as JSON gives it (`flatten(event.to_doc())`),
built without the whole-document JSON round trip: the two must agree value for value and in order."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from normalizers.evtx_file import iter_records
from normalizers.stage import NormalizeStage
from soc_core.event import Event, flatten
from soc_core.records import RawRecord, record_id

ICT = timezone(timedelta(hours=7))
EVTX = Path(__file__).resolve().parents[2] / "shared" / "data" / "evtx-attack-samples"


class Color(StrEnum):
    RED = "red"


def test_flat_equals_flatten_of_the_json_document() -> None:
    doc: dict[str, Any] = {
        "@timestamp": datetime(2025, 7, 15, 1, 30, tzinfo=UTC),
        "event": {
            "code": "4688",
            "created": datetime(2025, 7, 15, 8, 30, tzinfo=timezone(timedelta(hours=7))),
        },
        "empty": {},
        "nested": {"deeper": {"x": 1, "flag": True, "none": None, "ratio": 0.25, "bad": math.nan}},
        "list": ["a", datetime(2025, 1, 1, tzinfo=UTC)],
        "tuple": ("x", "y"),
        "enum": Color.RED,
        "winlog": {"event_data": {"CommandLine": "", "param1": "ünïcode"}},
    }
    event = Event(doc)
    assert list(event.flat().items()) == list(flatten(event.to_doc()).items())
    assert event.flat()["@timestamp"] == "2025-07-15T01:30:00Z"
    assert event.flat()["nested.deeper.bad"] is None and "empty" not in event.flat()


def test_flat_equals_flatten_on_real_windows_events() -> None:
    stage = NormalizeStage()
    checked = 0
    for path in sorted(EVTX.rglob("*.evtx"))[:40]:
        for payload in iter_records(path):
            rid = record_id("test", payload)
            event = stage(RawRecord(id=rid, source_id="test", format="evtx_json", payload=payload))
            assert isinstance(event, Event)
            assert list(event.flat().items()) == list(flatten(event.to_doc()).items())
            checked += 1
    assert checked > 500


def test_long_and_many_field_names_flatten_the_same() -> None:
    """Dotted names are remembered only within bounds (names come from payloads); past them they
    are built per event, with the same result."""
    from soc_core import flat

    long_key = "k" * (flat.MAX_KEY + 1)
    many = {f"f{n}": n for n in range(flat.MAX_NAMES_PER_PREFIX + 5)}
    doc: dict[str, Any] = {"winlog": {"event_data": {long_key: "v", **many}}, long_key: {"x": 1}}
    for _ in range(2):  # the second time from whatever the first one remembered
        assert Event(doc).flat() == flatten(doc)
    known = flat.place("winlog.event_data.")
    assert known is not None and long_key not in known.names
    assert flat.place(long_key + ".") is None  # nor its place
