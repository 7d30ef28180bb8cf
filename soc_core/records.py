"""What travels between stages before normalization: the raw record and the dead letter.

A `RawRecord` is what a receiver accepted: the payload as received (text), who sent it (stamped
from the authenticated source, never from the payload) and a deterministic id computed at
ingest, so that every replay downstream yields the same event id and writes stay idempotent.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from soc_core.event import utcnow


def record_id(source_id: str, payload: bytes | str, shipper_id: str | None = None) -> str:
    """Deterministic id: hash of the source and the shipper's own record id, else of the raw bytes.

    Two byte-identical lines from one source with no shipper id collapse into one event; log lines
    carry their own timestamp, so such lines are genuine duplicates (a shipper resending a batch).
    Hashed: the source id, a NUL byte, then `id:` and the shipper id, or the payload's bytes (one
    call: receivers compute one per record). Stored ids depend on this input never changing.
    """
    if shipper_id:
        body = b"id:" + shipper_id.encode()
    else:
        body = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    return hashlib.blake2b(source_id.encode() + b"\x00" + body, digest_size=16).hexdigest()


def record_id_hasher(source_id: str, shipper_prefix: str) -> hashlib.blake2b:
    """`record_id`'s hash fed up to `shipper_prefix` (the same bytes): the id of a record whose
    shipper id is `shipper_prefix + suffix`, `record_id(source_id, _, shipper_prefix + suffix)`,
    is also `h = hasher.copy(); h.update(suffix.encode()); h.hexdigest()`, which a reader of many
    records with one prefix (a file's path, then the record's number) uses to hash it once."""
    return hashlib.blake2b(source_id.encode() + b"\x00id:" + shipper_prefix.encode(), digest_size=16)


class RawRecord(BaseModel):
    """One record as a receiver accepted it, with its attribution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    source_id: str
    unit_id: str | None = None
    system_id: str | None = None
    format: str | None = None
    received_at: datetime = Field(default_factory=utcnow)
    payload: str
    evidence: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        """The record as a JSON object, the same bytes as `model_dump(mode="json")` would give.

        orjson serializes the validated field values (`__dict__`, in field order) directly: five
        times cheaper than `model_dump`, and receivers encode every record they accept. Evidence
        holding something orjson cannot encode goes through pydantic's conversion instead.
        """
        try:
            return orjson.dumps(self.__dict__, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError:
            return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> RawRecord:
        return cls.model_validate(orjson.loads(data))


#: The most of a record a dead letter keeps: even escaped at 6 bytes a character (`\u0001`) it stays
#: under the 4 MiB Kafka message limit (`buses.kafka.MAX_MESSAGE_BYTES`).
DEADLETTER_RAW_CHARS = 512 * 1024


class DeadLetter(BaseModel):
    """A record that could not be processed: the raw data, where, what was tried, and why."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source_id: str | None = None
    stage: str
    format_tried: str | None = None
    reason: str
    raw: str
    at: datetime = Field(default_factory=utcnow)

    @field_validator("raw")
    @classmethod
    def _bounded(cls, raw: str) -> str:
        """Keep at most `DEADLETTER_RAW_CHARS` of the record, so a dead letter always fits a Kafka
        message (one too large for the topic would stall the worker that publishes it)."""
        if len(raw) <= DEADLETTER_RAW_CHARS:
            return raw
        return f"{raw[:DEADLETTER_RAW_CHARS]}... [{len(raw) - DEADLETTER_RAW_CHARS} more characters cut]"

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> DeadLetter:
        return cls.model_validate(orjson.loads(data))


#: Raw records travel to Kafka in batches: per-message overhead, not bytes, limits a Python
#: producer (about 15k messages/s here), so one message carries up to this many bytes of records.
RAW_BATCH_BYTES = 1024 * 1024


def encode_raw_batches(records: list[RawRecord], max_bytes: int = RAW_BATCH_BYTES) -> list[bytes]:
    """Encode records as JSON arrays of at most `max_bytes` each (a single large record stands alone).

    One orjson call per array, not per record: for a receiver's batch of small records the cost of
    a call (its output buffer) is most of the work, so a whole array costs a sixth of encoding
    record by record. An array over `max_bytes` is encoded again as as many equal slices as it
    needs. The bytes are the same as joining `to_json()` of each record.
    """
    if not records:
        return []
    try:
        whole = orjson.dumps([r.__dict__ for r in records], option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:  # evidence orjson cannot encode: record by record, via pydantic
        return pack_arrays([r.to_json() for r in records], max_bytes)
    if len(whole) <= max_bytes or len(records) == 1:
        return [whole]
    step = -(-len(records) // (len(whole) // max_bytes + 1))
    return [
        b for i in range(0, len(records), step) for b in encode_raw_batches(records[i : i + step], max_bytes)
    ]


def pack_arrays(encoded: list[bytes], max_bytes: int) -> list[bytes]:
    """Encoded records into JSON arrays of at most `max_bytes` (a larger record stands alone)."""
    batches: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for item in encoded:
        if current and size + len(item) + 1 > max_bytes:
            batches.append(b"[" + b",".join(current) + b"]")
            current, size = [], 0
        current.append(item)
        size += len(item) + 1
    if current:
        batches.append(b"[" + b",".join(current) + b"]")
    return batches


def decode_raw_message(value: bytes) -> list[RawRecord]:
    """A raw-topic message from our receivers: one RawRecord object, or a JSON array of them."""
    return raw_records_of(orjson.loads(value))


def raw_records_of(data: Any) -> list[RawRecord]:
    """The records of a parsed raw-topic message (`decode_raw_message`); raises `ValidationError`."""
    if isinstance(data, list):
        return [RawRecord.model_validate(item) for item in data]
    return [RawRecord.model_validate(data)]
