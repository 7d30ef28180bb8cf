"""Events already in ECS are the one format whose documents are the payload: the stage validates
them against the schema (`soc_core.event.EcsDoc`), coercing what ECS allows and dead-lettering the
rest, while attribution still comes from the registry."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from normalizers import registry
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import DeadLetter, RawRecord, record_id


def _stage(doc: dict[str, object]) -> Event | DeadLetter:
    payload = orjson.dumps(doc).decode()
    return NormalizeStage()(
        RawRecord(id=record_id("app", payload), source_id="app", format="ecs", payload=payload)
    )


def test_the_passthrough_is_the_one_format_the_stage_validates() -> None:
    untyped = [name for name in registry.names() if not registry.get(name).typed_output]
    assert untyped == ["ecs"]


def test_valid_documents_are_coerced_the_way_ecs_allows() -> None:
    result = _stage(
        {
            "@timestamp": "2025-07-01T08:00:00",  # naive: UTC
            "event": {"code": 4688, "category": "process"},
            "host": {"name": "ws01", "ip": "10.0.0.5"},
            "soc": {"unit": {"id": "forged"}},
        }
    )
    assert isinstance(result, Event), result
    assert result.timestamp == datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    assert result.event.get("code") == "4688"
    assert result.event.get("category") == ["process"]
    assert result.doc["host"]["ip"] == ["10.0.0.5"]
    assert result.soc.unit.id is None and result.soc.source.id == "app"  # never from the payload


def test_a_field_of_the_wrong_type_is_a_dead_letter_that_names_it() -> None:
    result = _stage({"@timestamp": "2025-07-01T08:00:00Z", "source": {"ip": "10.0.0.9", "port": "http"}})
    assert isinstance(result, DeadLetter)
    assert result.reason.startswith("invalid ECS field source.port"), result.reason
    assert result.format_tried == "ecs"


def test_an_ecs_object_that_is_not_an_object_is_a_dead_letter() -> None:
    result = _stage({"@timestamp": "2025-07-01T08:00:00Z", "host": "ws01"})
    assert isinstance(result, DeadLetter)
    assert result.reason.startswith("invalid ECS field host"), result.reason
