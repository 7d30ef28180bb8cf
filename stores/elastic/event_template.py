"""The events index template: every field the normalizers emit, typed as ECS types it.

The fields and their ECS mappings are generated from the ECS reference (`soc_core.ecs_fields`,
deploy/ecs/generate.py); this module nests them into a mapping and adds what is ours: the free-text
field `search_text` (analysed by whitespace, so SQLite's FTS5 and this index cut the same words;
indexed, not kept in `_source`).

ECS types some clusters lack: `wildcard` and `match_only_text` come from modules (x-pack-wildcard,
mapper-extras) that a default distribution has and a minimal one (the integ-test-zip the tests run)
does not. `setup` asks the cluster which types it lacks (`missing_types`) and maps those
to the closest core type (`FALLBACKS`): a `wildcard` becomes a keyword that keeps values up to
8,191 characters (Lucene's term limit in UTF-8 bytes, divided by 4) and still has its `.text`
multi-field, so a command line longer than that is found by its words.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from elasticsearch import BadRequestError, Elasticsearch

from soc_core.ecs_fields import ECS_VERSION, EVENT_FIELD_MAPPINGS
from stores.elastic.kql import SEARCH_FIELD

#: A keyword as long as Lucene indexes in UTF-8 (32,766 bytes / 4 per character).
LONG_KEYWORD_CHARS = 8191

#: ECS type -> the core type mapped in its place when a cluster does not have it.
FALLBACKS: dict[str, dict[str, Any]] = {
    "wildcard": {"type": "keyword", "ignore_above": LONG_KEYWORD_CHARS},
    "match_only_text": {"type": "text", "norms": False},
    "constant_keyword": {"type": "keyword"},
    "scaled_float": {"type": "float"},
}

#: Our own fields beside the ECS ones (not ECS; `search_text` is never in `_source`).
SEARCH_FIELDS: dict[str, Any] = {
    SEARCH_FIELD: {"type": "text", "analyzer": "whitespace", "norms": False},
}

#: What `setup` adds to an events index from before issue 15 (its `message` was text).
LEGACY_SEARCH_FIELDS: dict[str, Any] = {
    **SEARCH_FIELDS,
    "message": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 4096}}},
}

#: KQL fields answered by another indexed field (`message` is text; its keyword is exact).
EVENT_RENAMED = {"message": "message.keyword"}


def nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`{"process.pid": spec}` -> `{"process": {"properties": {"pid": spec}}}`."""
    root: dict[str, Any] = {}
    for name, spec in flat.items():
        *parents, leaf = name.split(".")
        node = root
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = copy.deepcopy(spec)
    return root


def _replace(spec: dict[str, Any], missing: frozenset[str]) -> dict[str, Any]:
    """`spec` with every type in `missing` (its multi-fields too) replaced by its fallback."""
    out = dict(spec)
    if out.get("type") in missing:
        kept = {k: v for k, v in out.items() if k in ("fields", "index", "doc_values")}
        out = {**FALLBACKS[out["type"]], **kept}
    if "fields" in out:
        out["fields"] = {name: _replace(sub, missing) for name, sub in out["fields"].items()}
    return out


def ecs_types() -> frozenset[str]:
    """Every mapping type the template uses, multi-fields included."""
    types: set[str] = set()
    for spec in EVENT_FIELD_MAPPINGS.values():
        types.add(spec["type"])
        types.update(sub["type"] for sub in spec.get("fields", {}).values())
    return frozenset(types)


def event_mapping(missing: Iterable[str] = ()) -> dict[str, Any]:
    """The events mapping; types in `missing` (ones the cluster lacks) mapped to their fallbacks."""
    gone = frozenset(missing)
    unknown = gone - FALLBACKS.keys()
    if unknown:
        raise ValueError(f"no fallback for the mapping types {sorted(unknown)}")
    flat = {name: _replace(spec, gone) for name, spec in EVENT_FIELD_MAPPINGS.items()}
    return {
        "dynamic": False,
        "_source": {"excludes": [SEARCH_FIELD]},
        "_meta": {"ecs_version": ECS_VERSION, "fallbacks": sorted(gone)},
        "properties": {**SEARCH_FIELDS, **nest(flat)},
    }


def missing_types(es: Elasticsearch) -> frozenset[str]:
    """The template's types this cluster does not accept, asked by simulating a template (nothing
    is created): one request when it has them all, one more per optional type otherwise."""

    def accepts(types: Iterable[str]) -> bool:
        properties = {f"probe_{name}": {"type": name} for name in types}
        try:
            es.indices.simulate_template(
                index_patterns=["socpipe-type-probe-*"],
                template={"mappings": {"properties": properties}},
            )
        except BadRequestError:
            return False
        return True

    optional = sorted(ecs_types() & FALLBACKS.keys())
    if accepts(optional):
        return frozenset()
    return frozenset(name for name in optional if not accepts([name]))


def event_mapping_for(es: Elasticsearch) -> dict[str, Any]:
    """The events mapping this cluster accepts."""
    return event_mapping(missing_types(es))


#: The mapping with every ECS type, as on a cluster that has them all (Elastic's default distribution).
EVENT_MAPPING: dict[str, Any] = event_mapping()
