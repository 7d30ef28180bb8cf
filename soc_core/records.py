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
from pydantic import BaseModel, ConfigDict, Field

from soc_core.event import utcnow


def record_id(source_id: str, payload: bytes | str, shipper_id: str | None = None) -> str:
    """Deterministic id: hash of the source and the shipper's own record id, else of the raw bytes.

    Two byte-identical lines from one source with no shipper id collapse into one event; log lines
    carry their own timestamp, so such lines are genuine duplicates (a shipper resending a batch).
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(source_id.encode())
    h.update(b"\x00")
    if shipper_id:
        h.update(b"id:" + shipper_id.encode())
    else:
        h.update(payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload)
    return h.hexdigest()


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
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> RawRecord:
        return cls.model_validate(orjson.loads(data))


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

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, data: bytes | str) -> DeadLetter:
        return cls.model_validate(orjson.loads(data))
