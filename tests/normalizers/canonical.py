"""The promise behind `Normalizer.typed_output`: a typed parser's documents are canonical ECS.

The stage does not validate what such parsers make (validation cost as much as parsing), so the
tests do, on every golden case and every property-test example: validating the document against
`soc_core.event.EcsDoc` must change nothing (no string where ECS wants a number or a list, no
naive or string `@timestamp`), and no value may be null (stored documents never hold nulls).
"""

from __future__ import annotations

from typing import Any

from normalizers import registry
from soc_core.event import Event, validate_ecs


def _nulls(value: Any, path: str = "") -> list[str]:
    if value is None:
        return [path or "<document>"]
    if isinstance(value, dict):
        return [hit for key, item in value.items() for hit in _nulls(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [hit for i, item in enumerate(value) for hit in _nulls(item, f"{path}[{i}]")]
    return []


def assert_canonical(event: Event) -> None:
    """Fail unless `event` (from the stage) is exactly what ECS validation would make of it."""
    fmt = event.doc["soc"]["source"]["format"]
    assert not _nulls(event.doc), f"{fmt}: null values at {_nulls(event.doc)}"
    if not registry.get(fmt).typed_output:
        return  # the stage validated it
    ecs = {key: value for key, value in event.doc.items() if key != "soc"}
    assert validate_ecs(ecs) == ecs, f"{fmt}: parser output is not canonical ECS"
