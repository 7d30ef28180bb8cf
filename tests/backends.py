"""The persistence backend around a test's store, and an API context over it."""

from __future__ import annotations

from typing import Any

from api.context import AppContext
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings
from soc_core.store import Store, StoreBackend
from stores.elastic import ElasticBackend
from stores.elastic.store import ElasticStore
from stores.sqlite import SqliteBackend
from stores.sqlite.store import SqliteStore


def backend_of(store: Store) -> StoreBackend:
    """Every other port beside `store`: the same SQLite file, or the same cluster and prefix."""
    if isinstance(store, SqliteStore):
        return SqliteBackend.over(store)
    if isinstance(store, ElasticStore):
        return ElasticBackend.over(store)
    raise TypeError(f"no backend for {type(store).__name__}")


TEST_SECRET = "test-secret-key-not-for-production"


def app_context(store: Store, **settings: Any) -> AppContext:
    """An AppContext over `store` for API tests (no intake pipeline: records are not submitted).

    Outside dev the settings refuse the built-in secret, so a test environment gets its own. No
    environment given: dev, whose cookies travel over the TestClient's plain http."""
    settings.setdefault("environment", "dev")
    if settings["environment"] != "dev":
        settings.setdefault("secret_key", TEST_SECRET)
    registry = RegistryCache(store)
    registry.reload()

    def submit(records: Any) -> int:
        raise AssertionError("these tests do not ingest")

    return AppContext(
        settings=Settings(**settings),
        backend=backend_of(store),
        registry=registry,
        submit=submit,
        health_checks=[store.health],
    )
