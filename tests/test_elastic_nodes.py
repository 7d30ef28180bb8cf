"""SOC_ES_URL may name a cluster's nodes, comma-separated: the workers' client sends requests to
any of them and sets aside one that does not answer (`stores.elastic.store.connect`)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from soc_core.errors import ConfigError
from soc_core.settings import Mode, Settings, StoreSettings
from soc_core.store import EventQuery
from socpipe.runtime import build_backend
from stores.elastic import ElasticBackend
from tests.conftest import make_event
from tests.servers import Servers


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_nodes_are_read_from_one_setting() -> None:
    stores = StoreSettings(es_url=" https://es1.example:9200 ,https://es2.example:9200")
    assert stores.es_urls == ["https://es1.example:9200", "https://es2.example:9200"]
    assert StoreSettings().es_urls == ["http://127.0.0.1:19200"]


@pytest.mark.parametrize(
    "bad", ["es1.example:9200", "http://es1:9200,", "http://es1:9200,,http://es2:9200", ""]
)
def test_a_list_that_is_not_urls_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        StoreSettings(es_url=bad)


def test_a_ca_bundle_needs_every_node_on_https(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not read here")
    with pytest.raises((ConfigError, ValidationError), match="not https"):
        StoreSettings(es_url="https://es1:9200,http://es2:9200", es_ca_certs=ca)


def test_a_node_that_does_not_answer_is_passed_over(servers: Servers, prefix: str) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    settings = Settings(
        mode=Mode.DISTRIBUTED, stores=StoreSettings(es_url=f"{dead},{servers.es_url}", index_prefix=prefix)
    )
    backend = build_backend(settings)
    assert isinstance(backend, ElasticBackend)
    try:
        events = [make_event(n) for n in range(20)]
        for event in events:  # one request at a time: every other one is first sent to the dead node
            assert backend.store.put_events([event]).created == 1
        backend.store.refresh()
        assert backend.store.search_events(EventQuery(size=1)).total == len(events)
        pool = backend.client.transport.node_pool
        failures = {config.port: n for config, n in pool._dead_consecutive_failures.items()}
        assert failures.get(int(dead.rsplit(":", 1)[1]), 0) >= 1  # it was tried, and set aside
    finally:
        backend.client.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        backend.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
