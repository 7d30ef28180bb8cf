"""The events index template (issue 18): every field the normalizers emit is mapped with its ECS
type and is searchable on the real Elasticsearch; the committed field catalogue is what the
generator makes from the pinned ECS reference; long command lines are indexed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from soc_core.ecs_fields import ECS_VERSION, EVENT_FIELD_MAPPINGS
from soc_core.event import Event
from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.kql.text import search_text
from soc_core.store import EventQuery
from stores.elastic.event_template import (
    FALLBACKS,
    LONG_KEYWORD_CHARS,
    event_mapping,
    missing_types,
)
from stores.elastic.store import ElasticStore
from tests.conftest import make_event
from tests.servers import Servers, in_ci

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "normalizers"
FLATTENED = sorted(name for name, spec in EVENT_FIELD_MAPPINGS.items() if spec["type"] == "flattened")
#: ECS maps `event.original` unindexed (kept in `_source` only); nothing else may be unsearchable.
NOT_INDEXED = {"event.original"}


def golden_events() -> list[tuple[str, dict[str, Any]]]:
    """(case name, expected document) of every golden case that is an event, not a dead letter."""
    out = []
    for path in sorted(GOLDEN.glob("*/*.expected.json")):
        doc = orjson.loads(path.read_bytes())
        if "dead_letter" not in doc:
            out.append((f"{path.parent.name}-{path.name.removesuffix('.expected.json')}", doc))
    return out


def leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted field, value) for every scalar, one per list element (as Elasticsearch indexes them)."""
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, f"{name}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from leaves(item, f"{name}.")
                else:
                    yield name, item
        elif value is not None:
            yield name, value


def flattened_root(field: str) -> str | None:
    return next((r for r in FLATTENED if field == r or field.startswith(r + ".")), None)


def test_every_golden_field_is_mapped() -> None:
    """Before issue 18 the template mapped 80 fields and 93 emitted ECS fields were not indexed."""
    unmapped = sorted(
        {
            field
            for _, doc in golden_events()
            for field, _ in leaves(doc)
            if field not in EVENT_FIELD_MAPPINGS and flattened_root(field) is None
        }
    )
    assert unmapped == []


def test_only_the_original_record_is_not_indexed() -> None:
    assert {n for n, spec in EVENT_FIELD_MAPPINGS.items() if spec.get("index") is False} == NOT_INDEXED


def test_ecs_version_and_host_os_type_are_set() -> None:
    docs = dict(golden_events())
    for name, doc in docs.items():
        assert doc["ecs"]["version"] == ECS_VERSION, name
    windows = [d for n, d in docs.items() if n.startswith(("winlogbeat-", "evtx_json-", "nxlog_windows-"))]
    linux = [d for n, d in docs.items() if n.startswith(("auditd-", "journald-", "linux_syslog-"))]
    assert windows and linux
    assert {d["host"]["os"]["type"] for d in windows} == {"windows"}
    assert {d["host"]["os"]["type"] for d in linux} == {"linux"}
    firewalls = [d for n, d in docs.items() if n.startswith(("fortigate-", "cisco_asa-", "cef-"))]
    assert firewalls and all("os" not in d.get("host", {}) for d in firewalls)


def test_an_ecs_payload_keeps_its_own_version_and_os() -> None:
    """Filebeat/Elastic Agent documents say which ECS version they follow; the stage adds only
    what is missing (the OS family next to a payload's other `host.os` fields)."""
    from tests.normalizers.test_golden import normalize

    doc = normalize(
        '{"@timestamp": "2026-01-01T00:00:00Z", "ecs": {"version": "8.11.0"}, "message": "x",'
        ' "host": {"os": {"type": "macos", "name": "Sonoma"}}}',
        "ecs",
    )
    assert doc["ecs"] == {"version": "8.11.0"} and doc["host"]["os"] == {"type": "macos", "name": "Sonoma"}
    windows = normalize(
        '{"@timestamp": "2026-01-01T00:00:00Z", "host": {"name": "pc01"},'
        ' "winlog": {"channel": "Security", "event_id": 4624, "event_data": {}}, "event": {"code": "4624"}}',
        "winlogbeat",
    )
    assert windows["ecs"] == {"version": ECS_VERSION}
    assert windows["host"]["os"]["type"] == "windows"


def test_the_ecs_version_is_not_free_text() -> None:
    """Every event has `ecs.version`; its words (9, 4, 0) must not make free text for a digit
    match every event. The OS family is the host's: "windows" finds Windows events."""
    doc = dict(golden_events())["winlogbeat-sysmon_1_certutil_download"]
    words = search_text(doc).split()
    assert "windows" in words
    assert ECS_VERSION not in search_text(doc) and search_text(
        {**doc, "ecs": {"version": "x7x"}}
    ) == search_text(doc)


