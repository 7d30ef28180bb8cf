"""Index shards and replicas from the settings, for every index kind the backend creates, on the real
local Elasticsearch (one node: a replica stays unassigned there, the setting is what is checked)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from soc_core.settings import Settings
from soc_core.store import AuditEntry
from socpipe.runtime import build_backend
from stores.elastic import ElasticBackend
from tests.conftest import make_event
from tests.servers import Servers


@pytest.fixture
def backend(servers: Servers, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ElasticBackend]:
    monkeypatch.setenv("SOC_MODE", "distributed")
    monkeypatch.setenv("SOC_ES_URL", servers.es_url)
    monkeypatch.setenv("SOC_INDEX_PREFIX", prefix)
    monkeypatch.setenv("SOC_ES_SHARDS", "2")
    monkeypatch.setenv("SOC_ES_REPLICAS", "1")
    built = build_backend(Settings())
    assert isinstance(built, ElasticBackend)
    yield built
    built.client.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    built.client.indices.delete_index_template(name=f"{prefix}*", ignore=[404])


def shards_replicas(backend: ElasticBackend, index: str) -> tuple[str, str]:
    got = backend.client.indices.get_settings(index=index, flat_settings=True)[index]["settings"]
    return got["index.number_of_shards"], got["index.number_of_replicas"]


def test_every_index_kind_gets_the_configured_shards_and_replicas(
    backend: ElasticBackend, prefix: str
) -> None:
    store = backend.store
    at = datetime(2026, 12, 5, 10, tzinfo=UTC)
    store.put_events([make_event(1, ts=at)])
    store.append_audit([AuditEntry(id="a1", at=at, actor="admin", action="test")])
    backend.coverage  # noqa: B018 (creates its indices)
    backend.inspections  # noqa: B018
    # time-series kinds: the configured primaries and replicas
    assert shards_replicas(backend, f"{prefix}events-2026.12.05") == ("2", "1")
    assert shards_replicas(backend, f"{prefix}audit-2026.12") == ("2", "1")
    # single indices: one primary, the configured replicas
    for index in (
        f"{prefix}registry",
        f"{prefix}incidents",
        f"{prefix}coverage-snapshots",
        f"{prefix}inspections",
    ):
        assert shards_replicas(backend, index) == ("1", "1"), index
