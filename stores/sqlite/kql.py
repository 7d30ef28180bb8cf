"""KQL (`soc_core.kql`) compiled to a SQLite condition over a table of JSON documents.

Every value is a bound parameter, field paths included, so nothing a query says becomes SQL.
Fields are read with `json_each` (one row per value: a list's elements, or the value itself), so
`tags:x` matches a document whose `tags` holds `x` among others, as Elasticsearch does. Free text
asks the table's FTS5 index (`fts_text`: written with the row, kept by triggers on
delete and update).
"""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from soc_core import kql
from soc_core.kql.fields import number, utc_instant
from soc_core.kql.text import fold, leaf_words, leaves, word_spans

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
    julian_columns: Mapping[str, str] | None = None
    """Date fields kept as a column of their `julianday` (any ISO spelling the document has:
    `Z` or an offset, with or without a fraction), compared as the documents' values would be."""
    columns: Mapping[str, str] | None = None
    """Keyword fields the table keeps as a column of their one value (`host.name` -> `host_name`):
    compared there, indexed, without reading the document."""
    indexes: Mapping[str, str] | None = None
    """Column -> an index holding it, which a condition its index cannot seek (under `not`, a
    leading wildcard, an IPv6 network) scans instead of computing the column row by row."""


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


def _number_like(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def value_words(value: str) -> str | None:
    """An FTS5 phrase every document holding `value` exactly (as a string leaf) has among its
    words, or None when there is none to ask: no words, or a number, whose text in the document
    (`1e+20`, `true` read as 1) need not be the query's."""
    found = [w for w, _, _ in word_spans(fold(value))]
    if not found or _number_like(value):
        return None
    return '"' + " ".join(found) + '"'


def pattern_words(pattern: tuple[str | kql.Glob, ...]) -> str | None:
    """FTS5 phrases (joined by AND) every document whose value matches the wildcard `pattern` has
    among its words: of each literal run, the words known to start a word of the value (the
    run starts the value, or a separator comes before them), the last one a prefix unless known
    to end one too. A word that may be the tail of a longer one (`*admin*`) is left out: FTS5
    finds words by their start only. None when nothing is left to ask."""
    phrases: list[str] = []
    for n, part in enumerate(pattern):
        if not isinstance(part, str) or not part:
            continue
        folded = fold(part)
        spans = word_spans(folded)
        starts_value, ends_value = n == 0, n == len(pattern) - 1
        run: list[str] = []
        prefix = False
        for w, begin, end in spans:
            if begin == 0 and not starts_value:
                continue  # may continue a word the wildcard before it ends
            run.append(w)
            prefix = end == len(folded) and not ends_value
        if run:
            phrases.append('"' + " ".join(run) + '"' + ("*" if prefix else ""))
    return " AND ".join(phrases) if phrases else None


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=256)
def _network(text: str) -> IpNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=65_536)
def _address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip_in(value: Any, network: str) -> int:
    """SQL `kql_ip_in(value, network)`: 1 when the stored address is in the network. Called once
    per candidate row (80,000 for a /8 over a million events): the query's network and the
    addresses, which repeat, are parsed once each."""
    if not isinstance(value, str):
        return 0
    address, net = _address(value), _network(network)
    return int(address is not None and net is not None and address in net)


def fts_text(doc: dict[str, Any]) -> str:
    """What the FTS5 index is given for a document: the same tokens as `search_text`'s words,
    for less work. A value in ASCII goes as it is, since FTS5's unicode61 tokenizer cuts it where
    `words` would (runs of ASCII letters and digits, everything else a separator) and lowers its
    case; only the other values are folded here (diacritics, `đ`). Folding every value in Python
    was most of the cost of writing an event with the index."""
    return " ".join([leaf if leaf.isascii() else leaf_words(leaf) for leaf in leaves(doc)])


def _fts_text(doc: bytes | str | None) -> str:
    return fts_text(orjson.loads(doc)) if doc else ""


