"""The contract every log format module follows.

A format module under `normalizers/` exposes a module-level `NORMALIZER` object with:

- `name`: the registry key, also what sources declare as their `format` in the registry;
- `parse(raw, ctx) -> dict`: a pure function (no I/O) from one raw record (text) to an ECS
  document (nested dicts, ECS names, `@timestamp` an aware datetime; an ISO string only from a
  format without `typed_output`, whose documents the stage validates and coerces); it raises
  `NormalizeError` with a clear reason when the record is not of this format or is broken;
- `sniff(raw) -> bool`: a cheap test used when a source declares no format (content detection);
- `typed_output`: True when `parse` builds each document from typed values (strings it cut out,
  numbers it converted, tables of names), never by passing payload JSON through. The stage then
  trusts the document instead of validating it against `soc_core.event.EcsDoc` (validation cost
  as much as parsing); the golden and property tests check that such output already is canonical
  ECS (`tests/normalizers/canonical.py`). A format that copies payload structure (`ecs`) says
  False and every document it makes is validated.

The stage (`normalizers.stage`) adds identity, attribution and `event.original`, validates the
document where `typed_output` is False, wraps it in an `Event`, and turns any failure into a
counted dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True, slots=True, init=False)
class ParseContext:
    """What a parser may know beyond the raw text: when it arrived and the source's time zone.

    `received_at` anchors formats that omit the year (RFC 3164) so that a December record read in
    January lands in the right year.

    The constructor is written out: the stage builds one per record, and mypyc compiles a class's
    own `__init__`, while the one `@dataclass` generates runs as interpreted Python.
    """

    received_at: datetime
    timezone: tzinfo
    source_id: str | None

    def __init__(
        self, received_at: datetime, timezone: tzinfo = VIETNAM, source_id: str | None = None
    ) -> None:
        object.__setattr__(self, "received_at", received_at)  # frozen: no plain assignment
        object.__setattr__(self, "timezone", timezone)
        object.__setattr__(self, "source_id", source_id)


class Normalizer(Protocol):
    name: str
    typed_output: bool

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]: ...

    def sniff(self, raw: str) -> bool: ...
