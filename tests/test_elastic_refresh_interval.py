"""`SOC_ES_REFRESH_INTERVAL` reaches every index socpipe creates: the templates of the time-series
kinds, the single indices of the core store and every other adapter's index. The tests rely on it
(tests/servers.py: a short interval makes `wait_for` writes cheap), and an operator who sets it for a
heavy ingest must find no index left at the default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from soc_core.settings import DEFAULT_ES_REFRESH_INTERVAL, Settings, StoreSettings
from socpipe.runtime import build_backend
from stores.elastic import ElasticBackend
from stores.elastic.store import ElasticStore
from tests.conftest import make_event
from tests.servers import Servers

CHOSEN = "250ms"


@pytest.fixture
def backend(servers: Servers, prefix: str) -> Iterator[ElasticBackend]:
    built = ElasticBackend.connect(servers.es_url, prefix=prefix, refresh_interval=CHOSEN)
    yield built
    built.client.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    built.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    built.client.close()


def test_every_index_and_template_gets_the_interval(backend: ElasticBackend, prefix: str) -> None:
    store = backend.store
    store.put_events([make_event(1)])  # an index made from the events template
    for adapter in (
        backend.coverage,
        backend.inspections,
        backend.exceptions,
        backend.saved_views,
        backend.rule_state,
        backend.notify_config,
        backend.notify_state,
    ):
        adapter.setup()  # each creates its index here (or on first use)
    es = backend.client
    settings = es.indices.get_settings(index=f"{prefix}*", name="index.refresh_interval", flat_settings=True)
    intervals = {name: s["settings"].get("index.refresh_interval") for name, s in settings.items()}
    kinds = {
        "events-",
        "registry",
        "incidents",
        "users",
        "coverage-gaps",
        "inspections",
        "exceptions",
        "saved-views",
        "rule-state",
        "notify-told",
        "notify-state",
    }
    for kind in kinds:
        assert any(name.startswith(f"{prefix}{kind}") for name in intervals), (kind, sorted(intervals))
    assert intervals == dict.fromkeys(intervals, CHOSEN)
    templates = es.indices.get_index_template(name=f"{prefix}*")["index_templates"]
    assert len(templates) == 4
    for template in templates:
        assert template["index_template"]["template"]["settings"]["index"]["refresh_interval"] == CHOSEN


def test_the_setting_reaches_the_backend_and_refuses_never(monkeypatch: pytest.MonkeyPatch) -> None:
    assert StoreSettings().es_refresh_interval == DEFAULT_ES_REFRESH_INTERVAL == "1s"
    monkeypatch.setenv("SOC_MODE", "distributed")
    monkeypatch.setenv("SOC_ES_REFRESH_INTERVAL", "30s")
    backend = build_backend(Settings())
    assert isinstance(backend, ElasticBackend) and backend.refresh_interval == "30s"
    store = ElasticStore("http://127.0.0.1:1", refresh_interval="2s")  # no request is made
    assert ElasticBackend.over(store).refresh_interval == "2s"
    store.close()
    for wrong in ("-1", "0s", "1 s", "soon"):  # -1 disables refreshes: a `wait_for` write would hang
        monkeypatch.setenv("SOC_ES_REFRESH_INTERVAL", wrong)
        with pytest.raises(ValidationError):
            StoreSettings()