def register_functions(conn: sqlite3.Connection) -> None:
    """The SQL functions compiled queries and the FTS triggers call, on one connection."""
    conn.create_function("kql_ip_in", 2, _ip_in, deterministic=True)
    # the name the FTS triggers have called since files first had the index
    conn.create_function("kql_search_text", 1, _fts_text, deterministic=True)


SCALAR = "v.type NOT IN ('object', 'array', 'null')"


def _rare(term: str) -> str:
    """A range on a column's index, told to the planner as selective: otherwise a page (newest
    first) walks the time index backwards computing the column from each document until 50 match,
    which for a rare prefix or network is the whole table (minutes at a million events); sorting
    the matches the index finds costs at most what counting them does."""
    return f"likelihood({term}, 0.001)"


def distinct_values(table: str, column: str, test: str, within: str = "") -> str:
    """A query of `column`'s distinct values that pass `test` (over `v`), one index seek each (a
    loose index scan), among those `within` allows (a range on the column its index seeks, its
    parameters given twice): `user.name:*admin*` tests the 2,000 user names, not the 600,000
    events that have one, and finds their events by the index."""
    first = f" WHERE {within}" if within else ""
    more = f" AND {within}" if within else ""
    return (
        f"WITH RECURSIVE d(v) AS (SELECT min({column}) FROM {table}{first} UNION ALL"
        f" SELECT (SELECT min({column}) FROM {table} WHERE {column} > d.v{more}) FROM d"
        f" WHERE d.v IS NOT NULL) SELECT v FROM d WHERE {test}"
    )


_OPS = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}


