"""The compiled correlation: what the engine needs, with every field name already mapped.

Built by `detections.correlation.resolve` from a `CorrelationDoc` once the whole rule set is
loaded. Plain frozen dataclasses: cheap to compare, picklable, shared by all group windows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias


class CorrelationType(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    VALUE_PERCENTILE = "value_percentile"
    VALUE_MEDIAN = "value_median"


#: Types whose condition tests an aggregate of `condition.field` (decided when the window closes).
AGGREGATE_TYPES = frozenset(
    {
        CorrelationType.VALUE_SUM,
        CorrelationType.VALUE_AVG,
        CorrelationType.VALUE_PERCENTILE,
        CorrelationType.VALUE_MEDIAN,
    }
)
TEMPORAL_TYPES = frozenset({CorrelationType.TEMPORAL, CorrelationType.TEMPORAL_ORDERED})

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
#: Conditions made of these only can fire as soon as they hold: a count never decreases in a window.
LOWER_BOUNDS = frozenset({"gt", "gte"})


@dataclass(frozen=True, slots=True)
class Condition:
    """One operator or a range (`gt: 100` + `lte: 200`: every bound must hold)."""

    bounds: tuple[tuple[str, int], ...]

    def holds(self, value: float) -> bool:
        return all(OPERATORS[op](value, limit) for op, limit in self.bounds)

    @property
    def lower_bound_only(self) -> bool:
        return all(op in LOWER_BOUNDS for op, _ in self.bounds)


#: An extended temporal condition: a rule's position in `sources`, or ("and"|"or", operands).
Expr: TypeAlias = int | tuple[str, tuple["Expr", ...]]


def evaluate(expr: Expr, present: Callable[[int], bool]) -> bool:
    if isinstance(expr, int):
        return present(expr)
    op, args = expr
    if op == "and":
        return all(evaluate(a, present) for a in args)
    return any(evaluate(a, present) for a in args)


@dataclass(frozen=True, slots=True)
class Source:
    """A rule the correlation reads, and where its events keep the correlation's fields.

    `group_fields[i]` lists the flat event fields holding group-by value i, in order of preference
    (a mapped field may have two spellings, e.g. Defender's "Threat Name"/"ThreatName").
    """

    ref: str
    rule_id: str
    is_correlation: bool
    group_fields: tuple[tuple[str, ...], ...]
    value_fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Correlation:
    id: str
    title: str
    type: CorrelationType
    timespan_s: int
    group_by: tuple[str, ...]
    sources: tuple[Source, ...]
    condition: Condition
    generate: bool
    level: str | None = None
    author: str | None = None
    description: str | None = None
    references: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    ruleset: str = ""
    path: str = ""
    name: str | None = None
    percentile: int | None = None
    expression: Expr | None = None
    #: positions in `sources` per rule id (a rule may be listed twice in a temporal_ordered)
    positions: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)

    @property
    def eager(self) -> bool:
        """Fires as soon as its condition holds (sliding window); otherwise when its window closes."""
        if self.type in AGGREGATE_TYPES:
            return False
        return self.expression is not None or self.condition.lower_bound_only
