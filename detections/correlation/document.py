"""A correlation document as parsed from one rule file, before its references are resolved.

Files are parsed (and cached) one by one, so a correlation's references to rules in other files can
only be resolved once the whole rule set is loaded (`detections.correlation.resolve`). This plain,
picklable record keeps what the resolution and the engine need from pySigma's parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationRule,
    SigmaExtendedCorrelationCondition,
)
from sigma.rule import SigmaRuleBase


def rule_meta(rule: SigmaRuleBase) -> dict[str, Any]:
    """The metadata every Sigma document has, as rules and correlations both keep it."""
    return {
        "id": str(rule.id),
        "name": rule.name,
        "title": rule.title,
        "level": str(rule.level.name).lower() if rule.level is not None else None,
        "status": str(rule.status.name).lower() if rule.status is not None else None,
        "author": rule.author,
        "description": rule.description,
        "references": list(rule.references),
        "tags": [f"{tag.namespace}.{tag.name}" for tag in rule.tags],
        "falsepositives": [str(f) for f in rule.falsepositives],
    }


@dataclass(frozen=True, slots=True)
class CorrelationDoc:
    """One Sigma correlation document (rule metadata + the `correlation:` section)."""

    id: str
    name: str | None
    title: str
    #: the rest of `rule_meta`: level, status, author, description, references, tags, falsepositives
    meta: dict[str, Any]
    path: str
    ruleset: str
    type: str
    rules: tuple[str, ...]
    generate: bool
    timespan_s: int
    group_by: tuple[str, ...]
    #: alias name -> {rule reference (id or name) -> field name in that rule's events}
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    #: operator (gt, gte, lt, lte, eq, neq) -> threshold; empty when `expression` is set
    condition: dict[str, int] = field(default_factory=dict)
    value_field: str | None = None
    percentile: int | None = None
    #: the extended (boolean) temporal condition, e.g. "a and (b or c)"
    expression: str | None = None


def parse_correlation(rule: SigmaCorrelationRule, path: str, ruleset: str) -> CorrelationDoc:
    """The plain record of a parsed correlation; the caller has checked `rule.errors` and `rule.id`."""
    condition: dict[str, int] = {}
    value_field: str | None = None
    percentile: int | None = None
    expression: str | None = None
    cond = rule.condition
    if isinstance(cond, SigmaExtendedCorrelationCondition):
        expression = cond.expression
    elif isinstance(cond, SigmaCorrelationCondition):
        condition[cond.op.name.lower()] = cond.count
        if isinstance(cond.fieldref, list):
            value_field = cond.fieldref[0] if len(cond.fieldref) == 1 else ",".join(cond.fieldref)
        else:
            value_field = cond.fieldref
        percentile = cond.percentile
    rules = tuple(ref.reference for ref in rule.rules or ())
    meta = rule_meta(rule)
    return CorrelationDoc(
        id=meta.pop("id"),
        name=meta.pop("name"),
        title=meta.pop("title"),
        meta=meta,
        path=path,
        ruleset=ruleset,
        type=rule.type.name.lower(),
        rules=rules,
        generate=bool(rule.generate),
        timespan_s=rule.timespan.seconds,
        group_by=tuple(rule.group_by or ()),
        aliases={
            alias.alias: {ref.reference: name for ref, name in alias.mapping.items()}
            for alias in rule.aliases
        },
        condition=condition,
        value_field=value_field,
        percentile=percentile,
        expression=expression,
    )