class _Compiler:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.params: list[Any] = []
        self.negated = 0

    def on_column(self, column: str, condition: str, *, seeks: bool = True) -> str:
        """`condition` on `column` as it stands where its index seeks it; otherwise (and under a
        `not`) the rows it holds for, read from the column's index: a virtual column outside its
        index is its document parsed again, row by row (a `not user.name:x` over a million events
        took 20 s that way), and the set's membership is never NULL, so `not` keeps the events
        without the field, as on Elasticsearch."""
        if seeks and not self.negated:
            return condition
        table = self.target.table
        index = (self.target.indexes or {}).get(column)
        hint = f" INDEXED BY {index}" if index else ""
        return f"{table}.rowid IN (SELECT rowid FROM {table}{hint} WHERE {condition})"

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

    def words_first(self, field: str, phrase: str | None) -> str:
        """`rowid IN (<the FTS5 matches of phrase>) AND ` before a per-document check on `field`, so
        that only the documents holding its words are parsed (a wildcard on `url.path` parsed all
        of a million); nothing when there are no words to ask, or the field's are not indexed."""
        if phrase is None or field == "event.original" or field.startswith("event.original."):
            return ""
        self.params.append(phrase)
        fts = self.target.fts
        return f"{self.target.table}.rowid IN (SELECT rowid FROM {fts} WHERE {fts} MATCH ?) AND "

    def compare(self, field: str, kind: kql.Kind, op: str, raw: str) -> str:
        columns = self.target.time_columns or {}
        if kind is kql.Kind.DATE and field in columns:
            self.params.append(utc_instant(raw).strftime(ISO_FORMAT))
            return f"{columns[field]} {op} ?"
        julian = (self.target.julian_columns or {}).get(field)
        if kind is kql.Kind.DATE and julian is not None:
            self.params.append(utc_instant(raw).isoformat())
            return self.on_column(julian, _rare(f"{julian} {op} julianday(?)"))
        column = (self.target.columns or {}).get(field)
        if column is not None and kind is kql.Kind.IP:
            return self.ip_column(column, raw)
        if column is not None:
            self.params.append(number(raw) if kind is kql.Kind.NUMBER else raw)
            return self.on_column(column, f"{column} {op} ?" if op == "=" else _rare(f"{column} {op} ?"))
        if kind is kql.Kind.DATE:
            return self.each(field, f"julianday(v.value) {op} julianday(?)", utc_instant(raw).isoformat())
        if kind is kql.Kind.NUMBER:
            return self.each(field, f"v.type IN ('integer', 'real') AND v.value {op} ?", number(raw))
        if kind is kql.Kind.IP:
            return self.each(field, "kql_ip_in(v.value, ?)", raw)
        first = self.words_first(field, value_words(raw) if op == "=" else None)
        return "(" + first + self.each(field, f"{SCALAR} AND CAST(v.value AS TEXT) {op} ?", raw) + ")"

    def ip_column(self, column: str, raw: str) -> str:
        """`field:address` or `field:network` over a column of the stored text, by its index where
        the text is certain: an IPv4 address has one spelling `ip_address` reads (dotted quad, no
        leading zeros), so a stored value equal to it is exactly `str(address)`, and one inside a
        network starts with the network's whole octets. IPv6 (many spellings) reads each value."""
        network = ipaddress.ip_network(raw, strict=False)  # kql.check has read it already
        if isinstance(network, ipaddress.IPv4Network) and network.prefixlen == 32:
            self.params.append(str(network.network_address))
            return self.on_column(column, f"{column} = ?")
        octets = network.prefixlen // 8 if isinstance(network, ipaddress.IPv4Network) else 0
        if octets and column in (self.target.indexes or {}):
            low = ".".join(str(network.network_address).split(".")[:octets]) + "."
            high = low[:-1] + "/"  # the text just after every address that starts with `low`
            self.params.extend([low, high, low, high, raw])
            # the network's addresses from the index (each distinct one read once and tested in
            # Python, not each of 400,000 events in 10.0.0.0/8), its events as a set of rows: beside
            # another column's condition (`event.code:4625 and source.ip:10.0.0.0/8`) the other's
            # index finds the rows and each is looked up in this set, where the column would be
            # computed from every document
            within = f"{column} >= ? AND {column} < ?"
            values = distinct_values(self.target.table, column, "kql_ip_in(v, ?)", within)
            return self.on_column(column, f"{column} IN ({values})", seeks=False)
        if octets:
            prefix = ".".join(str(network.network_address).split(".")[:octets])
            self.params.extend([prefix + ".*", raw])
            return self.on_column(column, f"({_rare(f'{column} GLOB ?')} AND kql_ip_in({column}, ?))")
        self.params.append(raw)
        return self.on_column(column, f"kql_ip_in({column}, ?)", seeks=False)

    def node(self, node: kql.Node) -> str:
        if isinstance(node, kql.And | kql.Or):
            joiner = " AND " if isinstance(node, kql.And) else " OR "
            return "(" + joiner.join(self.node(p) for p in node.parts) + ")"
        if isinstance(node, kql.Not):
            self.negated += 1
            part = self.node(node.part)
            self.negated -= 1
            return f"NOT coalesce({part}, 0)"  # a NULL comparison (no such field) is "not" too
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
            if column:
                return self.on_column(column, f"{column} IS NOT NULL")
            return self.each(node.field, "v.type != 'null'")
        if isinstance(node, kql.Wildcard) and column:
            self.params.append(glob_pattern(node.pattern))
            literal_start = bool(node.pattern) and isinstance(node.pattern[0], str) and node.pattern[0] != ""
            if literal_start or column not in (self.target.indexes or {}):
                return self.on_column(column, _rare(f"{column} GLOB ?"), seeks=literal_start)
            values = distinct_values(self.target.table, column, "v GLOB ?")
            return self.on_column(column, f"{column} IN ({values})")
        if isinstance(node, kql.Wildcard):
            first = self.words_first(node.field, pattern_words(node.pattern))
            check = self.each(
                node.field, f"{SCALAR} AND CAST(v.value AS TEXT) GLOB ?", glob_pattern(node.pattern)
            )
            return "(" + first + check + ")"
        if isinstance(node, kql.Range):
            return self.compare(node.field, kind, _OPS[node.op], node.value)
        return self.compare(node.field, kind, "=", node.value)


def compile_where(node: kql.Node, target: Target) -> tuple[str, list[Any]]:
    """A condition for `WHERE` and its parameters, in order."""
    compiler = _Compiler(target)
    return compiler.node(node), compiler.params
