"""deploy/kibana/socpipe-data-views.ndjson: Kibana data views over socpipe's indices, in the shape
Kibana's saved-objects import API (`POST /api/saved_objects/_import`, Kibana 8.8 and later) takes.
No Kibana here (none is packaged for Debian or PyPI): the shape is checked offline against the
8.x export format, and the views against the indices and the template the product creates."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from soc_core.ecs_fields import EVENT_FIELD_MAPPINGS
from soc_core.settings import Settings
from stores.elastic.store import ElasticStore

NDJSON = Path(__file__).resolve().parents[2] / "deploy" / "kibana" / "socpipe-data-views.ndjson"
#: The attributes of an `index-pattern` saved object that Kibana keeps as JSON in a string.
JSON_STRING_ATTRIBUTES = {
    "fieldAttrs": dict,
    "fieldFormatMap": dict,
    "fields": list,
    "runtimeFieldMap": dict,
    "sourceFilters": list,
    "typeMeta": dict,
}


def objects() -> list[dict[str, Any]]:
    lines = NDJSON.read_bytes().splitlines()
    assert lines and all(line.strip() for line in lines), "one JSON object a line, no blank lines"
    return [orjson.loads(line) for line in lines]


def test_every_line_is_an_importable_data_view() -> None:
    seen = set()
    for obj in objects():
        assert set(obj) == {
            "attributes",
            "coreMigrationVersion",
            "id",
            "managed",
            "references",
            "type",
            "typeMigrationVersion",
        }
        assert obj["type"] == "index-pattern"
        assert obj["coreMigrationVersion"] == "8.8.0" and obj["typeMigrationVersion"] == "8.0.0"
        assert obj["references"] == [] and obj["managed"] is False
        assert obj["id"] not in seen
        seen.add(obj["id"])
        attributes = obj["attributes"]
        assert {"title", "name", "timeFieldName"} <= set(attributes)
        for name, kind in JSON_STRING_ATTRIBUTES.items():
            assert isinstance(orjson.loads(attributes[name]), kind), name
        assert set(attributes) <= {"title", "name", "timeFieldName", *JSON_STRING_ATTRIBUTES}


def test_the_views_cover_the_indices_the_product_writes() -> None:
    """The titles match the default prefix's daily event and monthly alert indices, and the time
    field is a date in the events template."""
    store = ElasticStore("http://127.0.0.1:1", prefix=Settings().stores.index_prefix)
    at = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
    titles = {obj["id"]: obj["attributes"]["title"] for obj in objects()}
    assert fnmatch.fnmatch(store.event_index(at), titles["socpipe-events"])
    assert fnmatch.fnmatch(store.alert_index(at), titles["socpipe-alerts"])
    assert not fnmatch.fnmatch(store.alert_index(at), titles["socpipe-events"])
    time_fields = {obj["attributes"]["timeFieldName"] for obj in objects()}
    assert time_fields == {"@timestamp"}
    assert EVENT_FIELD_MAPPINGS["@timestamp"] == {"type": "date"}
