"""Smoke check for the local servers started by deploy/local/servers.sh.

Not collected by pytest (no test_ prefix): run it by hand or from CI after
`deploy/local/servers.sh start all`:

    .venv/bin/python tests/servers_check.py            # Kafka round trip + ES index/search
    .venv/bin/python tests/servers_check.py --features # also probe which ES features exist

Reads SOC_KAFKA_BOOTSTRAP / SOC_ES_URL (defaults: the script's default ports).
Exits non-zero on the first failed check; the feature probe only reports.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

BOOTSTRAP = os.environ.get("SOC_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
ES_URL = os.environ.get("SOC_ES_URL", "http://127.0.0.1:19200")


def kafka_round_trip(n: int = 50) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    topic = f"servers-check-{uuid.uuid4().hex[:8]}"
    group = f"{topic}-group"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])

    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all", retries=5)
    for i in range(n):
        producer.send(topic, key=str(i % 7).encode(), value=f"event-{i}".encode()).get(timeout=30)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=BOOTSTRAP,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    seen: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(seen) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            seen.update(r.value for r in records)
    consumer.commit()  # manual, synchronous commit of what we consumed
    committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(3))
    consumer.close()
    assert len(seen) == n, f"consumed {len(seen)}/{n}"
    assert committed == n, f"committed offsets add up to {committed}, expected {n}"

    # kafka-python 3.x renamed list_consumer_group_offsets (2.x) to list_group_offsets.
    if hasattr(admin, "list_group_offsets"):
        offsets = admin.list_group_offsets(group)[group]
    else:
        offsets = admin.list_consumer_group_offsets(group)
    assert sum(o.offset for o in offsets.values()) == n, offsets
    admin.delete_topics([topic])
    admin.close()
    print(f"kafka ok: {n} records produced (acks=all), consumed by group, committed")


def es_index_search() -> None:
    from elasticsearch import Elasticsearch

    es = Elasticsearch(ES_URL, request_timeout=30)
    index = f"servers-check-{uuid.uuid4().hex[:8]}"
    es.indices.create(
        index=index,
        mappings={"properties": {"msg": {"type": "text"}, "host": {"type": "keyword"}}},
    )
    for i in range(10):
        es.index(index=index, document={"msg": f"failed login {i}", "host": f"h{i % 3}"})
    es.indices.refresh(index=index)
    hits = es.search(index=index, query={"match": {"msg": "login"}}, size=20)["hits"]
    assert hits["total"]["value"] == 10, hits["total"]
    es.indices.delete(index=index)
    # Not es.info()/es.ping(): the integ-test-zip has no rest-root module, GET / is 405.
    version = next(iter(es.nodes.info()["nodes"].values()))["version"]
    print(f"elasticsearch ok: {version}, indexed and searched 10 docs")


def es_features() -> list[tuple[str, bool, str]]:
    """Probe the running ES for features the pipeline may want. Returns (name, ok, detail)."""
    import httpx

    c = httpx.Client(base_url=ES_URL, timeout=30)
    idx = f"features-{uuid.uuid4().hex[:8]}"
    results: list[tuple[str, bool, str]] = []

    def probe(name: str, method: str, path: str, body: object = None, ok_if=None) -> bool:
        r = c.request(method, path, json=body)
        ok = r.status_code < 300 and (ok_if is None or ok_if(r.json()))
        detail = "" if ok else _reason(r)
        results.append((name, ok, detail))
        return ok

    c.put(
        f"/{idx}",
        json={
            "mappings": {
                "properties": {
                    "ts": {"type": "date"},
                    "host": {"type": "keyword"},
                    "n": {"type": "long"},
                    "msg": {"type": "text"},
                }
            }
        },
    ).raise_for_status()
    docs = "".join(
        '{"index":{}}\n'
        + json.dumps({"ts": f"2024-01-0{1 + i % 3}T00:00:00Z", "host": f"h{i % 2}", "n": i, "msg": f"x {i}"})
        + "\n"
        for i in range(6)
    )
    c.post(
        f"/{idx}/_bulk?refresh=true", content=docs, headers={"content-type": "application/x-ndjson"}
    ).raise_for_status()

    for ftype in (
        "wildcard",
        "flattened",
        "match_only_text",
        "constant_keyword",
        "scaled_float",
        "ip",
        "nested",
        "geo_point",
        "version",
    ):
        extra = {"scaling_factor": 100} if ftype == "scaled_float" else {}
        probe(
            f"field type `{ftype}`",
            "PUT",
            f"/{idx}-{ftype.replace('_', '-')}",
            {"mappings": {"properties": {"f": {"type": ftype, **extra}}}},
        )
    probe(
        "painless: script_fields",
        "POST",
        f"/{idx}/_search",
        {"script_fields": {"d": {"script": {"source": "doc['n'].value * 2"}}}},
    )
    c.put(f"/{idx}/_doc/one?refresh=true", json={"n": 1, "host": "h9"}).raise_for_status()
    probe(
        "painless: _update with script",
        "POST",
        f"/{idx}/_update/one",
        {"script": {"source": "ctx._source.n += 1"}},
    )
    probe("partial _update (doc, no script)", "POST", f"/{idx}/_update/one", {"doc": {"n": 5}})
    probe(
        "runtime field without script (from _source)",
        "POST",
        f"/{idx}/_search",
        {"runtime_mappings": {"h2": {"type": "keyword"}}, "fields": ["h2"]},
    )
    probe(
        "ingest pipeline with `set` processor",
        "PUT",
        "/_ingest/pipeline/features-set",
        {"processors": [{"set": {"field": "a", "value": "b"}}]},
    )
    probe("ingest pipeline, empty (API only)", "PUT", "/_ingest/pipeline/features-empty", {"processors": []})
    probe(
        "composable _index_template",
        "PUT",
        "/_index_template/features-tpl",
        {
            "index_patterns": ["features-tpl-*"],
            "template": {"mappings": {"properties": {"host": {"type": "keyword"}}}},
        },
    )
    probe(
        "_component_template",
        "PUT",
        "/_component_template/features-comp",
        {"template": {"settings": {"number_of_replicas": 0}}},
    )
    probe("data stream", "PUT", "/_data_stream/features-ds")
    probe(
        "ILM policy",
        "PUT",
        "/_ilm/policy/features-ilm",
        {"policy": {"phases": {"delete": {"min_age": "7d", "actions": {"delete": {}}}}}},
    )
    r = c.post(f"/{idx}/_pit?keep_alive=1m")
    if r.status_code < 300:
        pit = r.json()["id"]
        body = {"size": 2, "pit": {"id": pit, "keep_alive": "1m"}, "sort": [{"ts": "asc"}, {"n": "asc"}]}
        first = c.post("/_search", json=body).json()
        last_sort = first["hits"]["hits"][-1]["sort"]
        probe(
            "point-in-time + search_after",
            "POST",
            "/_search",
            {**body, "search_after": last_sort},
            ok_if=lambda j: len(j["hits"]["hits"]) == 2,
        )
        c.request("DELETE", "/_pit", json={"id": pit})
    else:
        results.append(("point-in-time + search_after", False, _reason(r)))
    probe(
        "search_after without PIT",
        "POST",
        f"/{idx}/_search",
        {"size": 2, "sort": [{"n": "asc"}], "search_after": [1]},
    )
    probe(
        "aggs terms + date_histogram",
        "POST",
        f"/{idx}/_search",
        {
            "size": 0,
            "aggs": {
                "h": {
                    "terms": {"field": "host"},
                    "aggs": {"d": {"date_histogram": {"field": "ts", "calendar_interval": "day"}}},
                }
            },
        },
        ok_if=lambda j: (
            len(j["aggregations"]["h"]["buckets"]) >= 2
            and any(b["d"]["buckets"] for b in j["aggregations"]["h"]["buckets"])
        ),
    )
    probe(
        "aggs composite/cardinality/top_hits",
        "POST",
        f"/{idx}/_search",
        {
            "size": 0,
            "aggs": {
                "c": {"composite": {"sources": [{"h": {"terms": {"field": "host"}}}]}},
                "u": {"cardinality": {"field": "host"}},
                "t": {"top_hits": {"size": 1}},
            },
        },
    )
    probe("_update_by_query (no script)", "POST", f"/{idx}/_update_by_query")
    probe("_delete_by_query", "POST", f"/{idx}/_delete_by_query", {"query": {"term": {"host": "nope"}}})
    probe("_reindex", "POST", "/_reindex", {"source": {"index": idx}, "dest": {"index": f"{idx}-copy"}})
    probe(
        "custom analyzer: standard tokenizer + `lowercase` filter",
        "PUT",
        f"/{idx}-analyzer",
        {
            "settings": {
                "analysis": {
                    "analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}
                }
            }
        },
    )
    probe(
        "custom analyzer: `whitespace` tokenizer",
        "PUT",
        f"/{idx}-analyzer2",
        {"settings": {"analysis": {"analyzer": {"a": {"type": "custom", "tokenizer": "whitespace"}}}}},
    )
    probe(
        "keyword normalizer with `lowercase` filter",
        "PUT",
        f"/{idx}-normalizer",
        {
            "settings": {"analysis": {"normalizer": {"lc": {"type": "custom", "filter": ["lowercase"]}}}},
            "mappings": {"properties": {"k": {"type": "keyword", "normalizer": "lc"}}},
        },
    )
    probe(
        "term query case_insensitive / wildcard / regexp on keyword",
        "POST",
        f"/{idx}/_search",
        {
            "query": {
                "bool": {
                    "should": [
                        {"term": {"host": {"value": "H1", "case_insensitive": True}}},
                        {"wildcard": {"host": {"value": "h*"}}},
                        {"regexp": {"host": "h[0-9]"}},
                    ]
                }
            }
        },
        ok_if=lambda j: j["hits"]["total"]["value"] > 0,
    )
    probe("GET / (client info()/ping())", "GET", "/")
    probe(
        "search template (mustache)",
        "POST",
        f"/{idx}/_search/template",
        {"source": {"query": {"match": {"host": "{{h}}"}}}, "params": {"h": "h1"}},
    )
    probe("ES|QL (_query)", "POST", "/_query", {"query": f"FROM {idx} | LIMIT 1"})
    probe("SQL (_sql)", "POST", "/_sql", {"query": f'SELECT host FROM "{idx}" LIMIT 1'})
    probe("EQL (_eql)", "POST", f"/{idx}/_eql/search", {"query": "any where true", "timestamp_field": "ts"})

    c.request("DELETE", f"/{idx}*")
    c.request("DELETE", "/_index_template/features-tpl")
    c.request("DELETE", "/_component_template/features-comp")
    c.request("DELETE", "/_ingest/pipeline/features-*")
    return results


def _reason(r) -> str:
    try:
        err = r.json().get("error", r.text)
    except ValueError:
        return f"HTTP {r.status_code}"
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        return f"HTTP {r.status_code}: {root.get('reason', err.get('type'))}"[:160]
    return f"HTTP {r.status_code}: {err}"[:160]


def main() -> int:
    kafka_round_trip()
    es_index_search()
    if "--features" in sys.argv:
        print("\n| feature | available | detail |\n| --- | --- | --- |")
        for name, ok, detail in es_features():
            print(f"| {name} | {'yes' if ok else 'no'} | {detail} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
