"""Load Sigma rule sets from folders: parse with pySigma, apply our pipeline, compile, quarantine.

A Windows rule of a category the Security log also records (process_creation, registry) is put
through `security_pipeline` too, from a copy of the parsed rule, and both variants are compiled
into the one rule (`compile_rule(rule, variant)`): it fires on Sysmon and on Security 4688/4657.

One bad rule never stops the others: a file that is not YAML, a rule pySigma rejects, a regex RE2
cannot run, a modifier we do not support... each becomes a `QuarantinedRule` with the reason, and
loading goes on. `status: deprecated` / `unsupported` rules are skipped and counted, and so are
documents that are not detection rules. Filter documents (Sigma meta filters) are compiled like
rules into `FileResult.filters`; the engine applies them to their target rules after a match
(`detections.filters`), so a filter may live in another file than its rules. Correlation documents
are parsed into `FileResult.correlations`; their references are resolved across the whole rule set
when the engine installs the files (`detections.correlation.resolve`).

Work is done per file and the result keyed by a hash of the file's bytes (not its path: the same
corpus reached as `../shared/data/sigma` or `/work/shared/data/sigma` is the same work), so the
on-disk cache (`detections.cache`) and `DetectionEngine.reload()` only recompile the files that
changed; `rebind` gives a cached result the path and ruleset of the file it is used for.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from detections.compiler import CompiledRule, CompileError, compile_rule
from detections.correlation.document import CorrelationDoc, parse_correlation, rule_meta
from detections.filters import CompiledFilter, FilterError, compile_filter
from detections.pipelines import apply_pipelines, is_routed, socpipe_pipeline

log = logging.getLogger(__name__)

SKIPPED_STATUSES = frozenset({"deprecated", "unsupported"})


@dataclass(frozen=True, slots=True)
class QuarantinedRule:
    """A rule (or a whole file) that could not be loaded, and why."""

    path: str
    rule_id: str | None
    title: str | None
    reason: str


@dataclass(slots=True)
class RuleInfo:
    """Rule metadata for alerts, the API and the console (authors kept visible: DRL 1.1)."""

    id: str
    title: str
    level: str | None
    status: str | None
    author: str | None
    description: str | None
    references: list[str]
    tags: list[str]
    logsource: dict[str, str]
    path: str
    ruleset: str
    enabled: bool = True
    #: Why the rule is never dispatched (no telemetry for its logsource), or None when routed.
    dormant: str | None = None
    falsepositives: list[str] = field(default_factory=list)
    #: The rule's Sigma `name`, by which correlation rules may reference it.
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "level": self.level,
            "status": self.status,
            "author": self.author,
            "description": self.description,
            "references": list(self.references),
            "tags": list(self.tags),
            "logsource": dict(self.logsource),
            "path": self.path,
            "ruleset": self.ruleset,
            "enabled": self.enabled,
            "dormant": self.dormant,
            "falsepositives": list(self.falsepositives),
            "name": self.name,
        }


@dataclass(slots=True)
class LoadedRule:
    info: RuleInfo
    compiled: CompiledRule


@dataclass(slots=True)
class FileResult:
    """Everything one rule file produced; the unit of caching and reloading."""

    key: str
    rules: list[LoadedRule] = field(default_factory=list)
    quarantined: list[QuarantinedRule] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    correlations: list[CorrelationDoc] = field(default_factory=list)
    filters: list[CompiledFilter] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RuleFile:
    path: Path
    ruleset: str
    key: str
    text: bytes


def discover(folders: Iterable[Path]) -> Iterator[RuleFile]:
    """Every `*.yml`/`*.yaml` under the folders (or the files given), in a stable order."""
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            paths = [folder]
            ruleset = folder.parent.name
        else:
            paths = sorted(p for p in folder.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
            ruleset = folder.name
        for path in paths:
            data = path.read_bytes()
            key = hashlib.blake2b(data, digest_size=20).hexdigest()
            yield RuleFile(path=path, ruleset=ruleset, key=key, text=data)


def rebind(result: FileResult, rule_file: RuleFile) -> FileResult:
    """A cached result for `rule_file`'s content, showing `rule_file`'s own path and ruleset.

    Results are keyed by content, so the same rules reached by another path spelling (or copied
    elsewhere) are not recompiled; what the rules say about where they live is rewritten instead.
    The result is returned as is when it already names this file."""
    path, ruleset = str(rule_file.path), rule_file.ruleset
    if (
        all(r.info.path == path and r.info.ruleset == ruleset for r in result.rules)
        and all(q.path == path for q in result.quarantined)
        and all(f.path == path for f in result.filters)
    ):
        return result
    rules = [LoadedRule(replace(r.info, path=path, ruleset=ruleset), r.compiled) for r in result.rules]
    quarantined = [replace(q, path=path) for q in result.quarantined]
    filters = [replace(f, path=path) for f in result.filters]
    return replace(result, rules=rules, quarantined=quarantined, filters=filters)


@cache
def _pipeline() -> ProcessingPipeline:
    """One pipeline instance: `apply` resets its per-rule state, and building it costs ~10 ms."""
    return socpipe_pipeline()


def _info(rule: SigmaRule, rule_file: RuleFile) -> RuleInfo:
    ls = rule.logsource
    logsource = {
        k: v
        for k, v in (("product", ls.product), ("category", ls.category), ("service", ls.service))
        if v is not None
    }
    return RuleInfo(
        **rule_meta(rule), logsource=logsource, path=str(rule_file.path), ruleset=rule_file.ruleset
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def load_file(rule_file: RuleFile) -> FileResult:
    """Parse, map and compile every rule in one file. Never raises for bad rule content."""
    result = FileResult(key=rule_file.key)
    path = str(rule_file.path)
    try:
        text = rule_file.text.decode("utf-8")
        # Files are parsed one by one (that is what makes caching and reload per file), so a
        # correlation's references to rules in other files are not resolved here (the engine does,
        # over the whole set), and filters are collected and compiled on their own: the engine
        # attaches them to their rules.
        documents = list(yaml.safe_load_all(text))
        ranges = _range_conditions(documents)
        collection = SigmaCollection.from_dicts(
            documents, collect_errors=True, collect_filters=True, resolve_references=False
        )
    except (SigmaError, UnicodeDecodeError, ValueError) as exc:
        result.quarantined.append(QuarantinedRule(path, None, None, _reason(exc)))
        return result
    except Exception as exc:  # PyYAML raises its own YAMLError tree; keep it a quarantine, named
        result.quarantined.append(QuarantinedRule(path, None, None, f"not loadable YAML: {_reason(exc)}"))
        return result
    for error in collection.errors:
        result.quarantined.append(QuarantinedRule(path, None, None, _reason(error)))
    for sigma_filter in collection.filters:
        _load_filter(sigma_filter, rule_file, result)
    for item in collection.rules:
        if isinstance(item, SigmaCorrelationRule):
            _load_correlation(item, rule_file, result, ranges)
            continue
        if isinstance(item, SigmaFilter):  # collect_filters=True puts them in .filters; kept for safety
            _load_filter(item, rule_file, result)
            continue
        if not isinstance(item, SigmaRule):
            result.skipped[f"{type(item).__name__} (not a detection)"] += 1
            continue
        _load_rule(item, rule_file, result)
    return result


def _admitted(rule: SigmaRule | SigmaCorrelationRule, rule_file: RuleFile, result: FileResult) -> bool:
    """Whether a parsed document is loaded: no parse error, an id, a status that is not skipped."""
    path = str(rule_file.path)
    rule_id = str(rule.id) if rule.id is not None else None
    title = rule.title or None
    if rule.errors:
        result.quarantined.append(QuarantinedRule(path, rule_id, title, _reason(rule.errors[0])))
        return False
    if rule_id is None:
        result.quarantined.append(
            QuarantinedRule(path, None, title, "rule has no id: alerts need a stable id")
        )
        return False
    status = str(rule.status.name).lower() if rule.status is not None else None
    if status in SKIPPED_STATUSES:
        result.skipped[f"status {status}"] += 1
        return False
    return True


def _load_rule(rule: SigmaRule, rule_file: RuleFile, result: FileResult) -> None:
    if not _admitted(rule, rule_file, result):
        return
    path = str(rule_file.path)
    rule_id = str(rule.id)
    title = rule.title or None
    info = _info(rule, rule_file)
    try:
        compiled = compile_rule(*apply_pipelines(rule, _pipeline()))  # with its Security variant
    except (SigmaError, CompileError) as exc:
        result.quarantined.append(QuarantinedRule(path, rule_id, title, _reason(exc)))
        return
    except Exception as exc:  # a pySigma bug on one rule must not stop the corpus: quarantine, named
        log.warning("rule compile failed unexpectedly path=%s rule_id=%s error=%r", path, rule_id, exc)
        result.quarantined.append(QuarantinedRule(path, rule_id, title, f"internal error: {_reason(exc)}"))
        return
    if not is_routed(rule):
        info.dormant = "no telemetry mapped for logsource " + (
            " ".join(f"{k}={v}" for k, v in info.logsource.items()) or "(empty)"
        )
    result.rules.append(LoadedRule(info, compiled))


def _range_conditions(documents: list[Any]) -> dict[str, dict[str, int]]:
    """Range conditions (`gt: 100` + `lte: 200`) of correlation documents, by correlation id.

    The Sigma specification allows a range; pySigma 1.5 accepts one operator only and raises for the
    whole file otherwise. The range is taken out here (pySigma sees its first operator) and kept.
    """
    ranges: dict[str, dict[str, int]] = {}
    for doc in documents:
        section = doc.get("correlation") if isinstance(doc, dict) else None
        if not isinstance(section, dict) or not isinstance(condition := section.get("condition"), dict):
            continue
        ops = {k: v for k, v in condition.items() if k in ("gt", "gte", "lt", "lte", "eq", "neq")}
        if len(ops) > 1 and all(isinstance(v, int) and not isinstance(v, bool) for v in ops.values()):
            first = next(iter(ops))
            section["condition"] = {k: v for k, v in condition.items() if k not in ops or k == first}
            ranges[str(doc.get("id"))] = ops
    return ranges


def _load_correlation(
    rule: SigmaCorrelationRule, rule_file: RuleFile, result: FileResult, ranges: dict[str, dict[str, int]]
) -> None:
    if not _admitted(rule, rule_file, result):
        return
    doc = parse_correlation(rule, str(rule_file.path), rule_file.ruleset)
    if doc.id in ranges:
        doc = replace(doc, condition=ranges[doc.id])
    result.correlations.append(doc)


def _load_filter(sigma_filter: SigmaFilter, rule_file: RuleFile, result: FileResult) -> None:
    """Compile one filter document with the rules' pipeline, under the filter's own logsource."""
    path = str(rule_file.path)
    filter_id = str(sigma_filter.id) if sigma_filter.id is not None else None
    title = sigma_filter.title or None
    if sigma_filter.errors:  # already quarantined from `collection.errors`, with pySigma's message
        return
    try:
        result.filters.append(compile_filter(sigma_filter, _pipeline(), path=path))
    except (SigmaError, CompileError, FilterError) as exc:
        result.quarantined.append(QuarantinedRule(path, filter_id, title, f"filter: {_reason(exc)}"))
    except Exception as exc:  # same boundary as a rule: a pySigma bug on one filter is quarantined
        log.warning("filter compile failed unexpectedly path=%s filter_id=%s error=%r", path, filter_id, exc)
        result.quarantined.append(
            QuarantinedRule(path, filter_id, title, f"filter: internal error: {_reason(exc)}")
        )
