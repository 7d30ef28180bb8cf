"""The searchable fields (soc_core.kql.fields) are exactly what the Elasticsearch mappings index,
with matching kinds: a field SQLite would answer but Elasticsearch ignores would break the contract."""

from __future__ import annotations

from typing import Any

import pytest

from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, Kind, Schema
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
        (ALERT_FIELDS, ALERT_MAPPING, {SEARCH_FIELD, "all_text", "description"}),
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
