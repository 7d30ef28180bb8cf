"""The checks a stage makes before parsing a record: nesting depth and size (`soc_core.guards`)."""

from __future__ import annotations

import orjson
import pytest

from normalizers.stage import NormalizeStage
from soc_core.errors import RecordRefused
from soc_core.guards import check_depth, check_size, json_depth, loads_checked, nesting_depth
from soc_core.records import DEADLETTER_RAW_CHARS, DeadLetter, RawRecord


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('{"a":[1,{"b":2}]}', 3),
        ('{"a":"{{{[[[ brackets in a string ]]]}}}"}', 1),
        ('{"a":"an escaped quote \\" then {{{{"}', 1),
        (nested(300), 300),
        ("a syslog line", 0),
    ],
)
def test_json_depth_counts_nesting_not_brackets_in_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth
    assert json_depth(text.encode()) == depth


def test_a_record_deeper_than_the_limit_is_refused_with_its_depth() -> None:
    check_depth(nested(64), 64)
    check_depth('{"m":"' + "{" * 500 + '"}', 64)  # many brackets, all in a string
    with pytest.raises(RecordRefused, match="nested 65 levels deep, more than the 64 allowed"):
        check_depth(nested(65), 64)


@pytest.mark.parametrize(
    "text",
    ["{}", "[]", "1", '"{["', '{"a":[1,{"b":2}]}', '[[[],[[[]]]],{"x":{"y":[{}]}}]', nested(300)],
)
def test_the_nesting_of_a_parsed_value_is_the_depth_of_its_text(text: str) -> None:
    assert nesting_depth(orjson.loads(text), 1000) == json_depth(text)


def test_a_parsed_message_deeper_than_the_limit_is_refused_and_a_wide_one_is_not() -> None:
    wide = orjson.dumps([{"payload": "{[" * 500, "evidence": {"a": [1, 2]}} for _ in range(100)])
    assert loads_checked(wide, 8)[0]["evidence"] == {"a": [1, 2]}
    assert loads_checked(nested(64), 64) == orjson.loads(nested(64))
    with pytest.raises(RecordRefused, match="nested 65 or more levels deep, more than the 64 allowed"):
        loads_checked(nested(70).encode(), 64)  # the walk stops at the first level over the limit
    with pytest.raises(ValueError):
        loads_checked(b"not json {", 8)


def test_size_counts_utf8_bytes() -> None:
    check_size("a" * 1024, 1024)
    with pytest.raises(RecordRefused, match="record of 1026 bytes"):
        check_size("đ" * 513, 1024)


def test_the_normalize_stage_dead_letters_a_record_nested_deeper_than_it_can_write() -> None:
    """The issue's poison pill: orjson reads 300 levels, but the event could never be written."""
    payload = '{"@timestamp":"2025-07-01T08:00:00Z","deep":' + nested(300) + "}"
    with pytest.raises(TypeError):  # why: what the worker died on
        orjson.dumps(orjson.loads(payload))
    out = NormalizeStage(max_depth=64)(RawRecord(id="r1", source_id="s", format="ecs", payload=payload))
    assert isinstance(out, DeadLetter)
    assert out.reason.startswith("record nested 301 levels deep, more than the 64 allowed")
    assert out.raw == payload


def test_the_normalize_stage_dead_letters_a_record_over_the_size_limit() -> None:
    payload = '{"@timestamp":"2025-07-01T08:00:00Z","message":"' + "x" * 2000 + '"}'
    out = NormalizeStage(max_bytes=1024)(RawRecord(id="r2", source_id="s", format="ecs", payload=payload))
    assert isinstance(out, DeadLetter) and "more than the 1024 allowed" in out.reason


def test_a_dead_letter_keeps_a_bounded_part_of_its_record() -> None:
    letter = DeadLetter(id="d", stage="normalize", reason="test", raw="\x01" * (DEADLETTER_RAW_CHARS + 10))
    assert letter.raw.endswith("... [10 more characters cut]")
    assert len(letter.to_json()) < 4 * 1024 * 1024  # fits a Kafka message even fully escaped
