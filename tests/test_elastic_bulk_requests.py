"""A batch of writes streams to Elasticsearch (`ElasticStore._bulk_create`): requests of
`BULK_ITEMS` documents, each sent as soon as its documents are made, `SOC_ES_BULK_REQUESTS` of them
at once; a request that fails is sent again alone, and what the others created counts once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import BadRequestError

from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.settings import Mode, Settings, StoreSettings
from soc_core.store import EventQuery
from socpipe.runtime import build_backend
from stores.elastic import ElasticBackend
from stores.elastic.store import BULK_ITEMS, BULK_MIN_ITEMS, ElasticStore
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
    once as a dropped connection would. `arrived` is set when the first request comes in, and
    with `meet` the first two requests wait for each other (up to 10 s): both were in flight at
    once, or the second never came while the first waited."""

    def __init__(self, store: ElasticStore, fail: int | None = None, meet: bool = False) -> None:
        self.real = store.es.bulk
        self.fail = fail
        self.sizes: list[int] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.meeting = threading.Barrier(2, timeout=10) if meet else None
        self.met = 0

    def __call__(self, *, operations: list[Any], **kwargs: Any) -> Any:
        with self.lock:
            self.sizes.append(len(operations) // 2)
            self.threads.add(threading.current_thread().name)
            failing = len(self.sizes) == self.fail
            meeting = self.meeting if len(self.sizes) <= 2 else None
        self.arrived.set()
        if meeting is not None:
            meeting.wait()
            with self.lock:
                self.met += 1
        if failing:
            raise TransportConnectionError("test: connection dropped")
        return self.real(operations=operations, **kwargs)


def test_a_batch_goes_out_in_requests_of_bulk_items_several_at_once(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = CountingBulk(store, meet=True)
    monkeypatch.setattr(store.es, "bulk", bulk)
    events = [make_event(n) for n in range(3 * BULK_ITEMS)]
    result = store.put_events(events)
    assert result.created == len(events) and not result.failed
    assert bulk.sizes == [BULK_ITEMS] * 3 and bulk.met == 2  # the first two were in flight together
    small = store.put_events([make_event(n) for n in range(10_000, 10_000 + BULK_MIN_ITEMS + 10)])
    assert small.created == BULK_MIN_ITEMS + 10 and bulk.sizes[3:] == [BULK_MIN_ITEMS + 10]  # one request
    store.refresh()
    assert store.search_events(EventQuery(size=1)).total == len(events) + BULK_MIN_ITEMS + 10


def test_the_first_request_goes_out_before_the_last_event_is_made(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index worker hands its events over as it decodes them: Elasticsearch gets the first
    slice while the rest are still being made."""
    bulk = CountingBulk(store)
    monkeypatch.setattr(store.es, "bulk", bulk)
    seen_before_last: list[bool] = []

    def events() -> Iterator[Event]:
        for n in range(2 * BULK_ITEMS):
            if n == 2 * BULK_ITEMS - 1:
                seen_before_last.append(bulk.arrived.wait(timeout=10))
            yield make_event(n)

    result = store.put_events(events())
    assert seen_before_last == [True] and result.created == 2 * BULK_ITEMS
    assert bulk.sizes == [BULK_ITEMS, BULK_ITEMS]


def test_a_failed_request_is_sent_again_alone(store: ElasticStore, monkeypatch: pytest.MonkeyPatch) -> None:
    bulk = CountingBulk(store, fail=2)
    monkeypatch.setattr(store.es, "bulk", bulk)
    events = [make_event(n) for n in range(3 * BULK_ITEMS)]
    result = store.put_events(events)
    assert (result.created, result.duplicates, result.failed) == (len(events), 0, [])
    # three streamed, then the failed one's items again (in slices of at least BULK_MIN_ITEMS)
    assert bulk.sizes[:3] == [BULK_ITEMS] * 3 and sum(bulk.sizes[3:]) == BULK_ITEMS
    assert min(bulk.sizes[3:]) >= BULK_MIN_ITEMS
    again = store.put_events(events)
    assert (again.created, again.duplicates) == (0, len(events))


def test_a_failure_while_events_are_made_waits_for_the_requests_in_flight(
    store: ElasticStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What went wrong making the documents is raised, after every request already sent answered
    (nothing is left writing behind the caller's back: the batch is retried whole)."""
    bulk = CountingBulk(store)
    monkeypatch.setattr(store.es, "bulk", bulk)

    def events() -> Iterator[Event]:
        for n in range(BULK_ITEMS + 1):
            if n == BULK_ITEMS:
                raise RuntimeError("test: a decoder bug")
            yield make_event(n)

    with pytest.raises(RuntimeError, match="decoder bug"):
        store.put_events(events())
    store.refresh()
    assert bulk.sizes == [BULK_ITEMS]
    assert store.search_events(EventQuery(size=1)).total == BULK_ITEMS  # answered before the raise


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
