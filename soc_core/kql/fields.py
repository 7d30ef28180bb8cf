"""Which fields a search may name, and what kind of value each holds.

Both stores read this, so a query means the same everywhere: a field Elasticsearch does not index
(its mappings are `dynamic: false`) is refused on SQLite too, with the same message, and values are
read as numbers, instants or addresses in the same places. `check` refuses what no store can
answer (a wildcard on a number) at the value's position.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from soc_core.ecs_fields import EVENT_FIELD_MAPPINGS
from soc_core.errors import QueryError
from soc_core.kql.ast import And, Exists, Glob, Match, MatchAll, Node, Not, Or, Range, Text, Wildcard


class Kind(StrEnum):
    KEYWORD = "keyword"
    """Exact text: `=` is byte for byte, ranges compare as text, wildcards allowed."""
    NUMBER = "number"
    DATE = "date"
    IP = "ip"
    """An address: `field:10.0.0.0/8` matches a network."""


@dataclass(frozen=True)
class Schema:
    fields: Mapping[str, Kind]
    flattened: frozenset[str] = frozenset()
    """Objects whose every sub-key is a keyword (`winlog.event_data.TargetUserName`)."""
    object_lists: frozenset[str] = frozenset()
    """Lists of objects (`threat`): `threat.technique.id` is any element's technique id."""

    def kind(self, field: str) -> Kind | None:
        if field in self.fields:
            return self.fields[field]
        if self.is_flattened(field):
            return Kind.KEYWORD
        return None

    def is_flattened(self, field: str) -> bool:
        """A key inside a flattened object: Elasticsearch answers a wildcard there only as a prefix."""
        return field not in self.fields and any(
            field == root or field.startswith(root + ".") for root in self.flattened
        )


def prefix_of(pattern: tuple[str | Glob, ...]) -> str | None:
    """`Admin*` -> `Admin`; None when the pattern is more than a prefix."""
    if len(pattern) == 2 and isinstance(pattern[0], str) and pattern[1] is Glob.ANY:
        return pattern[0]
    return None


def _under(prefix: str, *names: str) -> list[str]:
    return [f"{prefix}.{name}" for name in names]


def _kinds(kind: Kind, *names: str) -> dict[str, Kind]:
    return dict.fromkeys(names, kind)


#: Where a record came from, on events and alerts alike.
SOC_KEYWORDS = [
    *_under("soc.unit", "id", "name"),
    *_under("soc.system", "id", "name"),
    *_under("soc.source", "id", "format"),
]

#: ECS mapping type -> the kind of value KQL reads. `boolean` is not searchable by field (SQLite
#: keeps JSON `true` as 1, Elasticsearch answers "true": the two would disagree); `object` types
#: are containers, not values.
ECS_KINDS: dict[str, Kind] = {
    "keyword": Kind.KEYWORD,
    "wildcard": Kind.KEYWORD,
    "constant_keyword": Kind.KEYWORD,
    "match_only_text": Kind.KEYWORD,
    "text": Kind.KEYWORD,
    "long": Kind.NUMBER,
    "float": Kind.NUMBER,
    "scaled_float": Kind.NUMBER,
    "date": Kind.DATE,
    "ip": Kind.IP,
}


def _event_schema() -> Schema:
    """Every event field the store indexes (`soc_core.ecs_fields`, generated from ECS), by kind."""
    fields: dict[str, Kind] = {}
    flattened: set[str] = set()
    for name, spec in EVENT_FIELD_MAPPINGS.items():
        if spec["type"] == "flattened":
            flattened.add(name)
        elif spec.get("index") is not False and spec["type"] in ECS_KINDS:
            fields[name] = ECS_KINDS[spec["type"]]
    return Schema(fields, frozenset(flattened))


EVENT_FIELDS = _event_schema()

ALERT_FIELDS = Schema(
    {
        **_kinds(
            Kind.DATE,
            "@timestamp",
            "first_seen",
            "last_seen",
            "created_at",
            "triage.updated_at",
            "triage.acknowledged_at",
            "triage.resolved_at",
        ),
        **_kinds(Kind.NUMBER, "count", "soc.system.level"),
        **_kinds(
            Kind.KEYWORD,
            "id",
            "kind",
            "severity",
            "checklist",
            "host_name",
            "user_name",
            "event_ids",
            "matched",
            "group",
            *_under("rule", "id", "name", "author", "level", "tags", "ruleset"),
            "threat.framework",
            "threat.tactic.id",
            "threat.tactic.name",
            "threat.technique.id",
            "threat.technique.name",
            *SOC_KEYWORDS,
            "triage.status",
            "triage.assignee",
            "triage.tags",
            "triage.incident_id",
        ),
    },
    frozenset({"soc.evidence"}),
    frozenset({"threat"}),
)


def utc_instant(value: str) -> datetime:
    """`2026-01-31`, `2026-01-31T08:00`, `...+07:00` or `...Z` as an aware UTC time (naive is UTC)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def number(value: str) -> int | float:
    try:
        return int(value)
    except ValueError:
        return float(value)


def _check_value(kind: Kind, node: Match | Range, query: str) -> None:
    try:
        if kind is Kind.NUMBER:
            number(node.value)
        elif kind is Kind.DATE:
            utc_instant(node.value)
        elif kind is Kind.IP and isinstance(node, Match):
            ipaddress.ip_network(node.value, strict=False)
    except ValueError:
        example = {
            Kind.NUMBER: "a number (4624, 1.5)",
            Kind.DATE: "a date (2026-01-31 or 2026-01-31T08:00:00+07:00)",
            Kind.IP: "an IP address or network (10.0.0.1, 10.0.0.0/8)",
        }[kind]
        raise QueryError(
            f"{node.field} holds {kind.value}s: {node.value!r} is not {example}",
            query=query,
            offset=node.at,
            expected=(example,),
        ) from None


def check(node: Node, schema: Schema, query: str) -> Node:
    """`node` if every field it names is searchable and every value fits its field's kind."""
    todo: list[Node] = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, And | Or):
            todo.extend(item.parts)
            continue
        if isinstance(item, Not):
            todo.append(item.part)
            continue
        if isinstance(item, Text | MatchAll):
            continue
        kind = schema.kind(item.field)
        if kind is None:
            close = difflib.get_close_matches(item.field, list(schema.fields), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise QueryError(
                f"{item.field} is not a field this search knows{hint}",
                query=query,
                offset=item.at,
                expected=tuple(close),
            )
        if isinstance(item, Wildcard) and kind is not Kind.KEYWORD:
            raise QueryError(
                f"{item.field} holds {kind.value}s: wildcards work only on text fields"
                + (" (an IP field takes a network: 10.0.0.0/8)" if kind is Kind.IP else ""),
                query=query,
                offset=item.at,
            )
        if isinstance(item, Wildcard) and schema.is_flattened(item.field) and prefix_of(item.pattern) is None:
            raise QueryError(
                f"in {item.field} a wildcard can only end the value (Admin*)", query=query, offset=item.at
            )
        if isinstance(item, Range) and kind is Kind.IP:
            raise QueryError(
                f"{item.field} holds IP addresses: use a network (10.0.0.0/8) instead of a range",
                query=query,
                offset=item.at,
            )
        if isinstance(item, Match | Range):
            _check_value(kind, item, query)
        elif not isinstance(item, Exists | Wildcard):  # pragma: no cover - every node kind is above
            raise TypeError(item)
    return node
