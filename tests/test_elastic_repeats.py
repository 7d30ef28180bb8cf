"""Suppressed repeats reach Elasticsearch in a constant number of requests per batch (issue 17): one
request per repeat made the index worker wait on Elasticsearch for most of its time
(bench/bench_e2e.py). The folding itself is the store contract's
(tests/contract/test_store_contract.py); here, the requests and the race with triage; and the
bulk bodies, encoded by orjson."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from soc_core.alert import Alert, AlertRepeat
from soc_core.errors import StoreError
from stores.elastic.store import ElasticStore, OrjsonNdjsonSerializer
from tests.contract.test_store_contract import _alert
from tests.counting import count_calls


def _repeats(alert: Alert, n: int) -> list[AlertRepeat]:
    return [
        AlertRepeat(
            alert_id=alert.id,
            first_seen=alert.timestamp,
            count=2 + i,
            last_seen=alert.timestamp + timedelta(seconds=i + 1),
            event_id=f"{alert.id}-rep-{i}",
        )
        for i in range(n)
    ]


def test_a_batch_of_repeats_is_one_read_and_one_write(elastic_store: ElasticStore) -> None:
    alerts = [_alert(n) for n in range(1, 6)]
    elastic_store.put_alerts(alerts)
    repeats = [r for i in range(10) for r in (_repeats(a, 10)[i] for a in alerts)]  # interleaved
    calls = count_calls(elastic_store.es, ("get", "mget", "index", "bulk", "search"))
    assert elastic_store.record_repeats(repeats) == 50
    assert dict(calls) == {"mget": 1, "bulk": 1}
    elastic_store.refresh()
    for alert in alerts:
        got = elastic_store.get_alert(alert.id)
        assert got is not None
        assert got.count == 11 and got.last_seen == alert.timestamp + timedelta(seconds=10)
        assert got.event_ids == [*alert.event_ids, *(f"{alert.id}-rep-{i}" for i in range(10))]
    replay = count_calls(elastic_store.es, ("get", "mget", "index", "bulk", "search"))
    assert elastic_store.record_repeats(repeats) == 0  # a replay reads, and writes nothing
    assert dict(replay) == {"mget": 1}


def test_an_alert_triaged_between_read_and_write_is_read_and_folded_again(
    elastic_store: ElasticStore,
) -> None:
    alert = _alert(1)
    elastic_store.put_alerts([alert])
    real_mget = elastic_store.es.mget
    raced: list[bool] = []

    def mget_then_triage(**kwargs: Any) -> Any:
        resp = real_mget(**kwargs)
        if not raced:  # an analyst's write lands after our read: our conditional write must fail
            raced.append(True)
            doc = dict(resp["docs"][0]["_source"])
            doc["count"] = 7
            elastic_store.es.index(index=resp["docs"][0]["_index"], id=alert.id, document=doc)
        return resp

    elastic_store.es.mget = mget_then_triage  # type: ignore[method-assign]
    assert elastic_store.record_repeats(_repeats(alert, 2)) == 2  # each adds its event id
    elastic_store.refresh()
    got = elastic_store.get_alert(alert.id)
    assert got is not None
    assert got.count == 7  # the concurrent write was not overwritten with the stale count 3
    assert got.event_ids == [*alert.event_ids, f"{alert.id}-rep-0", f"{alert.id}-rep-1"]


def test_a_repeat_of_an_alert_not_stored_fails_the_batch(elastic_store: ElasticStore) -> None:
    alert = _alert(1)
    elastic_store.put_alerts([alert])
    missing = _alert(2)
    with pytest.raises(StoreError, match="not stored"):
        elastic_store.record_repeats([*_repeats(alert, 1), *_repeats(missing, 1)])
    elastic_store.refresh()
    got = elastic_store.get_alert(alert.id)
    assert got is not None and got.count == 1  # nothing written: the batch is retried whole


def test_bulk_bodies_are_encoded_by_orjson_as_the_standard_library_would(elastic_store: ElasticStore) -> None:
    """The client the store builds encodes bulk bodies (sent as the compatibility mimetype) with
    orjson, to the same documents; a bulk of them round-trips."""
    from elasticsearch.serializer import NdjsonSerializer

    serializers = elastic_store.es.transport.serializers
    ours = serializers.get_serializer("application/vnd.elasticsearch+x-ndjson; compatible-with=8")
    assert isinstance(ours, OrjsonNdjsonSerializer)
    alert = _alert(1)
    ops: list[Any] = [{"create": {"_index": "x", "_id": alert.id}}, alert.to_doc()]
    assert ours.loads(ours.dumps(ops)) == NdjsonSerializer().loads(NdjsonSerializer().dumps(ops))
    assert elastic_store.put_alerts([alert]).created == 1
    elastic_store.refresh()
    assert elastic_store.get_alert(alert.id) == alert
