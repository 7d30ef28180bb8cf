"""Creating our single-shard indices: people's records (exceptions, saved views) on first use, coverage
and inspections at setup."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from elasticsearch import ApiError, Elasticsearch, TransportError

from soc_core.errors import StoreError
from soc_core.settings import DEFAULT_ES_REFRESH_INTERVAL


def create_index(
    es: Elasticsearch,
    index: str,
    mappings: dict[str, Any],
    *,
    replicas: int | None = None,
    refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL,
) -> None:
    """Create `index` with one shard (a few thousand documents) unless it exists; another process
    creating it at the same moment is not an error. `replicas` None: one copy when a second node
    exists (`auto_expand_replicas`), else exactly that many (`SOC_ES_REPLICAS`)."""
    copies: dict[str, Any] = (
        {"auto_expand_replicas": "0-1"} if replicas is None else {"number_of_replicas": replicas}
    )
    try:
        if not es.indices.exists(index=index):
            es.indices.create(
                index=index,
                mappings=mappings,
                settings={"number_of_shards": 1, **copies, "refresh_interval": refresh_interval},
            )
    except ApiError as exc:
        if "resource_already_exists" not in str(exc):
            raise StoreError(f"cannot create {index}: {exc}") from exc
    except TransportError as exc:
        raise StoreError(f"cannot create {index}: {exc}") from exc


class ReplicatedIndices:
    """An adapter whose single-shard indices take the backend's replicas and refresh interval
    (coverage, inspections)."""

    def __init__(
        self,
        es: Elasticsearch,
        prefix: str,
        *,
        replicas: int = 0,
        refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL,
    ) -> None:
        self.es = es
        self.prefix = prefix
        self.replicas = replicas
        self.refresh_interval = refresh_interval

    def _create(self, index: str, mappings: dict[str, Any]) -> None:
        create_index(self.es, index, mappings, replicas=self.replicas, refresh_interval=self.refresh_interval)


class SmallIndex:
    """An adapter over one small index (`<prefix><SUFFIX>`), created on its first use by any thread."""

    MAPPING: ClassVar[dict[str, Any]]
    SUFFIX: ClassVar[str]

    def __init__(
        self, es: Elasticsearch, prefix: str, *, refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL
    ) -> None:
        self.es = es
        self.index = f"{prefix}{self.SUFFIX}"
        self.refresh_interval = refresh_interval
        self._ready = False
        self._setup_lock = threading.Lock()

    def setup(self) -> None:
        with self._setup_lock:
            if not self._ready:
                create_index(self.es, self.index, self.MAPPING, refresh_interval=self.refresh_interval)
                self._ready = True
