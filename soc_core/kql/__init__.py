"""One query language for events and alerts (KQL): parse once here, compile in each store.

`parse` gives a syntax tree (`soc_core.kql.ast`); `fields` says which fields a search may name
and what kind each is, so both stores refuse and coerce the same things; `text` cuts documents
and free text into the same folded words on every store (it may run compiled by mypyc, `make
native`; importing the package refuses a build made from other source, `soc_core.native`).
"""

from pathlib import Path

from soc_core.kql.ast import (
    And,
    Exists,
    FieldNode,
    Glob,
    Match,
    MatchAll,
    Node,
    Not,
    Or,
    Range,
    Text,
    Wildcard,
)
from soc_core.kql.fields import ALERT_FIELDS, EVENT_FIELDS, Kind, Schema, check
from soc_core.kql.parser import DEFAULT_LIMITS, MAX_DEPTH, MAX_QUERY_LENGTH, QueryLimits, parse
from soc_core.native import check_compiled_modules

# before `text` (the one compiled module) is imported: none of the modules above imports it
check_compiled_modules(Path(__file__).resolve().parent)

__all__ = [
    "ALERT_FIELDS",
    "DEFAULT_LIMITS",
    "EVENT_FIELDS",
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "And",
    "Exists",
    "FieldNode",
    "Glob",
    "Kind",
    "Match",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "QueryLimits",
    "Range",
    "Schema",
    "Text",
    "Wildcard",
    "check",
    "parse",
    "parse_for",
]


def parse_for(query: str, schema: Schema, limits: QueryLimits = DEFAULT_LIMITS) -> Node:
    """`query` read and checked against the fields of what is searched (events or alerts)."""
    return check(parse(query, limits), schema, query)
