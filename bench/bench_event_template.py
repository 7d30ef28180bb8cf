"""Events index template benchmark: what mapping every emitted field with its ECS type costs
Elasticsearch, against the template before issue 18 (80 keyword/long/ip/date fields).

The golden events (tests/normalizers, every format) are repeated with new ids and bulk-indexed
through `ElasticStore.put_events` into each template in turn (rounds alternate, so load on a
shared machine falls on both); per template: events/s, Elasticsearch's CPU-seconds per 1,000
events (from its node stats, steadier than wall time on a loaded machine) and the store size
per event after a force-merge.

    .venv/bin/python bench/bench_event_template.py [--events 30000] [--rounds 2]

Writes bench/results/event_template.json. Needs the local Elasticsearch (servers.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soc_core.event import Event  # noqa: E402
from stores.elastic import event_template  # noqa: E402
from stores.elastic.store import ElasticStore  # noqa: E402
from tests.ecosystem.test_event_template import golden_events  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "event_template.json"
KW = {"type": "keyword", "ignore_above": 4096}
#: The events template before issue 18 (stores/elastic/store.py at e66ff13), field for field.
LEGACY_FIELDS: dict[str, dict[str, Any]] = {
    "@timestamp": {"type": "date"},
    "tags": KW,
    "labels": {"type": "flattened"},
    **{f"event.{n}": KW for n in ("id", "kind", "category", "type", "outcome", "action", "code")},
    **{f"event.{n}": KW for n in ("provider", "dataset", "module")},
    "event.severity": {"type": "long"},
    "event.original": {"type": "keyword", "index": False, "doc_values": False},
    "event.created": {"type": "date"},
    "event.ingested": {"type": "date"},
    **{f"host.{n}": KW for n in ("name", "hostname")},
    "host.ip": {"type": "ip"},
    **{f"user.{n}": KW for n in ("name", "domain", "id")},
    **{
        f"{side}.{n}": spec
        for side in ("source", "destination")
        for n, spec in (("ip", {"type": "ip"}), ("port", {"type": "long"}), ("domain", KW), ("address", KW))
    },
    "process.pid": {"type": "long"},
    **{f"process.{n}": KW for n in ("name", "executable", "command_line", "working_directory")},
    "process.parent.pid": {"type": "long"},
    **{f"process.parent.{n}": KW for n in ("name", "executable", "command_line")},
    **{f"process.hash.{n}": KW for n in ("md5", "sha1", "sha256")},
    **{f"file.{n}": KW for n in ("path", "name", "extension")},
    **{f"registry.{n}": KW for n in ("path", "key", "value")},
    **{f"network.{n}": KW for n in ("transport", "direction", "protocol")},
    **{f"dns.question.{n}": KW for n in ("name", "type")},
    **{f"url.{n}": KW for n in ("original", "path", "query", "domain")},
    "http.request.method": KW,
    "http.response.status_code": {"type": "long"},
    "user_agent.original": KW,
    **{f"observer.{n}": KW for n in ("vendor", "product", "hostname")},
    "rule.name": KW,
    **{f"winlog.{n}": KW for n in ("channel", "provider_name", "event_id", "computer_name", "record_id")},
    "winlog.event_data": {"type": "flattened", "ignore_above": 8191},
    **{f"soc.unit.{n}": KW for n in ("id", "name")},
    **{f"soc.system.{n}": KW for n in ("id", "name")},
    "soc.system.level": {"type": "long"},
    **{f"soc.source.{n}": KW for n in ("id", "format")},
    "soc.evidence": {"type": "flattened"},
}


def legacy_mapping() -> dict[str, Any]:
    mapping = event_template.event_mapping()
    mapping["properties"] = {
        **event_template.SEARCH_FIELDS,
        "message": {"type": "text", "fields": {"keyword": KW}},
        **event_template.nest(LEGACY_FIELDS),
    }
    mapping.pop("_meta")
    return mapping


def events(count: int) -> list[Event]:
    golden = [doc for _, doc in golden_events()]
    out = []
    for n in range(count):
        doc = json.loads(json.dumps(golden[n % len(golden)]))
        doc["event"]["id"] = f"bench-{n:08d}"
        doc["@timestamp"] = "2026-01-01T00:00:00Z"  # one daily index per template
        out.append(Event.from_doc(doc))
    return out


def es_cpu_seconds(store: ElasticStore) -> float:
    nodes = store.es.nodes.stats(metric="process")["nodes"]
    return sum(n["process"]["cpu"]["total_in_millis"] for n in nodes.values()) / 1000


def measure(store: ElasticStore, batch: list[Event]) -> dict[str, float]:
    cpu, started = es_cpu_seconds(store), time.perf_counter()
    for start in range(0, len(batch), 1000):
        result = store.put_events(batch[start : start + 1000])
        assert not result.failed, result.failed[:3]
    store.refresh()
    wall, cpu = time.perf_counter() - started, es_cpu_seconds(store) - cpu
    index = store.event_index(batch[0].timestamp)
    store.es.indices.forcemerge(index=index, max_num_segments=1)
    size = store.es.indices.stats(index=index, metric="store")["_all"]["primaries"]["store"]["size_in_bytes"]
    return {
        "events_per_s": len(batch) / wall,
        "es_cpu_s_per_1000": 1000 * cpu / len(batch),
        "bytes_per_event": size / len(batch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--es", default=os.environ.get("SOC_ES_URL", "http://127.0.0.1:19200"))
    args = parser.parse_args()
    batch = events(args.events)
    runs: dict[str, list[dict[str, float]]] = {"legacy (80 fields)": [], "ecs (generated)": []}
    for _ in range(args.rounds):
        for name in runs:
            prefix = f"bench-{uuid.uuid4().hex[:8]}-"
            store = ElasticStore(args.es, prefix=prefix)
            try:
                store.setup()
                if name.startswith("legacy"):
                    store.es.indices.put_index_template(
                        name=f"{prefix}events",
                        index_patterns=[f"{prefix}events-*"],
                        template={"settings": store.series_settings, "mappings": legacy_mapping()},
                        priority=200,
                    )
                runs[name].append(measure(store, batch))
            finally:
                store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
                store.es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
                store.close()
    fallbacks = sorted(event_template.missing_types(ElasticStore(args.es).es))
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.events,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "machine": platform.platform(),
        "fallbacks": fallbacks,
        "best": {
            name: {k: max(r[k] for r in rs) if k == "events_per_s" else min(r[k] for r in rs) for k in rs[0]}
            for name, rs in runs.items()
        },
        "runs": runs,
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    for name, best in result["best"].items():
        print(
            f"{name:20} {best['events_per_s']:8,.0f} events/s  {best['es_cpu_s_per_1000']:.3f} ES CPU-s/1000"
            f"  {best['bytes_per_event']:.0f} B/event"
        )
    print(f"(load average {result['load_average'][0]:.1f}; fallbacks: {', '.join(fallbacks) or 'none'})")


if __name__ == "__main__":
    main()
