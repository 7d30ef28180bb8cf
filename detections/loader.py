"""Load Sigma rule sets from folders: parse with pySigma, apply our pipeline, compile, quarantine.

A Windows rule of a category the Security log also records (process_creation, registry) is put
through `security_pipeline` too, from a copy of the parsed rule, and both variants are compiled
into the one rule (`compile_rule(rule, variant)`): it fires on Sysmon and on Security 4688/4657.

One bad rule never stops the others: a file that is not YAML, a rule pySigma rejects, a regex RE2
cannot run, a modifier we do not support... each becomes a `QuarantinedRule` with the reason, and
loading goes on. `status: deprecated` / `unsupported` rules are skipped and counted, and so are
documents that are not detection rules (correlation rules and filters; both could be supported
later: correlations by the scheduler, filters by merging them into their target rules).

Work is done per file and the result keyed by a hash of the file's path and bytes, so the on-disk
cache (`detections.cache`) and `DetectionEngine.reload()` only recompile the files that changed.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from detections.compiler import CompiledRule, CompileError, compile_rule
from detections.pipelines import has_security_variant, is_routed, security_pipeline, socpipe_pipeline

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
            digest = hashlib.blake2b(digest_size=20)
            digest.update(str(path).encode())
            digest.update(b"\x00")
            digest.update(data)
            yield RuleFile(path=path, ruleset=ruleset, key=digest.hexdigest(), text=data)


@cache
def _pipeline() -> ProcessingPipeline:
    """One pipeline instance: `apply` resets its per-rule state, and building it costs ~10 ms."""
    return socpipe_pipeline()


@cache
def _security_pipeline() -> ProcessingPipeline:
    return security_pipeline()


def _tag_names(rule: SigmaRule) -> list[str]:
    return [f"{tag.namespace}.{tag.name}" for tag in rule.tags]


def _info(rule: SigmaRule, rule_file: RuleFile) -> RuleInfo:
    ls = rule.logsource
    logsource = {
        k: v
        for k, v in (("product", ls.product), ("category", ls.category), ("service", ls.service))
        if v is not None
    }
    return RuleInfo(
        id=str(rule.id),
        title=rule.title,
        level=str(rule.level.name).lower() if rule.level is not None else None,
        status=str(rule.status.name).lower() if rule.status is not None else None,
        author=rule.author,
        description=rule.description,
        references=list(rule.references),
        tags=_tag_names(rule),
        logsource=logsource,
        path=str(rule_file.path),
        ruleset=rule_file.ruleset,
        falsepositives=[str(f) for f in rule.falsepositives],
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
        # correlation's references to rules in other files are not resolved here, and filters are
        # collected rather than applied: both are skipped and counted below.
        collection = SigmaCollection.from_yaml(
            text, collect_errors=True, collect_filters=True, resolve_references=False
        )
    except (SigmaError, UnicodeDecodeError, ValueError) as exc:
        result.quarantined.append(QuarantinedRule(path, None, None, _reason(exc)))
        return result
    except Exception as exc:  # PyYAML raises its own YAMLError tree; keep it a quarantine, named
        result.quarantined.append(QuarantinedRule(path, None, None, f"not loadable YAML: {_reason(exc)}"))
        return result
    for error in collection.errors:
        result.quarantined.append(QuarantinedRule(path, None, None, _reason(error)))
    filters = len(collection.filters)
    if filters:
        result.skipped["filter document (not supported yet)"] += filters
    for item in collection.rules:
        if isinstance(item, SigmaCorrelationRule):
            result.skipped["correlation rule (not a detection)"] += 1
            continue
        if isinstance(item, SigmaFilter):
            result.skipped["filter document (not supported yet)"] += 1
            continue
        if not isinstance(item, SigmaRule):
            result.skipped[f"{type(item).__name__} (not a detection)"] += 1
            continue
        _load_rule(item, rule_file, result)
    return result


def _load_rule(rule: SigmaRule, rule_file: RuleFile, result: FileResult) -> None:
    path = str(rule_file.path)
    rule_id = str(rule.id) if rule.id is not None else None
    title = rule.title or None
    if rule.errors:
        result.quarantined.append(QuarantinedRule(path, rule_id, title, _reason(rule.errors[0])))
        return
    if rule_id is None:
        result.quarantined.append(
            QuarantinedRule(path, None, title, "rule has no id: alerts need a stable id")
        )
        return
    status = str(rule.status.name).lower() if rule.status is not None else None
    if status in SKIPPED_STATUSES:
        result.skipped[f"status {status}"] += 1
        return
    info = _info(rule, rule_file)
    try:
        # The Security-log variant (pipelines module docstring) starts from the unprocessed rule.
        variants = [copy.deepcopy(rule)] if has_security_variant(rule) else []
        _pipeline().apply(rule)
        for variant in variants:
            _security_pipeline().apply(variant)
        compiled = compile_rule(rule, *(v for v in variants if is_routed(v)))
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
