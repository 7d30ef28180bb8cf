"""Bind correlation documents to the loaded rule set: references, field names, `generate`.

Run by `DetectionEngine` whenever it installs a rule set (cheap: field mappings are cached). A
correlation that cannot run is quarantined with its reason, never half-loaded:

- a reference (rule id or `name`) that names no loaded rule or correlation, or names several;
- a cycle of correlations referencing each other;
- a condition the engine does not evaluate (several value fields, a temporal `not`, an ordered
  temporal correlation with a partial count, a percentile outside 0..100);
- a group-by field of a chained correlation that the inner correlation does not group by.

`generate` (Sigma: default false): a rule referenced only by correlations with `generate: false`
raises no alerts of its own, it only feeds them (`Resolution.silent`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sigma.correlations import (
    CorrelationConditionAND,
    CorrelationConditionItem,
    CorrelationConditionNOT,
    SigmaExtendedCorrelationCondition,
    SigmaRuleReference,
)

from detections.correlation.document import CorrelationDoc
from detections.correlation.fields import map_fields
from detections.correlation.model import (
    AGGREGATE_TYPES,
    Condition,
    Correlation,
    CorrelationType,
    Expr,
    Source,
)
from detections.loader import QuarantinedRule, RuleInfo


class Unsupported(Exception):
    """A correlation the engine cannot run; the message is the quarantine reason."""


@dataclass(slots=True)
class Resolution:
    correlations: list[Correlation] = field(default_factory=list)
    quarantined: list[QuarantinedRule] = field(default_factory=list)
    #: rule or correlation id -> the correlations reading its hits
    readers: dict[str, list[Correlation]] = field(default_factory=dict)
    #: ids whose own alerts are suppressed (referenced, and no reader says `generate: true`)
    silent: frozenset[str] = frozenset()

    def by_id(self) -> dict[str, Correlation]:
        return {c.id: c for c in self.correlations}


def resolve(docs: Sequence[CorrelationDoc], rules: Iterable[RuleInfo]) -> Resolution:
    """Compile every correlation against `rules` (ids must be unique there already)."""
    out = Resolution()
    rule_by_id: dict[str, RuleInfo] = {}
    names: dict[str, list[str]] = {}
    for info in rules:
        rule_by_id[info.id] = info
        if info.name:
            names.setdefault(info.name, []).append(info.id)
    doc_by_id: dict[str, CorrelationDoc] = {}
    for doc in docs:
        if doc.id in rule_by_id or doc.id in doc_by_id:
            out.quarantined.append(_quarantine(doc, "duplicate rule id (a rule or correlation has it)"))
            continue
        doc_by_id[doc.id] = doc
        if doc.name:
            names.setdefault(doc.name, []).append(doc.id)
    compiled: dict[str, Correlation] = {}
    failed: dict[str, str] = {}

    def build(doc: CorrelationDoc, stack: tuple[str, ...]) -> Correlation:
        if doc.id in compiled:
            return compiled[doc.id]
        if doc.id in failed:
            raise Unsupported(failed[doc.id])
        if doc.id in stack:
            raise Unsupported("correlations reference each other in a cycle")
        try:
            correlation = _compile(
                doc, rule_by_id, doc_by_id, names, compiled, lambda d: build(d, (*stack, doc.id))
            )
        except Unsupported as exc:
            failed[doc.id] = str(exc)
            raise
        compiled[doc.id] = correlation
        return correlation

    for doc in doc_by_id.values():
        try:
            build(doc, ())
        except Unsupported as exc:
            out.quarantined.append(_quarantine(doc, str(exc)))
    out.correlations = list(compiled.values())
    generated: set[str] = set()
    referenced: set[str] = set()
    for correlation in out.correlations:
        for source in correlation.sources:
            readers = out.readers.setdefault(source.rule_id, [])
            if correlation not in readers:
                readers.append(correlation)
            referenced.add(source.rule_id)
            if correlation.generate:
                generated.add(source.rule_id)
    out.silent = frozenset(referenced - generated)
    return out


def _quarantine(doc: CorrelationDoc, reason: str) -> QuarantinedRule:
    return QuarantinedRule(doc.path, doc.id, doc.title, f"correlation: {reason}")


def _lookup(
    ref: str,
    rule_by_id: dict[str, RuleInfo],
    doc_by_id: dict[str, CorrelationDoc],
    names: dict[str, list[str]],
) -> str:
    if ref in rule_by_id or ref in doc_by_id:
        return ref
    ids = names.get(ref, [])
    if len(ids) > 1:
        raise Unsupported(f"reference {ref!r} is ambiguous: {len(ids)} rules have that name")
    if not ids:
        raise Unsupported(f"reference {ref!r} names no loaded rule (unknown, quarantined or skipped)")
    return ids[0]


def _compile(
    doc: CorrelationDoc,
    rule_by_id: dict[str, RuleInfo],
    doc_by_id: dict[str, CorrelationDoc],
    names: dict[str, list[str]],
    compiled: dict[str, Correlation],
    build_inner: object,
) -> Correlation:
    kind = CorrelationType(doc.type)
    refs = list(doc.rules)
    expression: Expr | None = None
    if doc.expression is not None:
        parsed = SigmaExtendedCorrelationCondition(doc.expression).parsed
        if not refs:
            refs = SigmaExtendedCorrelationCondition(doc.expression).get_referenced_rules()
        if kind is CorrelationType.TEMPORAL_ORDERED:
            raise Unsupported("an extended (boolean) condition on temporal_ordered is not supported")
        expression = _expr(parsed, refs)
    if not refs:
        raise Unsupported("no rules referenced")
    ids = [_lookup(ref, rule_by_id, doc_by_id, names) for ref in refs]
    condition = Condition(tuple(sorted(doc.condition.items())))
    if expression is None and not condition.bounds:
        raise Unsupported("no condition")
    if kind is CorrelationType.TEMPORAL_ORDERED and condition.bounds != (("gte", len(refs)),):
        raise Unsupported("temporal_ordered supports only its default condition (all rules, in order)")
    needs_value = kind is CorrelationType.VALUE_COUNT or kind in AGGREGATE_TYPES
    if needs_value and (not doc.value_field or "," in doc.value_field):
        raise Unsupported("the condition needs exactly one `field`")
    if kind is CorrelationType.VALUE_PERCENTILE and not (
        doc.percentile is not None and 0 <= doc.percentile <= 100
    ):
        raise Unsupported("value_percentile needs `percentile` between 0 and 100")
    alias_refs: dict[str, dict[str, str]] = {}
    for alias, mapping in doc.aliases.items():
        alias_refs[alias] = {}
        for ref, name in mapping.items():
            target = _lookup(ref, rule_by_id, doc_by_id, names)
            if target not in ids:
                raise Unsupported(f"alias {alias!r} names {ref!r}, which the correlation does not reference")
            alias_refs[alias][target] = name
    sources: list[Source] = []
    for ref, rule_id in zip(refs, ids, strict=True):
        wanted = tuple(alias_refs.get(name, {}).get(rule_id, name) for name in doc.group_by)
        if rule_id in doc_by_id:
            inner: Correlation = build_inner(doc_by_id[rule_id])  # type: ignore[operator]
            missing = [name for name in wanted if name not in inner.group_by]
            if missing:
                raise Unsupported(f"group-by {missing[0]!r} is not a group-by field of correlation {ref!r}")
            if needs_value:
                raise Unsupported(
                    f"a value condition cannot read correlation {ref!r} (it has no event fields)"
                )
            sources.append(Source(ref, rule_id, True, tuple((name,) for name in wanted)))
            continue
        info = rule_by_id[rule_id]
        logsource = tuple(sorted(info.logsource.items()))
        group_fields = map_fields(logsource, wanted)
        value_fields: tuple[str, ...] = ()
        if needs_value and doc.value_field:
            value_name = alias_refs.get(doc.value_field, {}).get(rule_id, doc.value_field)
            (value_fields,) = map_fields(logsource, (value_name,))
        sources.append(Source(ref, rule_id, False, group_fields, value_fields))
    positions: dict[str, tuple[int, ...]] = {}
    for i, source in enumerate(sources):
        positions[source.rule_id] = (*positions.get(source.rule_id, ()), i)
    return Correlation(
        id=doc.id,
        title=doc.title,
        type=kind,
        timespan_s=doc.timespan_s,
        group_by=doc.group_by,
        sources=tuple(sources),
        condition=condition,
        generate=doc.generate,
        level=doc.meta["level"],
        author=doc.meta["author"],
        description=doc.meta["description"],
        references=tuple(doc.meta["references"]),
        tags=tuple(doc.meta["tags"]),
        ruleset=doc.ruleset,
        path=doc.path,
        name=doc.name,
        percentile=doc.percentile,
        expression=expression,
        positions=positions,
    )


def _expr(node: CorrelationConditionItem | SigmaRuleReference, refs: list[str]) -> Expr:
    if isinstance(node, SigmaRuleReference):
        if node.reference not in refs:
            raise Unsupported(f"condition names {node.reference!r}, which is not in `rules`")
        return refs.index(node.reference)
    if isinstance(node, CorrelationConditionNOT):
        raise Unsupported("`not` in a temporal condition (absence of an event) is not supported")
    op = "and" if isinstance(node, CorrelationConditionAND) else "or"
    return (op, tuple(_expr(arg, refs) for arg in node.args))
