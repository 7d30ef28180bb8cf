"""The direct Kafka path: an agent (kcat, with the shipped script) produces to
`soc.raw.<source-id>`; the normalize worker picks the topic up by pattern and the topic name is
the source's identity (unit and system from the registry, whatever the payload claims)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.ingest.helpers import consume_events, normalize_worker, require_tool, source, sqlite_registry
from tests.servers import Servers

pytestmark = pytest.mark.servers
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "shippers" / "kcat" / "ship-file.sh"


def test_kcat_to_the_source_topic_is_normalized_with_the_topic_as_identity(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    require_tool("kcat")
    store, registry = sqlite_registry(tmp_path, [source("app-kcat", format="ecs")])
    n = 1000
    data = tmp_path / "events.ndjson"
    data.write_text(
        "".join(
            orjson.dumps(
                {
                    "@timestamp": f"2025-07-01T08:{i % 60:02d}:00+07:00",
                    "message": f"kcat event {i}",
                    "soc": {"source": {"id": "forged"}, "unit": {"id": "forged"}},
                }
            ).decode()
            + "\n"
            for i in range(n)
        )
    )
    try:
        with normalize_worker(servers.kafka_bootstrap, prefix, registry) as settings:
            out = subprocess.run(
                ["bash", str(SCRIPT), servers.kafka_bootstrap, "app-kcat", str(data), prefix],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert out.returncode == 0, out.stderr
            events = consume_events(servers.kafka_bootstrap, settings.stores.topic_events, n, 90)
    finally:
        store.close()
    assert len({e["event"]["id"] for e in events}) == n
    assert {(e["soc"]["source"]["id"], e["soc"]["unit"]["id"], e["soc"]["system"]["id"]) for e in events} == {
        ("app-kcat", "so-khcn", "portal")
    }
    assert sorted(e["message"] for e in events) == sorted(f"kcat event {i}" for i in range(n))
