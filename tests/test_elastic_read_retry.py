"""Store reads wait out Elasticsearch's transient answers (issue 14): a search on an index whose
shards are not allocated yet answers 503 `search_phase_execution_exception`, which once failed
`tests/e2e/test_distributed_alerts.py` on a busy machine. The policy alone, then the real thing: an
index whose only shard cannot be allocated until the test lets it (an allocation filter naming no
node), which is what a just-created index looks like, for as long as the test wants."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, TransportApiResponse

from soc_core.errors import StoreError
from soc_core.settings import DEFAULT_ES_READ_RETRY_S, StoreSettings
from soc_core.store import EventQuery
from stores.elastic.retry import FIRST_WAIT_S, LONGEST_WAIT_S, is_read, read_retrying
from stores.elastic.store import ElasticStore, connect
from tests.servers import Servers

NOWHERE = {"index.routing.allocation.require._name": "no-such-node"}


def _answer(status: int) -> TransportApiResponse:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 19200),
    )
    return TransportApiResponse(meta, {"status": status})


def test_reads_are_retried_and_writes_are_not() -> None:
    assert is_read("GET", "/soc-events-*/_doc/1") and is_read("HEAD", "/soc-registry")
    assert is_read("POST", "/soc-events-*/_search?typed_keys=true") and is_read(
        "POST", "/soc-alerts-*/_count"
    )
    assert not is_read("POST", "/_bulk") and not is_read("PUT", "/soc-x/_doc/1")
    assert not is_read("POST", "/soc-alerts-2025.07/_update/a1")


def test_transient_answers_are_asked_again_with_growing_waits() -> None:
    answers = iter([503, 429, 503, 200])
    waits: list[float] = []
    result = read_retrying(60.0, sleep=waits.append)(lambda: _answer(next(answers)))
    assert result.meta.status == 200
    assert len(waits) == 3 and all(0 < w <= LONGEST_WAIT_S + FIRST_WAIT_S for w in waits)
    assert waits[2] > waits[0]  # exponential: 50 ms, 100 ms, 200 ms (plus up to 50 ms jitter)


def test_a_refusal_is_not_retried_and_a_spent_budget_returns_the_last_answer() -> None:
    calls: list[int] = []

    def refuse(status: int) -> TransportApiResponse:
        calls.append(status)
        return _answer(status)

    assert read_retrying(60.0)(refuse, 404).meta.status == 404 and calls == [404]
    calls.clear()
    assert read_retrying(0.2)(refuse, 503).meta.status == 503  # what the caller got without the retry
    assert len(calls) > 1


def test_the_budget_is_a_setting() -> None:
    assert StoreSettings().es_read_retry_s == DEFAULT_ES_READ_RETRY_S > 0


@pytest.fixture
def unallocated(servers: Servers, prefix: str) -> Iterator[str]:
    """An events index of `prefix` (its template set up) whose shard waits for a node that does not exist."""
    es = connect(servers.es_url, read_retry_s=0)
    ElasticStore(es, prefix=prefix).setup()
    index = f"{prefix}events-2025.07.01"
    es.indices.create(index=index, settings={"number_of_replicas": 0, **NOWHERE}, wait_for_active_shards=0)
    yield index
    es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    es.indices.delete_index_template(name=f"{prefix}*", ignore=[404])
    es.close()


def _allocate(servers: Servers, index: str) -> None:
    es = connect(servers.es_url, read_retry_s=0)
    es.indices.put_settings(index=index, settings={"index.routing.allocation.require._name": None})
    es.close()


def test_without_the_retry_a_search_on_unallocated_shards_fails(
    servers: Servers, prefix: str, unallocated: str
) -> None:
    store = ElasticStore(connect(servers.es_url, read_retry_s=0), prefix=prefix)
    try:
        with pytest.raises(StoreError, match="search_phase_execution_exception"):
            store.search_events(EventQuery())
    finally:
        _allocate(servers, unallocated)
        store.close()


def test_a_search_waits_until_the_shards_are_allocated(
    servers: Servers, prefix: str, unallocated: str
) -> None:
    store = ElasticStore(servers.es_url, prefix=prefix)  # the default budget, as every process has
    lifted = threading.Event()

    def lift() -> None:
        lifted.set()
        _allocate(servers, unallocated)

    allocation = threading.Timer(1.0, lift)
    allocation.start()
    try:
        page = store.search_events(EventQuery())
    finally:
        allocation.join()
        store.close()
    assert lifted.is_set()  # the search was still waiting when the shard could at last be allocated
    assert page.total == 0 and page.items == []


def test_an_unreachable_cluster_is_not_waited_out_here() -> None:
    """Connection errors are the client's (three immediate retries, the node marked dead): a read
    while Elasticsearch is down fails at once, and callers fall back as they did (issue 14's chaos)."""
    calls: list[str] = []

    def unreachable() -> TransportApiResponse:
        calls.append("x")
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError):
        read_retrying(60.0)(unreachable)
    assert calls == ["x"]
