"""`Event.from_doc` validates a document's `soc` part once per distinct value (`soc_core.event`)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from soc_core import event as event_module
from soc_core.event import Event


def doc(n: int, soc: Any) -> dict[str, Any]:
    return {"@timestamp": "2025-07-01T08:00:00Z", "event": {"id": f"e{n}"}, "soc": soc}


SOC = {"unit": {"id": "u1", "name": "Sở Y tế"}, "source": {"id": "s1", "format": "evtx_json"}}


def test_events_of_one_source_get_the_same_validated_soc() -> None:
    first, second = Event.from_doc(doc(1, SOC)), Event.from_doc(doc(2, dict(SOC)))
    assert first.soc is second.soc and first.soc.unit.name == "Sở Y tế"
    assert first.doc["soc"] == second.doc["soc"] == {**SOC, "system": {}}
    assert first.source_format == "evtx_json" and first.source_id == "s1"


@pytest.mark.parametrize(
    "bad",
    [{"unit": {"id": 5}}, {"unit": {"id": "u", "extra": 1}}, {"source": []}, ["not", "an", "object"]],
)
def test_a_bad_soc_is_refused_every_time_not_remembered(bad: Any) -> None:
    for n in range(2):
        with pytest.raises(ValidationError):
            Event.from_doc(doc(n, bad))


def test_a_soc_json_cannot_hold_is_validated_without_being_remembered() -> None:
    with pytest.raises(ValidationError):
        Event.from_doc(doc(1, {"unit": {"id": {1, 2}}}))


def test_the_remembered_socs_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_module, "SOCS_REMEMBERED", 3)
    for n in range(10):
        ev = Event.from_doc(doc(n, {"source": {"id": f"s{n}"}}))
        assert ev.source_id == f"s{n}"
        assert len(event_module._SOCS_SEEN) <= 3
