"""The contract every log format module follows.

A format module under `normalizers/` exposes a module-level `NORMALIZER` object with:

- `name`: the registry key, also what sources declare as their `format` in the registry;
- `parse(raw, ctx) -> dict`: a pure function (no I/O) from one raw record (text) to an ECS
  document (nested dicts, ECS names, `@timestamp` as an aware datetime or ISO string); it raises
  `NormalizeError` with a clear reason when the record is not of this format or is broken;
- `sniff(raw) -> bool`: a cheap test used when a source declares no format (content detection).

The stage (`normalizers.stage`) adds identity, attribution and `event.original`, validates the
document into an `Event`, and turns any failure into a counted dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser may know beyond the raw text: when it arrived and the source's time zone.

    `received_at` anchors formats that omit the year (RFC 3164) so that a December record read in
    January lands in the right year.
    """

    received_at: datetime
    timezone: tzinfo = field(default=VIETNAM)
    source_id: str | None = None


class Normalizer(Protocol):
    name: str

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]: ...

    def sniff(self, raw: str) -> bool: ...
