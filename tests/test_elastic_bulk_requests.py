"""A batch of writes goes to Elasticsearch as `SOC_ES_BULK_REQUESTS` requests at once
(`ElasticStore._bulk_create`); a request that fails is sent again alone, and what the others
created counts once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import BadRequestError

from soc_core.errors import StoreError
from soc_core.settings import Mode, Settings, StoreSettings
from soc_core.store import EventQuery
from socpipe.runtime import build_backend
from stores.elastic import ElasticBackend
from stores.elastic.store import BULK_MIN_ITEMS, ElasticStore
from tests.conftest import make_event
from tests.servers import Servers


@pytest.fixture
def store(servers: Servers, prefix: str) -> Iterator[ElasticStore]:
    s = ElasticStore(servers.es_url, prefix=prefix, refresh_interval="100ms", bulk_requests=3)
    s.setup()
    yield s
    s.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    s.es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    s.close()


class CountingBulk:
    """The client's bulk, recording each request's size and thread; the `fail`-th request fails
    once as a dropped connection would."""

    def __init__(self, store: ElasticStore, fail: int | None = None) -> None:
        self.real = store.es.bulk
        self.fail = fail
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, *, operations: list[Any], **kwargs: Any) -> Any:
        with self.lock:
            self.sizes.append(len(operations) // 2)
            self.threads.add(threading.current_thread().name)
            failing = len(self.sizes) == self.fail
        if failing:
            raise TransportConnectionError("test: connection dropped")
        return self.real(operations=operations, **kwargs)


def test_a_batch_goes_out_as_several_requests_at_once(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = CountingBulk(store)
    monkeypatch.setattr(store.es, "bulk", bulk)
    events = [make_event(n) for n in range(3 * BULK_MIN_ITEMS)]
    result = store.put_events(events)
    assert result.created == len(events) and not result.failed
    assert bulk.sizes == [BULK_MIN_ITEMS] * 3 and len(bulk.threads) == 3
    small = store.put_events([make_event(n) for n in range(10_000, 10_000 + BULK_MIN_ITEMS + 10)])
    assert small.created == BULK_MIN_ITEMS + 10 and bulk.sizes[3:] == [BULK_MIN_ITEMS + 10]  # one request
    store.refresh()
    assert store.search_events(EventQuery(size=1)).total == len(events) + BULK_MIN_ITEMS + 10


def test_a_failed_request_is_sent_again_alone(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk = CountingBulk(store, fail=2)
    monkeypatch.setattr(store.es, "bulk", bulk)
    events = [make_event(n) for n in range(3 * BULK_MIN_ITEMS)]
    result = store.put_events(events)
    assert (result.created, result.duplicates, result.failed) == (len(events), 0, [])
    assert sorted(bulk.sizes) == [BULK_MIN_ITEMS] * 4  # three at once, then the failed one again
    again = store.put_events(events)
    assert (again.created, again.duplicates) == (0, len(events))


def test_the_setting_reaches_the_workers_store(servers: Servers, prefix: str) -> None:
    settings = Settings(
        mode=Mode.DISTRIBUTED,
        stores=StoreSettings(es_url=servers.es_url, index_prefix=prefix, es_bulk_requests=4),
    )
    backend = build_backend(settings)
    assert isinstance(backend, ElasticBackend) and backend.store.bulk_requests == 4
    backend.client.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    backend.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")


def test_a_request_refused_outright_is_a_store_error_with_its_cause(store: ElasticStore) -> None:
    """A body Elasticsearch cannot frame (a document line broken by a newline) is refused whole (400)."""
    broken = b'{"message":\n"split"}'
    with pytest.raises(StoreError, match="bulk request refused") as caught:
        store._bulk_create([(store.event_index(make_event(0).timestamp), "broken-1", broken)])
    assert isinstance(caught.value.__cause__, BadRequestError)
