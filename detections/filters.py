"""Sigma filters (the specification's meta filters) applied to the rules they name, after a match.

Two kinds of filter reach the engine, compiled the same way into the same matcher nodes:

- filter documents in the rule folders (`filter: {rules: [...], <selections>, condition}` with a
  logsource), compiled per file by `detections.loader.load_file` and cached with the rules;
- analysts' exceptions (`soc_core.exceptions`): Sigma filter documents kept in the store, which
  `detections.state.RuleWatcher` compiles with `compile_filter_yaml` and installs with
  `DetectionEngine.set_exceptions`.

Semantics are pySigma's (`SigmaFilter.apply_on_rule`): a filtered rule's condition becomes
`(rule condition) and (filter condition)`, so a match is kept only while every applicable filter's
condition holds on the event (filters are written `condition: not selection`). Evaluating filters
after the rule matched gives the same answer, and keeps the compiled rules (and their per-file
cache) independent of filters that may live in another file.

A filter of a category with a Security-log variant (process_creation, registry) is compiled with
that variant too (`pipelines.apply_pipelines`), so it also filters the rule's matches on 4688/4657.

A filter applies to a rule when the rule's logsource lies within the filter's (pySigma's `in`) and
the rule's id is listed in `rules` (or `rules: any`). References are resolved by rule id only: a
reference that names no loaded rule, or a rule whose logsource lies outside the filter's, is
reported (`FilterSet.unknown`, the engine's summary and log), never fatal.

An optional `expires` attribute (ISO date or time) stops a filter applying at that moment of the
wall clock at match time: what an analyst who wrote "until 31 December" expects, whatever the
event's own time (replayed or late events included).

A filter whose condition raises is counted and logged once, and the match is kept: a broken filter
must not hide alerts.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaLogSource, SigmaRule

from detections.compiler import CompileError, compile_rule
from detections.matchers import EventView, Node
from detections.pipelines import apply_pipelines

log = logging.getLogger(__name__)

EXPIRES_ATTRIBUTE = "expires"
"""The Sigma custom attribute (a top-level key) that ends a filter: an ISO date or date-time."""


class FilterError(Exception):
    """A filter document that cannot be applied; the loader quarantines it, the watcher skips it."""


@dataclass(slots=True)
class CompiledFilter:
    """One filter, compiled and picklable (it is cached with its file's rules)."""

    id: str
    title: str
    path: str
    rules: tuple[str, ...] | None  # rule ids; None: every rule of the logsource (`rules: any`)
    logsource: dict[str, str]
    condition: Node
    expires_at: datetime | None = None
    kind: str = "file"  # "file" (a rule folder's filter document) or "exception" (an analyst's)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def applies_to(self, rule_id: str, rule_logsource: dict[str, str]) -> bool:
        if self.rules is not None and rule_id not in self.rules:
            return False
        return _logsource(rule_logsource) in _logsource(self.logsource)


NOT_LOADED = "rule not loaded"
OUTSIDE_LOGSOURCE = "rule's logsource outside the filter's"


@dataclass(frozen=True, slots=True)
class UnknownTarget:
    """A filter naming a rule it cannot apply to: not loaded (a typo, a removed or quarantined rule),
    or whose logsource lies outside the filter's (the rule changed since the filter was written)."""

    filter_id: str
    path: str
    rule_id: str
    reason: str = NOT_LOADED

    def to_dict(self) -> dict[str, str]:
        return {
            "filter_id": self.filter_id,
            "path": self.path,
            "rule_id": self.rule_id,
            "reason": self.reason,
        }


def _logsource(doc: dict[str, str]) -> SigmaLogSource:
    return SigmaLogSource(
        category=doc.get("category"), product=doc.get("product"), service=doc.get("service")
    )


def _logsource_dict(ls: SigmaLogSource) -> dict[str, str]:
    items = (("product", ls.product), ("category", ls.category), ("service", ls.service))
    return {k: v for k, v in items if v is not None}


def parse_expiry(value: Any) -> datetime | None:
    """The `expires` attribute as an aware UTC time; a bare date ends at that day's midnight UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0), tzinfo=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise FilterError(f"{EXPIRES_ATTRIBUTE}: not an ISO date or time: {value!r}") from exc
    else:
        raise FilterError(f"{EXPIRES_ATTRIBUTE}: not an ISO date or time: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def compile_filter(
    sigma_filter: SigmaFilter, pipeline: ProcessingPipeline, *, path: str, kind: str = "file"
) -> CompiledFilter:
    """The filter's detection as a rule under the filter's logsource, through `pipeline`, compiled.

    Raises `FilterError` (or `SigmaError` / `CompileError`) for a filter that cannot be applied.
    """
    if sigma_filter.errors:
        raise FilterError(str(sigma_filter.errors[0]))
    if sigma_filter.id is None:
        raise FilterError("filter has no id: suppressed counts need a stable id")
    doc = sigma_filter.to_dict()
    detection = dict(doc["filter"])
    references = detection.pop("rules")
    rules = None if isinstance(references, str) else tuple(str(r) for r in references)
    rule = SigmaRule.from_dict(
        {
            "title": sigma_filter.title or str(sigma_filter.id),
            "id": str(sigma_filter.id),
            "logsource": doc["logsource"],
            "detection": detection,
        }
    )
    compiled = compile_rule(*apply_pipelines(rule, pipeline))  # a Security variant as its rules have
    return CompiledFilter(
        id=str(sigma_filter.id),
        title=sigma_filter.title,
        path=path,
        rules=rules,
        logsource=_logsource_dict(sigma_filter.logsource),
        condition=compiled.condition,
        expires_at=parse_expiry(sigma_filter.custom_attributes.get(EXPIRES_ATTRIBUTE)),
        kind=kind,
    )


def compile_filter_yaml(
    text: str, pipeline: ProcessingPipeline, *, path: str, kind: str = "exception"
) -> CompiledFilter:
    """One filter document given as YAML text (an analyst's exception as stored)."""
    try:
        collection = SigmaCollection.from_yaml(text, collect_filters=True, resolve_references=False)
    except SigmaError as exc:
        raise FilterError(f"not a Sigma document: {exc}") from exc
    if len(collection.filters) != 1 or collection.rules:
        raise FilterError("expected exactly one Sigma filter document")
    try:
        return compile_filter(collection.filters[0], pipeline, path=path, kind=kind)
    except (SigmaError, CompileError) as exc:
        raise FilterError(f"{type(exc).__name__}: {exc}") from exc


@dataclass(slots=True)
class FilterSet:
    """The filters of one rule set, by rule index, with what each suppressed.

    `suppressed` is shared with the engine across reloads and exception updates (counts per filter
    id, never reset), so a watcher can flush the difference since its last flush.
    """

    by_rule: list[tuple[CompiledFilter, ...] | None]
    unknown: list[UnknownTarget] = field(default_factory=list)
    filters: int = 0
    suppressed: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    _warned: set[str] = field(default_factory=set)

    @classmethod
    def build(
        cls,
        filters: Sequence[CompiledFilter],
        rules: Sequence[tuple[str, dict[str, str]]],
        *,
        suppressed: Counter[str] | None = None,
        errors: Counter[str] | None = None,
    ) -> FilterSet:
        """`rules` are (rule id, original logsource) in the engine's rule order."""
        index = {rule_id: i for i, (rule_id, _) in enumerate(rules)}
        attached: list[list[CompiledFilter]] = [[] for _ in rules]
        unknown: list[UnknownTarget] = []
        for flt in filters:
            if flt.rules is None:
                targets: Iterable[int] = range(len(rules))
            else:
                targets = []
                for rule_id in flt.rules:
                    if rule_id in index:
                        targets.append(index[rule_id])
                    else:
                        unknown.append(UnknownTarget(flt.id, flt.path, rule_id))
            for i in targets:
                rule_id, logsource = rules[i]
                if flt.applies_to(rule_id, logsource):
                    attached[i].append(flt)
                elif flt.rules is not None:  # named, yet out of reach: say so (`any` just skips)
                    unknown.append(UnknownTarget(flt.id, flt.path, rule_id, OUTSIDE_LOGSOURCE))
        return cls(
            by_rule=[tuple(a) if a else None for a in attached],
            unknown=unknown,
            filters=len(filters),
            suppressed=suppressed if suppressed is not None else Counter(),
            errors=errors if errors is not None else Counter(),
        )

    def rejecting(self, filters: tuple[CompiledFilter, ...] | None, view: EventView) -> tuple[str, ...]:
        """The ids of the live filters that reject the event (counting nothing: for explanations)."""
        now = datetime.now(UTC)
        out: list[str] = []
        for flt in filters or ():
            try:
                if not flt.expired(now) and not flt.condition.match(view):
                    out.append(flt.id)
            except Exception:  # as in `keep`: a broken filter rejects nothing
                continue
        return tuple(out)

    def keep(self, filters: tuple[CompiledFilter, ...], view: EventView) -> bool:
        """False when one of the rule's live filters rejects the event (counted for that filter)."""
        now: datetime | None = None
        for flt in filters:
            if flt.expires_at is not None:
                now = now or datetime.now(UTC)
                if flt.expired(now):
                    continue
            try:
                holds = flt.condition.match(view)
            except Exception as exc:  # a broken filter keeps the alert: count, log once
                self.errors[flt.id] += 1
                if flt.id not in self._warned:
                    self._warned.add(flt.id)
                    log.warning(
                        "filter raised, match kept filter_id=%s path=%s error=%r", flt.id, flt.path, exc
                    )
                continue
            if not holds:
                self.suppressed[flt.id] += 1
                return False
        return True


__all__ = [
    "EXPIRES_ATTRIBUTE",
    "CompiledFilter",
    "FilterError",
    "FilterSet",
    "UnknownTarget",
    "compile_filter",
    "compile_filter_yaml",
    "parse_expiry",
]
