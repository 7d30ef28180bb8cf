"""Creating the small indices of people's records (exceptions, saved views) on first use."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from elasticsearch import ApiError, Elasticsearch, TransportError

from soc_core.errors import StoreError


def create_index(es: Elasticsearch, index: str, mappings: dict[str, Any]) -> None:
    """Create `index` with one shard (a few thousand documents) unless it exists; another process
    creating it at the same moment is not an error."""
    try:
        if not es.indices.exists(index=index):
            es.indices.create(
                index=index,
                mappings=mappings,
                settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            )
    except ApiError as exc:
        if "resource_already_exists" not in str(exc):
            raise StoreError(f"cannot create {index}: {exc}") from exc
    except TransportError as exc:
        raise StoreError(f"cannot create {index}: {exc}") from exc


class SmallIndex:
    """An adapter over one small index (`<prefix><SUFFIX>`), created on its first use by any thread."""

    MAPPING: ClassVar[dict[str, Any]]
    SUFFIX: ClassVar[str]

    def __init__(self, es: Elasticsearch, prefix: str) -> None:
        self.es = es
        self.index = f"{prefix}{self.SUFFIX}"
        self._ready = False
        self._setup_lock = threading.Lock()

    def setup(self) -> None:
        with self._setup_lock:
            if not self._ready:
                create_index(self.es, self.index, self.MAPPING)
                self._ready = True
