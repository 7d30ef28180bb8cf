"""KQL (`soc_core.kql`) compiled to a SQLite condition over a table of JSON documents.

Every value is a bound parameter, field paths included, so nothing a query says becomes SQL.
Fields are read with `json_each` (one row per value: a list's elements, or the value itself), so
`tags:x` matches a document whose `tags` holds `x` among others, as Elasticsearch does. Free text
asks the table's FTS5 index (`search_text` words, kept by triggers).
"""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from soc_core import kql
from soc_core.kql.fields import number, utc_instant
from soc_core.kql.text import search_text

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Target:
    """What a query runs over: the table's JSON column, its FTS5 table, and fields kept as
    columns (`@timestamp` -> `ts`, normalised to `ISO_FORMAT`, so a range uses its index)."""

    schema: kql.Schema
    table: str
    fts: str
    doc: str = "CAST(doc AS TEXT)"
    time_columns: Mapping[str, str] | None = None
    columns: Mapping[str, str] | None = None
    """Keyword fields the table keeps as a column of their one value (`host.name` -> `host_name`):
    compared there, indexed, without reading the document."""


def json_path(field: str) -> str:
    """`user.name` -> `$."user"."name"` (field names are letters, digits and `_@-`, never quotes)."""
    return "$" + "".join(f'."{part}"' for part in field.split("."))


def glob_pattern(pattern: tuple[str | kql.Glob, ...]) -> str:
    """A wildcard as GLOB (case-sensitive like Elasticsearch's): literal `*?[` go in brackets."""
    out: list[str] = []
    for part in pattern:
        if isinstance(part, kql.Glob):
            out.append(part.value)
        else:
            out.append("".join(f"[{ch}]" if ch in "*?[" else ch for ch in part))
    return "".join(out)


def fts_match(node: kql.Text) -> str:
    """An FTS5 phrase: the words are letters and digits only, so quoting them is enough."""
    return '"' + " ".join(node.words) + '"' + ("*" if node.prefix else "")


def _ip_in(value: Any, network: str) -> int:
    """SQL `kql_ip_in(value, network)`: 1 when the stored address is in the network."""
    if not isinstance(value, str):
        return 0
    try:
        return int(ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False))
    except ValueError:
        return 0


def _search_text(doc: bytes | str | None) -> str:
    return search_text(orjson.loads(doc)) if doc else ""


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions compiled queries and the FTS triggers call, on one connection."""
    conn.create_function("kql_ip_in", 2, _ip_in, deterministic=True)
    conn.create_function("kql_search_text", 1, _search_text, deterministic=True)


SCALAR = "v.type NOT IN ('object', 'array', 'null')"
_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Compiler:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.params: list[Any] = []

    def each(self, field: str, condition: str, *values: Any) -> str:
        """`condition` over each value `v` of `field`; through a list of objects (`threat`, in
        `threat.technique.id`) one row per element, as Elasticsearch flattens them."""
        doc = self.target.doc
        lists = self.target.schema.object_lists
        outer = next((p for p in lists if field.startswith(p + ".")), None)
        if outer is None:
            self.params.append(json_path(field))
            source = f"json_each({doc}, ?) AS v"
        else:
            self.params.extend([json_path(outer), json_path(field[len(outer) + 1 :])])
            source = f"json_each({doc}, ?) AS o, json_each(o.value, ?) AS v"
        self.params.extend(values)
        return f"EXISTS (SELECT 1 FROM {source} WHERE {condition})"

    def compare(self, field: str, kind: kql.Kind, op: str, raw: str) -> str:
        columns = self.target.time_columns or {}
        if kind is kql.Kind.DATE and field in columns:
            self.params.append(utc_instant(raw).strftime(ISO_FORMAT))
            return f"{columns[field]} {op} ?"
        column = (self.target.columns or {}).get(field)
        if column is not None:
            self.params.append(raw)
            return f"{column} {op} ?"
        if kind is kql.Kind.DATE:
            return self.each(field, f"julianday(v.value) {op} julianday(?)", utc_instant(raw).isoformat())
        if kind is kql.Kind.NUMBER:
            return self.each(field, f"v.type IN ('integer', 'real') AND v.value {op} ?", number(raw))
        if kind is kql.Kind.IP:
            return self.each(field, "kql_ip_in(v.value, ?)", raw)
        return self.each(field, f"{SCALAR} AND CAST(v.value AS TEXT) {op} ?", raw)

    def node(self, node: kql.Node) -> str:
        if isinstance(node, kql.And | kql.Or):
            joiner = " AND " if isinstance(node, kql.And) else " OR "
            return "(" + joiner.join(self.node(p) for p in node.parts) + ")"
        if isinstance(node, kql.Not):  # a NULL column compares NULL: without the field is "not"
            return f"NOT coalesce({self.node(node.part)}, 0)"
        if isinstance(node, kql.MatchAll):
            return "1"
        if isinstance(node, kql.Text):
            self.params.append(fts_match(node))
            fts = self.target.fts
            return f"{self.target.table}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?)"
        kind = self.target.schema.kind(node.field)
        if kind is None:  # soc_core.kql.check refused it already
            raise ValueError(f"unchecked field {node.field}")
        column = (self.target.columns or {}).get(node.field)
        if isinstance(node, kql.Exists):
            return f"{column} IS NOT NULL" if column else self.each(node.field, "v.type != 'null'")
        if isinstance(node, kql.Wildcard) and column:
            self.params.append(glob_pattern(node.pattern))
            return f"{column} GLOB ?"
        if isinstance(node, kql.Wildcard):
            return self.each(
                node.field,
                f"{SCALAR} AND CAST(v.value AS TEXT) GLOB ?",
                glob_pattern(node.pattern),
            )
        if isinstance(node, kql.Range):
            return self.compare(node.field, kind, _OPS[node.op], node.value)
        return self.compare(node.field, kind, "=", node.value)


def compile_where(node: kql.Node, target: Target) -> tuple[str, list[Any]]:
    """A condition for `WHERE` and its parameters, in order."""
    compiler = _Compiler(target)
    return compiler.node(node), compiler.params
