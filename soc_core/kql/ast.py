"""The query language's syntax tree: small frozen values the stores compile to their own queries.

Every node keeps `at`, the offset in the query text it came from (not part of equality), so a
store that cannot answer a node (a wildcard on a number) can still point the analyst at it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Literal


class Glob(Enum):
    """A wildcard inside a field value: `*` any run of characters, `?` exactly one."""

    ANY = "*"
    ONE = "?"


RangeOp = Literal["<", "<=", ">", ">="]


@dataclass(frozen=True, slots=True)
class Match:
    """`field:value` or `field:"value"`: the field holds exactly this value (one of its values)."""

    field: str
    value: str
    at: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Wildcard:
    """`field:net*.e?e`: literal text and globs, in order."""

    field: str
    pattern: tuple[str | Glob, ...]
    at: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Exists:
    """`field:*`: the field has a value."""

    field: str
    at: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Range:
    """`field >= value`."""

    field: str
    op: RangeOp
    value: str
    at: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Text:
    """Free text: these words, in this order, anywhere in the document, ignoring case and
    diacritics (`soc_core.kql.text.words`); with `prefix` the last word may continue (`netsh*`)."""

    words: tuple[str, ...]
    prefix: bool = False
    at: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    part: Node


@dataclass(frozen=True, slots=True)
class MatchAll:
    """The empty query."""


Node = Match | Wildcard | Exists | Range | Text | And | Or | Not | MatchAll
FieldNode = Match | Wildcard | Exists | Range