def test_the_ecs_types_where_ecs_gives_them() -> None:
    """ECS's own types, not keyword everywhere: wildcard with a `.text` for command lines and URLs."""
    for name in ("process.command_line", "process.parent.command_line", "url.original"):
        assert EVENT_FIELD_MAPPINGS[name] == {
            "type": "wildcard",
            "fields": {"text": {"type": "match_only_text"}},
        }
    assert EVENT_FIELD_MAPPINGS["message"]["type"] == "match_only_text"
    assert EVENT_FIELD_MAPPINGS["process.pid"] == {"type": "long"}
    assert EVENT_FIELD_MAPPINGS["related.ip"] == {"type": "ip"}


def test_a_cluster_without_the_ecs_types_gets_core_ones() -> None:
    mapping = event_mapping(["wildcard", "match_only_text"])
    command_line = mapping["properties"]["process"]["properties"]["command_line"]
    assert command_line == {
        "type": "keyword",
        "ignore_above": LONG_KEYWORD_CHARS,
        "fields": {"text": {"type": "text", "norms": False}},
    }
    text = orjson.dumps(mapping["properties"]).decode()
    assert '"wildcard"' not in text and '"match_only_text"' not in text
    assert mapping["_meta"] == {"ecs_version": ECS_VERSION, "fallbacks": ["match_only_text", "wildcard"]}
    with pytest.raises(ValueError, match="no fallback"):
        event_mapping(["keyword"])


def test_the_committed_catalogue_is_what_the_generator_writes() -> None:
    """soc_core/ecs_fields.json regenerated from deploy/ecs/fields.yml and ECS (npm @elastic/ecs)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        if in_ci():
            pytest.fail("npm and node are needed to fetch the ECS reference in CI")
        pytest.skip("npm/node not installed: the ECS reference cannot be fetched")
    result = subprocess.run(
        [sys.executable, "deploy/ecs/generate.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# -- on the real Elasticsearch ---------------------------------------------------------------------


def _field_query(field: str, value: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The query that must find `value` in `field`, by how the index maps the field."""
    if flattened_root(field) is not None:
        return {"term": {field: str(value).lower() if isinstance(value, bool) else str(value)}}
    kind = spec["type"]
    if kind == "date":
        return {"range": {field: {"gte": value, "lte": value}}}
    if kind in ("text", "match_only_text"):
        return {"match_phrase": {field: value}}
    if kind == "keyword" and isinstance(value, str) and len(value) > spec.get("ignore_above", 1 << 30):
        # kept in `_source`, too long for a term: found by its words in the `.text` multi-field
        assert "text" in spec.get("fields", {}), f"{field}: {len(value)} characters and no .text"
        return {"match_phrase": {f"{field}.text": value}}
    return {"term": {field: value}}


