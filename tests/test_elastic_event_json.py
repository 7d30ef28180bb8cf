"""The index worker's event documents (`stores.elastic.store._searchable_json`): the event's own JSON
with its free-text words spliced in, the same as adding them to a JSON-native copy of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from soc_core.event import Event
from soc_core.kql.text import search_text
from stores.elastic.kql import SEARCH_FIELD
from stores.elastic.store import ElasticStore, _searchable_json
from tests.conftest import make_event

ICT = timezone(timedelta(hours=7))


def _the_slow_way(event: Event) -> dict[str, Any]:
    doc = event.to_doc()
    doc[SEARCH_FIELD] = search_text(doc)
    return doc


@pytest.mark.parametrize(
    "event",
    [
        make_event(1),
        make_event(2, ts=datetime(2025, 7, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        make_event(3, ts=datetime(2025, 7, 1, 15, 0, tzinfo=ICT)),  # stored as 08:00Z
        make_event(
            4, destination={"ip": "10.0.0.1", "port": 4444}, tags=["a", "b"], labels={"đơn vị": "Sở Y tế"}
        ),
        Event.from_doc(
            {
                "@timestamp": "2025-07-01T08:00:00+07:00",
                "event": {"id": "e5", "code": 4625, "category": "authentication", "original": "raw words"},
                "process": {"pid": 4, "command_line": 'cmd.exe /c "netsh"'},
                "ecs": {"version": "8.11.0"},
                "x": {"ratio": 0.5, "flag": True, "none": None, "empty": ""},
            }
        ),
    ],
)
def test_the_spliced_json_is_the_document_with_its_words(event: Event) -> None:
    body = _searchable_json(event)
    assert isinstance(body, bytes)
    assert orjson.loads(body) == _the_slow_way(event)


def test_a_document_that_brings_its_own_words_gets_them_replaced() -> None:
    event = Event({**make_event(6).doc, SEARCH_FIELD: "stale words"})
    body = _searchable_json(event)
    assert isinstance(body, dict) and body == _the_slow_way(event)


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2025, 7, 1, 23, 30, tzinfo=UTC), "2025.07.01"),
        (datetime(2025, 7, 2, 6, 30, tzinfo=ICT), "2025.07.01"),  # 23:30 UTC the day before
        (datetime(2025, 7, 2, 7, 0, tzinfo=ICT), "2025.07.02"),
        (datetime(2025, 7, 1, 20, 0, tzinfo=timezone(timedelta(hours=-5))), "2025.07.02"),
    ],
)
def test_an_event_goes_to_the_index_of_its_utc_day(moment: datetime, day: str) -> None:
    store = ElasticStore("http://127.0.0.1:9", prefix="p-")  # no request is made
    assert store.event_index(moment) == store.event_index(moment) == f"p-events-{day}"
