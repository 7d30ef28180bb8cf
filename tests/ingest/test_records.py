"""Raw records on the wire: ids that never change, JSON identical to pydantic's, batches that
round-trip."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from soc_core.records import RawRecord, decode_raw_message, encode_raw_batches, record_id

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
TIMES = st.datetimes(
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3.5))])
)
RECORDS = st.builds(
    RawRecord,
    id=st.text(min_size=1),
    source_id=st.text(min_size=1),
    unit_id=st.none() | st.text(),
    system_id=st.none() | st.text(),
    format=st.none() | st.text(),
    received_at=TIMES,
    payload=st.text(),
    evidence=st.none() | st.dictionaries(st.text(), JSON_VALUES, max_size=4),
)


def reference_record_id(source_id: str, payload: bytes | str, shipper_id: str | None = None) -> str:
    """The id as the first release computed it (incremental blake2b): stored ids depend on it."""
    h = hashlib.blake2b(digest_size=16)
    h.update(source_id.encode())
    h.update(b"\x00")
    if shipper_id:
        h.update(b"id:" + shipper_id.encode())
    else:
        h.update(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
    return h.hexdigest()


def test_record_ids_are_the_ones_already_stored() -> None:
    assert record_id("fw-01", "<134>Jan  1 00:00:00 fw test") == "7522b40303893d20439dc913c3aa1c50"
    assert record_id("fw-01", "x", "host:/var/log/a.log:42:0:abc") == "6b72b24c305c0e49a24579216bb26cb6"
    assert record_id("fw-01", b"<134>Jan  1 00:00:00 fw test") == record_id(
        "fw-01", "<134>Jan  1 00:00:00 fw test"
    )


@given(st.text(), st.text() | st.binary(), st.none() | st.text())
def test_record_id_matches_the_reference_for_any_input(
    source_id: str, payload: str | bytes, shipper_id: str | None
) -> None:
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    assert record_id(source_id, payload, shipper_id) == reference_record_id(source_id, payload, shipper_id)


@given(RECORDS)
def test_to_json_is_byte_identical_to_pydantic_json(record: RawRecord) -> None:
    assert record.to_json() == orjson.dumps(record.model_dump(mode="json"))
    assert RawRecord.from_json(record.to_json()) == RawRecord.model_validate(record.model_dump(mode="json"))


def test_evidence_orjson_cannot_encode_is_converted_by_pydantic() -> None:
    evidence: dict[str, Any] = {"tags": {"a"}, "digest": b"ab", "pair": (1, 2)}
    record = RawRecord(id="1", source_id="s", payload="p", evidence=evidence)
    assert orjson.loads(record.to_json())["evidence"] == {"tags": ["a"], "digest": "ab", "pair": [1, 2]}


def test_batches_round_trip_and_stay_under_the_message_limit() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    records = [
        RawRecord(id=str(n), source_id="s", unit_id="u", received_at=at, payload="x" * (n % 500))
        for n in range(2000)
    ]
    batches = encode_raw_batches(records, max_bytes=64 * 1024)
    assert len(batches) > 1
    assert all(len(b) <= 64 * 1024 for b in batches)
    assert [r for b in batches for r in decode_raw_message(b)] == records
    assert orjson.loads(batches[0])[0]["received_at"] == "2026-01-02T03:04:05.678901Z"


@given(st.lists(RECORDS, max_size=40), st.integers(200, 5000))
def test_batches_are_the_records_joined_in_order_under_the_limit(
    records: list[RawRecord], limit: int
) -> None:
    batches = encode_raw_batches(records, max_bytes=limit)
    items = [item for b in batches for item in orjson.loads(b)]
    assert [orjson.dumps(item) for item in items] == [r.to_json() for r in records]
    assert all(len(b) <= limit or len(orjson.loads(b)) == 1 for b in batches)
    if records and len(b"[" + b",".join(r.to_json() for r in records) + b"]") <= limit:
        assert batches == [b"[" + b",".join(r.to_json() for r in records) + b"]"]


def test_a_record_over_the_limit_stands_alone_and_odd_evidence_is_still_encoded() -> None:
    small = [RawRecord(id=str(n), source_id="s", payload="x") for n in range(5)]
    big = RawRecord(id="big", source_id="s", payload="y" * 5000)
    odd = RawRecord(id="odd", source_id="s", payload="z", evidence={"tags": {"a"}})
    batches = encode_raw_batches([*small, big, odd, *small], max_bytes=1000)
    assert [r.id for b in batches for r in decode_raw_message(b)] == [*"01234", "big", "odd", *"01234"]
    assert [b for b in batches if b"y" * 5000 in b] == [b"[" + big.to_json() + b"]"]
    assert all(len(b) <= 1000 for b in batches if b"y" * 5000 not in b)
