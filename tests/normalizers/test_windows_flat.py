"""The flat view written directly (`windows_ecs.to_flat`, the stage's `deferred` path that
`socpipe detect` takes) is the document's: `Event.flat()` of the very document the normal path
builds, key for key, value for value and in the same order; and the document a `DeferredEvent`
builds on first use is the normal path's, byte for byte. Checked on every event of
EVTX-ATTACK-SAMPLES and on the golden files of the three Windows shapes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from detections.offline import records
from normalizers import evtx_json, nxlog_windows, winlogbeat
from normalizers.base import ParseContext
from normalizers.stage import NormalizeStage
from normalizers.windows_ecs import WinEvent, compose, load_json, to_ecs, to_flat
from soc_core.event import DeferredEvent, Event
from soc_core.records import DeadLetter
from tests.normalizers.test_windows_evtx_samples import _files
from tests.normalizers.test_windows_golden import RECEIVED_AT, cases, read_raw

CREATED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def items(flat: dict[str, Any]) -> list[tuple[str, Any]]:
    """A flat view as its ordered items: equal only with the same keys, values and order."""
    return list(flat.items())


def both_paths(stage: NormalizeStage, payload: str, **fields: Any) -> tuple[DeferredEvent, Event]:
    """The record through the deferred path and the normal one, `event.ingested` made the same
    (each path stamps its own now)."""
    deferred = stage.normalize(payload, deferred=True, **fields)
    plain = stage.normalize(payload, **fields)
    assert isinstance(deferred, DeferredEvent), deferred
    assert type(plain) is Event, plain
    return deferred, plain


def assert_same_event(deferred: DeferredEvent, plain: Event, where: str) -> None:
    flat = deferred.flat()  # before the document exists: the view written directly
    assert deferred._doc is None, where
    doc = deferred.doc
    plain.doc["event"]["ingested"] = doc["event"]["ingested"]
    assert items(flat) == items(plain.flat()), where
    assert items(flat) == items(Event(doc).flat()), where
    assert deferred.to_json() == plain.to_json(), where


def test_flat_view_and_document_on_every_event_of_the_evtx_corpus() -> None:
    stage = NormalizeStage()
    events = 0
    for path in _files():
        source = f"cli:{path.name}"
        for rid, payload, fmt, bounded in records(path, None, Counter(), Counter()):
            fields = {
                "record_id": rid,
                "source_id": source,
                "format_name": fmt,
                "received_at": CREATED,
                "nesting_bounded": bounded,
                "unit_id": "unit-1" if events % 2 else None,
            }
            deferred, plain = both_paths(stage, payload, **fields)
            assert_same_event(deferred, plain, f"{path.name}: {rid}")
            events += 1
    assert events > 8000  # the corpus has 8,255 events


def win_events(fmt: str, raw: str) -> tuple[WinEvent, WinEvent]:
    """Two canonical events of one golden record (one for each mapping: neither may share state)."""
    if fmt == "evtx_json":
        return evtx_json.NORMALIZER.win_event(raw), evtx_json.NORMALIZER.win_event(raw)
    if fmt == "winlogbeat":
        return winlogbeat.to_win_event(load_json(raw)), winlogbeat.to_win_event(load_json(raw))
    ctx = ParseContext(received_at=RECEIVED_AT)
    return nxlog_windows.to_win_event(load_json(raw), ctx), nxlog_windows.to_win_event(load_json(raw), ctx)


@pytest.mark.parametrize(("fmt", "raw"), cases(), ids=lambda v: v.stem if isinstance(v, Path) else v)
def test_to_flat_is_the_flat_view_of_to_ecs_on_the_golden_files(fmt: str, raw: Path) -> None:
    first, second = win_events(fmt, read_raw(raw))
    flat: dict[str, Any] = {}
    mapped = to_flat(first, flat)
    document = to_ecs(second)
    assert items(flat) == items(Event(document).flat())
    composed = Event(compose(first, mapped))  # the document from the mapping the view was made of
    assert composed.to_json() == Event(document).to_json()
    assert items(flat) == items(Event(to_ecs(first)).flat())  # mapping it for the view changed nothing


@pytest.mark.parametrize("raw", [raw for fmt, raw in cases() if fmt == "evtx_json"], ids=lambda v: v.stem)
def test_deferred_path_on_the_evtx_json_golden_files(raw: Path) -> None:
    payload = read_raw(raw)
    deferred, plain = both_paths(
        NormalizeStage(),
        payload,
        record_id="golden-1",
        source_id="golden",
        format_name="evtx_json",
        received_at=RECEIVED_AT,
    )
    assert_same_event(deferred, plain, raw.name)


def test_deferred_event_views_and_document() -> None:
    payload = read_raw(Path(__file__).parent / "evtx_json" / "security_4688_process_created.raw")
    fields: dict[str, Any] = {
        "record_id": "r1",
        "source_id": "s",
        "format_name": "evtx_json",
        "received_at": CREATED,
    }
    event = NormalizeStage().normalize(payload, deferred=True, **fields)
    assert isinstance(event, DeferredEvent)
    first = event.flat()
    again = event.flat()  # asked twice: the second is the document's, a new dict
    assert again is not first and items(again) == items(first)
    assert event.id == "r1" and event.doc["winlog"]["event_id"] == "4688"
    event.doc = {"@timestamp": CREATED, "event": {"id": "r2"}}
    assert event.flat() == {"@timestamp": "2026-01-02T03:04:05.678901Z", "event.id": "r2"}


def test_what_the_deferred_path_leaves_to_the_normal_one() -> None:
    """Evidence, other formats and dead letters: the same results as without `deferred`."""
    stage = NormalizeStage()
    payload = read_raw(Path(__file__).parent / "evtx_json" / "security_4688_process_created.raw")
    fields: dict[str, Any] = {"record_id": "r1", "source_id": "s", "received_at": CREATED}
    with_evidence = stage.normalize(
        payload, format_name="evtx_json", evidence={"visit_id": "v"}, deferred=True, **fields
    )
    assert type(with_evidence) is Event and with_evidence.doc["soc"]["evidence"] == {"visit_id": "v"}
    winlogbeat_raw = read_raw(next(raw for fmt, raw in cases() if fmt == "winlogbeat"))
    assert type(stage.normalize(winlogbeat_raw, format_name="winlogbeat", deferred=True, **fields)) is Event
    for broken in ('{"Event": {"System": {}}}', "{not json", '{"Event": {"System": {"EventID": 1}}}'):
        dead = stage.normalize(broken, format_name="evtx_json", deferred=True, **fields)
        plain = stage.normalize(broken, format_name="evtx_json", **fields)
        assert isinstance(dead, DeadLetter) and isinstance(plain, DeadLetter)
        assert dead.model_dump(exclude={"at"}) == plain.model_dump(exclude={"at"})
