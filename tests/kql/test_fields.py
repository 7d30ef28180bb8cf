"""The searchable fields (soc_core.kql.fields) are exactly what the Elasticsearch mappings index,
with matching kinds: a field SQLite would answer but Elasticsearch ignores would break the contract."""

from __future__ import annotations

from typing import Any

import pytest

from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, Kind, Schema
from stores.elastic.alert_document import ALERT_RENAMED, LEGACY_ADDITIONS, LEGACY_ALERT_MAPPING
from stores.elastic.kql import SEARCH_FIELD
from stores.elastic.store import ALERT_MAPPING, EVENT_MAPPING

KINDS = {
    "keyword": Kind.KEYWORD,
    "wildcard": Kind.KEYWORD,
    "match_only_text": Kind.KEYWORD,
    "long": Kind.NUMBER,
    "date": Kind.DATE,
    "ip": Kind.IP,
    "text": Kind.KEYWORD,
}
#: Mapped for Kibana, not named by KQL (soc_core.kql.fields.ECS_KINDS says why).
UNSEARCHABLE = {"boolean"}


def indexed(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            out.update(indexed(spec["properties"], f"{path}."))
        elif spec.get("enabled") is False or spec.get("index") is False:
            continue
        else:
            out[path] = spec["type"]
    return out


@pytest.mark.parametrize(
    ("schema", "mapping", "skip"),
    [
        (EVENT_FIELDS, EVENT_MAPPING, {SEARCH_FIELD}),
        # the alert's own fields, as the indices from before issue 18 map them (no aliases there)
        (ALERT_FIELDS, LEGACY_ALERT_MAPPING, {SEARCH_FIELD, "all_text", "description"}),
    ],
    ids=["events", "alerts"],
)
def test_schema_is_what_elasticsearch_indexes(
    schema: Schema, mapping: dict[str, Any], skip: set[str]
) -> None:
    mapped = {f: t for f, t in indexed(mapping["properties"]).items() if f.rsplit(".", 1)[-1] not in skip}
    flattened = {f for f, t in mapped.items() if t == "flattened"}
    assert flattened == set(schema.flattened)
    kinds = {f: KINDS[t] for f, t in mapped.items() if t != "flattened" and t not in UNSEARCHABLE}
    assert kinds == dict(schema.fields)


def resolved(properties: dict[str, Any]) -> dict[str, str]:
    """Every indexed field and alias with the type it answers as (an alias: its target's)."""
    out: dict[str, str] = {}
    aliases: dict[str, str] = {}

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            path = f"{prefix}{name}"
            if "properties" in spec:
                walk(spec["properties"], f"{path}.")
            elif spec.get("type") == "alias":
                aliases[path] = spec["path"]
            elif spec.get("enabled") is not False and spec.get("index") is not False:
                out[path] = spec["type"]

    walk(properties, "")
    out.update({alias: out[target] for alias, target in aliases.items()})
    return out


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, spec in extra.items():
        if name in out and "properties" in spec and "properties" in out[name]:
            out[name] = {**out[name], "properties": _merged(out[name]["properties"], spec["properties"])}
        else:
            out[name] = spec
    return out


@pytest.mark.parametrize(
    "properties",
    [ALERT_MAPPING["properties"], _merged(LEGACY_ALERT_MAPPING["properties"], LEGACY_ADDITIONS)],
    ids=["ecs-indices", "old-indices-after-setup"],
)
def test_alert_queries_find_their_fields_in_both_index_shapes(properties: dict[str, Any]) -> None:
    """Every KQL alert field, and the ECS names the store queries by, resolve in the ECS alert
    indices and in the old ones once `setup()` gave them their aliases, with the same kind."""
    fields = resolved(properties)
    for name, kind in ALERT_FIELDS.fields.items():
        assert KINDS[fields[ALERT_RENAMED.get(name, name)]] is kind, name
    for name in ("host.name", "user.name", "soc.alert.group"):
        assert fields[name] == "keyword", name
