"""KQL (`soc_core.kql`) compiled to Elasticsearch query DSL.

Values travel as JSON values inside term/wildcard/range/match_phrase queries, never through a
query-string syntax, so nothing a query says is parsed again by Elasticsearch. Free text asks the
`search_text` field: the document's folded words (`soc_core.kql.text.search_text`), analysed by
whitespace only, so both stores cut words the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from soc_core.kql import (
    And,
    Exists,
    Glob,
    Kind,
    MatchAll,
    Node,
    Not,
    Or,
    Range,
    Schema,
    Text,
    Wildcard,
)
from soc_core.kql.fields import number, prefix_of, utc_instant

SEARCH_FIELD = "search_text"
_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def wildcard_value(pattern: tuple[str | Glob, ...]) -> str:
    """Literal `*`, `?` and `\\` escaped with a backslash, as the wildcard query reads them."""
    out: list[str] = []
    for part in pattern:
        if isinstance(part, Glob):
            out.append(part.value)
        else:
            out.append("".join(f"\\{ch}" if ch in "*?\\" else ch for ch in part))
    return "".join(out)


def _free_text(node: Text) -> dict[str, Any]:
    if not node.prefix:
        return {"match_phrase": {SEARCH_FIELD: " ".join(node.words)}}
    if len(node.words) == 1:
        return {"prefix": {SEARCH_FIELD: node.words[0]}}
    head = " ".join(node.words[:-1])
    rules = [
        {"match": {"query": head, "ordered": True, "max_gaps": 0}},
        {"prefix": {"prefix": node.words[-1]}},
    ]
    return {"intervals": {SEARCH_FIELD: {"all_of": {"ordered": True, "max_gaps": 0, "intervals": rules}}}}


def _value(kind: Kind, raw: str) -> Any:
    if kind is Kind.NUMBER:
        return number(raw)
    if kind is Kind.DATE:
        return utc_instant(raw).isoformat()
    return raw


def compile_query(node: Node, schema: Schema, renamed: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The query for `node`; `renamed` maps a field to the indexed field that answers it
    (`message` -> `message.keyword`)."""
    renamed = renamed or {}

    def go(item: Node) -> dict[str, Any]:
        if isinstance(item, And):
            return {"bool": {"filter": [go(p) for p in item.parts]}}
        if isinstance(item, Or):
            return {"bool": {"should": [go(p) for p in item.parts], "minimum_should_match": 1}}
        if isinstance(item, Not):
            return {"bool": {"must_not": [go(item.part)]}}
        if isinstance(item, MatchAll):
            return {"match_all": {}}
        if isinstance(item, Text):
            return _free_text(item)
        kind = schema.kind(item.field)
        if kind is None:  # soc_core.kql.check refused it already
            raise ValueError(f"unchecked field {item.field}")
        field = renamed.get(item.field, item.field)
        if isinstance(item, Exists):
            return {"exists": {"field": field}}
        if isinstance(item, Wildcard) and schema.is_flattened(item.field):
            return {"prefix": {field: prefix_of(item.pattern)}}
        if isinstance(item, Wildcard):
            return {"wildcard": {field: {"value": wildcard_value(item.pattern)}}}
        if isinstance(item, Range):
            return {"range": {field: {_OPS[item.op]: _value(kind, item.value)}}}
        if kind is Kind.DATE:
            instant = _value(kind, item.value)
            return {"range": {field: {"gte": instant, "lte": instant}}}
        return {"term": {field: _value(kind, item.value)}}

    return go(node)
