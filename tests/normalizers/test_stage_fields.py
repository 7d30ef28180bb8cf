"""`NormalizeStage.normalize`: a record's fields in, the same result as the stage gives the record."""

from __future__ import annotations

from datetime import UTC, datetime

from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import DeadLetter, RawRecord

LINE = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
RECEIVED = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def _both(payload: str, fmt: str | None) -> tuple[Event | DeadLetter, Event | DeadLetter]:
    stage = NormalizeStage()
    record = RawRecord(
        id="r1", source_id="src", unit_id="u1", format=fmt, received_at=RECEIVED, payload=payload
    )
    by_fields = stage.normalize(
        payload, record_id="r1", source_id="src", format_name=fmt, received_at=RECEIVED, unit_id="u1"
    )
    return stage(record), by_fields


def test_the_fields_of_a_record_normalize_as_the_record_does() -> None:
    from_record, from_fields = _both(LINE, "linux_syslog")
    assert isinstance(from_fields, Event)
    assert isinstance(from_record, Event)
    ingested = from_record.doc["event"]["ingested"]
    from_fields.doc["event"]["ingested"] = ingested  # the one field that is the time of the call
    assert from_fields.doc == from_record.doc
    assert from_fields.doc["soc"]["unit"]["id"] == "u1"
    assert from_fields.doc["event"]["created"] == RECEIVED


def test_a_record_that_does_not_parse_is_the_same_dead_letter_from_its_fields() -> None:
    from_record, from_fields = _both('{"Event": {"System": {}}}', "evtx_json")
    assert isinstance(from_record, DeadLetter)
    assert isinstance(from_fields, DeadLetter)
    assert from_fields.model_dump(exclude={"at"}) == from_record.model_dump(exclude={"at"})
    assert from_fields.raw == '{"Event": {"System": {}}}' and "EventID" in from_fields.reason


def _evtx(system_extra: str) -> str:
    return (
        '{"Event": {"System": {"EventID": 4625, "Channel": "Security", "Computer": "dc01",'
        ' "TimeCreated": {"#attributes": {"SystemTime": "2024-03-01T08:00:00Z"}}' + system_extra + "},"
        ' "EventData": {"TargetUserName": "admin", "IpAddress": "10.0.0.9"}}}'
    )


def _deep(levels: int) -> str:
    return ', "Extra": ' + '{"a": ' * levels + '"x"' + "}" * levels


def _by_fields(payload: str, fmt: str, *, bounded: bool) -> Event | DeadLetter:
    return NormalizeStage(max_depth=32).normalize(
        payload,
        record_id="r1",
        source_id="src",
        format_name=fmt,
        received_at=RECEIVED,
        nesting_bounded=bounded,
    )


def test_an_evtx_record_of_bounded_nesting_skips_the_depth_guard_and_normalizes_as_a_shallow_one() -> None:
    """The offline command's `.evtx` records: the evtx_json document has a fixed depth, so a record
    nested past the limit in a part the normalizer does not keep is the same event as without it."""
    deep = _evtx(_deep(40))
    refused = _by_fields(deep, "evtx_json", bounded=False)
    assert isinstance(refused, DeadLetter) and "levels deep" in refused.reason
    event = _by_fields(deep, "evtx_json", bounded=True)
    shallow = _by_fields(_evtx(""), "evtx_json", bounded=True)
    assert isinstance(event, Event) and isinstance(shallow, Event)
    for doc in (event.doc, shallow.doc):
        del doc["event"]["ingested"], doc["event"]["original"]
    assert event.doc == shallow.doc
    assert event.doc["winlog"]["event_data"]["TargetUserName"] == "admin"


def test_bounded_nesting_does_not_skip_the_guard_for_a_format_that_keeps_the_payloads_structure() -> None:
    deep = '{"@timestamp": "2024-03-01T08:00:00Z", "labels": ' + '{"a": ' * 40 + '"x"' + "}" * 40 + "}"
    out = _by_fields(deep, "ecs", bounded=True)
    assert isinstance(out, DeadLetter) and "nested 41 levels deep" in out.reason