@pytest.fixture(scope="module")
def golden_store(servers: Servers) -> Iterator[tuple[ElasticStore, dict[str, dict[str, Any]]]]:
    """The golden events in one index the product's template maps (read-only, shared by the module's
    tests): one index, not one per day of the events, which took a minute to create here."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    store = ElasticStore(servers.es_url, prefix=prefix)
    store.setup()
    docs = {}
    operations: list[dict[str, Any]] = []
    for name, doc in golden_events():
        doc = orjson.loads(orjson.dumps(doc))
        doc["event"]["id"] = name  # two folders may hold the same record (same record id)
        docs[name] = doc
        stored = Event.from_doc(doc).to_doc()
        operations += [{"create": {"_index": f"{prefix}events-golden", "_id": name}}, stored]
    result = store.es.bulk(operations=operations, refresh=True)
    assert not result["errors"], [i for i in result["items"] if "error" in i["create"]][:3]
    yield store, docs
    store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
    store.es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}*")
    store.close()


def test_every_golden_field_is_searchable_on_elasticsearch(
    golden_store: tuple[ElasticStore, dict[str, dict[str, Any]]],
) -> None:
    """Each value of each field of each golden event is found by a query on that field alone, in
    the index the product's template made (its real mapping: ECS types or this cluster's fallbacks)."""
    elastic_store, docs = golden_store
    pattern = f"{elastic_store.prefix}events-*"
    mappings = elastic_store.es.indices.get_mapping(index=pattern).body
    properties = next(iter(mappings.values()))["mappings"]["properties"]

    def spec_of(field: str) -> dict[str, Any]:
        node: dict[str, Any] = {"properties": properties}
        for part in field.split("."):
            node = node["properties"][part]
        return node

    # one search per event: each field's query is a named `should` clause, and the hit says which
    # matched (`matched_queries`); a clause per search would be 6,000 searches
    missed: list[tuple[str, str, str]] = []
    checked = 0
    for name, doc in docs.items():
        clauses = {}
        for n, (field, value) in enumerate(leaves(doc)):
            if field in NOT_INDEXED:
                continue
            query = _field_query(field, value, spec_of(flattened_root(field) or field))
            key = f"{n}:{field}"
            clauses[key] = (_named(query, key), value)
        hits = elastic_store.es.search(
            index=pattern,
            query={
                "bool": {"filter": [{"ids": {"values": [name]}}], "should": [c for c, _ in clauses.values()]}
            },
            size=1,
            source=False,
        )["hits"]["hits"]
        assert len(hits) == 1, name
        matched = set(hits[0].get("matched_queries", []))
        missed += [(name, key, str(value)[:80]) for key, (_, value) in clauses.items() if key not in matched]
        checked += len(clauses)
    assert checked > 5000
    assert missed == []


def _named(query: dict[str, Any], name: str) -> dict[str, Any]:
    """`{"term": {"f": v}}` as `{"term": {"f": {"value": v, "_name": name}}}` (and the like)."""
    kind, body = next(iter(query.items()))
    field, value = next(iter(body.items()))
    if kind == "term":
        value = {"value": value}
    elif kind == "match_phrase":
        value = {"query": value}
    return {kind: {field: {**value, "_name": name}}}


def test_the_fields_are_searchable_through_kql(
    golden_store: tuple[ElasticStore, dict[str, dict[str, Any]]],
) -> None:
    """Every field KQL names (not the flattened vendor keys) finds its first golden value through the
    product's query path (soc_core.kql -> stores.elastic.kql)."""
    elastic_store, docs = golden_store
    first: dict[str, tuple[str, Any]] = {}
    for name, doc in docs.items():
        for field, value in leaves(doc):
            if field in EVENT_FIELDS.fields and field not in first and field not in NOT_INDEXED:
                first[field] = (name, value)
    assert len(first) > 150
    missed = []
    for field, (name, value) in sorted(first.items()):
        if isinstance(value, str):
            if len(value) > 1024:  # ECS's ignore_above: such a value is found by free text instead
                continue
            literal = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            literal = str(value)
        query = EventQuery(kql=parse_for(f"{field}:{literal}", EVENT_FIELDS), size=200)
        if name not in {e.id for e in elastic_store.search_events(query).items}:
            missed.append((field, str(value)[:80]))
    assert missed == []


def test_long_command_lines_are_indexed(elastic_store: ElasticStore) -> None:
    """Before: keyword with ignore_above 4096, so a longer command line was in `_source` only."""
    tail = " ".join(f"arg{n}" for n in range(1200))  # ~8,000 characters with the head
    head = "powershell.exe -nop -w hidden -enc "
    middle = make_event(1, process={"command_line": head + tail[:4500], "pid": 1})
    huge = make_event(2, process={"command_line": head + tail + " " + tail + " Invoke-Mimikatz", "pid": 2})
    elastic_store.put_events([middle, huge])
    elastic_store.refresh()

    def ids(kql: str) -> set[str]:
        return {e.id for e in elastic_store.search_events(EventQuery(kql=parse_for(kql, EVENT_FIELDS))).items}

    assert len(middle.doc["process"]["command_line"]) > 4096
    assert ids(f'process.command_line:"{head + tail[:4500]}"') == {middle.id}
    assert ids("process.command_line:*arg500*") == {huge.id, middle.id} - (
        set() if "wildcard" not in missing_types(elastic_store.es) else {huge.id}  # keyword: up to 8,191
    )
    found = elastic_store.es.search(
        index=f"{elastic_store.prefix}events-*",
        query={"match_phrase": {"process.command_line.text": "arg1199 Invoke-Mimikatz"}},
    )
    assert [h["_id"] for h in found["hits"]["hits"]] == [huge.id]


def test_setup_maps_ecs_types_or_their_fallbacks(elastic_store: ElasticStore) -> None:
    """The index has, for every field, ECS's type, or its fallback exactly where the cluster lacks it."""
    event = make_event(1)
    elastic_store.put_events([event])
    missing = missing_types(elastic_store.es)
    index = elastic_store.event_index(event.timestamp)
    got = elastic_store.es.indices.get_field_mapping(index=index, fields="*").body[index]["mappings"]
    for name, spec in EVENT_FIELD_MAPPINGS.items():
        want = FALLBACKS[spec["type"]]["type"] if spec["type"] in missing else spec["type"]
        assert got[name]["mapping"][name.rsplit(".", 1)[-1]]["type"] == want, name
    meta = elastic_store.es.indices.get_mapping(index=index).body[index]["mappings"]["_meta"]
    assert meta == {"ecs_version": ECS_VERSION, "fallbacks": sorted(missing)}
