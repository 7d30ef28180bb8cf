"""`soc.events` carries arrays of one source's events (`socpipe.event_messages`); its readers take an
array or one event, and refuse one bad element without losing the rest of its message."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from soc_core.bus import Message
from soc_core.settings import Settings
from soc_core.store import DeadLetterQuery, EventQuery, Store
from socpipe import event_messages
from socpipe.event_messages import encode_event_messages
from socpipe.workers import index_handler
from stores.elastic.store import ElasticStore
from tests.conftest import make_alert, make_event


def _event(n: int, source: str = "src-a") -> bytes:
    return make_event(n, source=source).to_json()


def test_events_are_packed_per_source_in_order_within_the_byte_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    size = len(_event(0))
    monkeypatch.setattr(event_messages, "EVENT_BATCH_BYTES", 3 * size + 10)
    pairs = [(f"src-{n % 2}", _event(n, f"src-{n % 2}")) for n in range(10)]
    pairs.append(("src-0", orjson.dumps({**orjson.loads(_event(99, "src-0")), "message": "x" * 10 * size})))
    messages = encode_event_messages(pairs)
    assert [key for key, _ in messages] == [b"src-0"] * 3 + [b"src-1"] * 2
    for _key, value in messages:
        assert value is not None and (len(value) <= 3 * size + 10 or value.count(b'"@timestamp"') == 1)
    ids = {
        key: [e["event"]["id"] for k, value in messages if k == key for e in orjson.loads(value or b"")]
        for key in (b"src-0", b"src-1")
    }
    assert ids[b"src-0"] == [f"ev-{n:06d}" for n in (0, 2, 4, 6, 8, 99)]
    assert ids[b"src-1"] == [f"ev-{n:06d}" for n in (1, 3, 5, 7, 9)]


def _message(offset: int, value: bytes) -> Message:
    return Message(
        topic=Settings().stores.topic_events, partition=0, offset=offset, key=b"src-a", value=value
    )


def test_the_index_worker_takes_arrays_and_single_events_and_dead_letters_one_bad_element(
    store: Store,
) -> None:
    settings = Settings()
    good = [orjson.loads(_event(n)) for n in range(3)]
    no_time: dict[str, Any] = {"event": {"id": "no-time"}}
    messages = [
        _message(0, orjson.dumps([good[0], no_time, 5, good[1]])),
        _message(1, orjson.dumps(good[2])),
        _message(2, b"[not json"),
    ]
    index_handler(settings, store)(messages)
    store.refresh()
    stored = store.search_events(EventQuery(size=50)).items
    assert sorted(e.id for e in stored) == ["ev-000000", "ev-000001", "ev-000002"]
    letters = store.list_deadletters(DeadLetterQuery(stage="index", size=50)).items
    reasons = sorted(d.reason for d in letters)
    assert len(reasons) == 3
    assert reasons[0].startswith("undecodable event at") and "soc.events/0@0#1" in reasons[0]
    assert "soc.events/0@0#2" in reasons[1] and "an event (a JSON object) expected, got int" in reasons[1]
    assert reasons[2].startswith("undecodable record at") and "soc.events/0@2" in reasons[2]
    assert {d.raw for d in letters} >= {orjson.dumps(no_time).decode(), "5", "[not json"}
    assert all(d.source_id == "src-a" for d in letters)


def test_the_index_worker_writes_alerts_while_its_events_stream(
    elastic_store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's alerts (and repeats) go to the store from another thread while its events are
    written: the first events request waits (up to 10 s) for the alerts' write to have begun,
    which a worker writing one after the other would never do."""
    settings = Settings()
    real_bulk, real_put_alerts = elastic_store.es.bulk, elastic_store.put_alerts
    alerts_begun = threading.Event()
    overlapped: list[bool] = []

    def put_alerts(alerts: Any) -> Any:
        alerts_begun.set()
        return real_put_alerts(alerts)

    def bulk(*, operations: list[Any], **kwargs: Any) -> Any:
        first = operations[0]["create"]["_index"] if isinstance(operations[0], dict) else ""
        if "events-" in first and not overlapped:
            overlapped.append(alerts_begun.wait(timeout=10))
        return real_bulk(operations=operations, **kwargs)

    monkeypatch.setattr(elastic_store, "put_alerts", put_alerts)
    monkeypatch.setattr(elastic_store.es, "bulk", bulk)
    event = make_event(1)
    alert = make_alert("rule-a", event)
    messages = [
        _message(0, orjson.dumps([orjson.loads(_event(n)) for n in range(3)])),
        Message(topic=settings.stores.topic_alerts, partition=0, offset=0, key=b"a", value=alert.to_json()),
    ]
    index_handler(settings, elastic_store)(messages)
    elastic_store.refresh()
    assert overlapped == [True]
    assert elastic_store.search_events(EventQuery(size=10)).total == 3
    assert elastic_store.get_alert(alert.id) is not None
