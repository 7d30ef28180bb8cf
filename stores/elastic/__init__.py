"""The distributed backend: every port over one Elasticsearch cluster, under an index prefix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from functools import cached_property

from elasticsearch import Elasticsearch

from soc_core.settings import DEFAULT_ES_BULK_REQUESTS, DEFAULT_ES_READ_RETRY_S, DEFAULT_ES_REFRESH_INTERVAL
from stores.elastic.coverage import ElasticCoverageRepository
from stores.elastic.exceptions import ElasticExceptionRepository
from stores.elastic.inspections import ElasticInspectionRepository
from stores.elastic.notify_config import ElasticNotifyConfigStore, ElasticNotifyStateStore
from stores.elastic.retention import ElasticRetention
from stores.elastic.rule_state import ElasticRuleStateStore
from stores.elastic.saved_views import ElasticSavedViewStore
from stores.elastic.store import ElasticStore, EsAuth, connect


@dataclass
class ElasticBackend:
    """Opens each adapter on first use; they share one client (its connection pool and retries)."""

    client: Elasticsearch
    _: KW_ONLY
    prefix: str
    shards: int = 1
    replicas: int = 0
    refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL
    bulk_requests: int = DEFAULT_ES_BULK_REQUESTS

    @classmethod
    def connect(
        cls,
        url: str | Sequence[str],
        *,
        prefix: str,
        read_retry_s: float = DEFAULT_ES_READ_RETRY_S,
        shards: int = 1,
        replicas: int = 0,
        refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL,
        auth: EsAuth | None = None,
        bulk_requests: int = DEFAULT_ES_BULK_REQUESTS,
    ) -> ElasticBackend:
        """A client for `url` (with `auth` on a secured cluster); no request is made until an adapter
        is used. `shards`, `replicas` and `refresh_interval` apply to the indices created from now on
        (`SOC_ES_SHARDS`, `SOC_ES_REPLICAS`, `SOC_ES_REFRESH_INTERVAL`); `bulk_requests`: how many
        bulk requests a batch of writes keeps in flight (`SOC_ES_BULK_REQUESTS`)."""
        client = connect(url, read_retry_s=read_retry_s, auth=auth)
        return cls(
            client,
            prefix=prefix,
            shards=shards,
            replicas=replicas,
            refresh_interval=refresh_interval,
            bulk_requests=bulk_requests,
        )

    @classmethod
    def over(cls, store: ElasticStore) -> ElasticBackend:
        """The backend around a core store that is already open (tests, tools); its adapters create
        their indices with the store's refresh interval."""
        backend = cls(store.es, prefix=store.prefix, refresh_interval=store.refresh_interval)
        backend.__dict__["store"] = store  # what cached_property would have stored
        return backend

    @cached_property
    def store(self) -> ElasticStore:
        store = ElasticStore(
            self.client,
            prefix=self.prefix,
            shards=self.shards,
            replicas=self.replicas,
            refresh_interval=self.refresh_interval,
            bulk_requests=self.bulk_requests,
        )
        store.setup()
        return store

    def retention(self, days: Mapping[str, int]) -> ElasticRetention:
        """Retention of the time-series indices, `days` per kind (`stores.elastic.retention`)."""
        return ElasticRetention(self.client, self.prefix, days, audit=self.store.append_audit)

    @cached_property
    def coverage(self) -> ElasticCoverageRepository:
        repo = ElasticCoverageRepository(
            self.client, self.prefix, replicas=self.replicas, refresh_interval=self.refresh_interval
        )
        repo.setup()
        return repo

    @cached_property
    def inspections(self) -> ElasticInspectionRepository:
        repo = ElasticInspectionRepository(
            self.client, self.prefix, replicas=self.replicas, refresh_interval=self.refresh_interval
        )
        repo.setup()
        return repo

    @cached_property
    def exceptions(self) -> ElasticExceptionRepository:
        # sets up on first use
        return ElasticExceptionRepository(self.client, self.prefix, refresh_interval=self.refresh_interval)

    @cached_property
    def saved_views(self) -> ElasticSavedViewStore:
        # sets up on first use
        return ElasticSavedViewStore(self.client, self.prefix, refresh_interval=self.refresh_interval)

    @cached_property
    def rule_state(self) -> ElasticRuleStateStore:
        return ElasticRuleStateStore(self.client, prefix=self.prefix, refresh_interval=self.refresh_interval)

    @cached_property
    def notify_config(self) -> ElasticNotifyConfigStore:
        # sets up on first use
        return ElasticNotifyConfigStore(self.client, self.prefix, refresh_interval=self.refresh_interval)

    @cached_property
    def notify_state(self) -> ElasticNotifyStateStore:
        # sets up on first use
        return ElasticNotifyStateStore(self.client, self.prefix, refresh_interval=self.refresh_interval)
