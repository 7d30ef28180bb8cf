"""The detect worker matches `soc.events` as they arrived and validates only the events it reads
the document of (`UncheckedEvent`): for what the normalize stage writes, the view it matches is the
validated event's, and an event that proves invalid when it alerts is a dead letter, the rest of
its message going on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from soc_core.bus import InProcessBus, Message
from soc_core.event import Event, UncheckedEvent
from soc_core.records import DeadLetter
from socpipe.runtime import build_detect
from socpipe.workers import detect_handler
from stores.sqlite.store import SqliteStore
from tests.backends import backend_of
from tests.detections.test_stage import NETSH_RULE, netsh_event
from tests.detections.test_suppression_restart import settings_for
from tests.normalizers.test_golden import expected_path, golden_cases, normalize, read_raw


def _published(doc: dict[str, Any]) -> dict[str, Any]:
    """A document as the normalize worker publishes it and a reader parses it."""
    parsed: dict[str, Any] = orjson.loads(Event.from_doc(doc).to_json())
    return parsed


def event_cases() -> list[tuple[str, Path]]:
    """The golden cases that give an event (the others are refused records)."""
    return [
        (fmt, raw) for fmt, raw in golden_cases() if b'"dead_letter"' not in expected_path(raw).read_bytes()
    ]


@pytest.mark.parametrize(("fmt", "raw"), event_cases(), ids=lambda v: getattr(v, "stem", v))
def test_an_unchecked_event_is_the_validated_one_for_what_the_normalizers_write(fmt: str, raw: Path) -> None:
    doc = normalize(read_raw(raw), fmt)
    arrived = _published(doc)
    unchecked, validated = UncheckedEvent(arrived), Event.from_doc(arrived)
    assert unchecked.flat() == validated.flat()
    assert list(unchecked.flat()) == list(validated.flat())  # the order rules see them in too
    assert unchecked.doc == validated.doc and unchecked.soc == validated.soc
    assert unchecked.to_json() == validated.to_json() == Event.from_doc(doc).to_json()


def test_validation_waits_until_the_document_is_read() -> None:
    arrived = _published(netsh_event().doc)
    arrived["@timestamp"] = "not a time"
    event = UncheckedEvent(arrived)
    assert event.flat()["@timestamp"] == "not a time"  # matching reads it as it came
    assert event.arrived_id() == "ev-1"
    with pytest.raises(ValueError, match="@timestamp"):  # pydantic's ValidationError
        _ = event.doc


def _message(offset: int, docs: list[dict[str, Any]]) -> Message:
    return Message(topic="soc.events", partition=0, offset=offset, key=b"src-1", value=orjson.dumps(docs))


def test_an_invalid_event_that_alerts_is_a_dead_letter_and_its_message_goes_on(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    store = SqliteStore(tmp_path / "store.sqlite3")
    store.setup()
    bus = InProcessBus()
    alerts_out = bus.consumer([settings.stores.topic_alerts], "alerts")
    letters_out = bus.consumer([settings.stores.topic_deadletter], "letters")
    first, other_host = _published(netsh_event("ev-1").doc), _published(netsh_event("ev-4", host="ws-2").doc)
    bad_time = {**_published(netsh_event("ev-2", host="ws-3").doc), "@timestamp": "not a time"}
    quiet_and_bad = {"event": {"id": "ev-3"}, "host": {"name": 7}}  # no time; fires nothing
    handle = detect_handler(settings, bus, build_detect(settings, backend_of(store)))
    handle([_message(0, [first, bad_time, quiet_and_bad, other_host])])

    alerts = [orjson.loads(m.value) for m in alerts_out.poll(50, timeout_s=0)]
    assert sorted(a["event_ids"][0] for a in alerts) == ["ev-1", "ev-4"]
    assert {a["rule"]["id"] for a in alerts} == {NETSH_RULE}
    (letter,) = [DeadLetter.model_validate_json(m.value) for m in letters_out.poll(50, timeout_s=0)]
    assert (letter.id, letter.stage, letter.source_id) == ("ev-2", "detect", "src-1")
    assert letter.reason.startswith("undecodable event:") and "@timestamp" in letter.reason
    assert orjson.loads(letter.raw) == bad_time
