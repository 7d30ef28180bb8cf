"""The detection engine: a compiled Sigma rule set matched against flat ECS events.

Example::

    engine = DetectionEngine.from_folders([Path("detections/rules")], cache_dir=Path(".cache"))
    for m in engine.match(event.flat()):
        print(m.rule.id, m.rule.title, m.selections)

`match()` is the hot path: dispatch by logsource keys, literal prefilter, then the few surviving
rules are evaluated (see `detections.index`). A rule that matched then meets its Sigma filters
(`detections.filters`: the rule folders' filter documents and the analysts' exceptions installed
with `set_exceptions`); a match one of them rejects is dropped and counted for that filter.

Each rule evaluation is a failure boundary: an exception inside one rule is counted against that
rule (`stats()`), logged once with the rule id, and the event still meets every other rule.
`explain()` skips the prefilter and reports every selection of every dispatched rule, for the
API's rule-test endpoint.

Thread safety: matching, `explain()` and the metadata calls share one lock with the rule-set swap
of `reload()` and with `apply_state()`. Compiling happens outside the lock, so a background reload
(`detections.state.RuleWatcher`) pauses matching only for the swap (about 0.2 s for the whole
SigmaHQ corpus) and a matcher never sees half of an old rule set and half of a new one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detections.cache import RuleCache
from detections.correlation.resolve import Resolution, resolve
from detections.filters import CompiledFilter, FilterSet
from detections.index import RuleIndex, dispatch_keys, evaluate
from detections.loader import (
    FileResult,
    LoadedRule,
    QuarantinedRule,
    RuleInfo,
    discover,
    load_file,
    rebind,
)
from detections.matchers import EventView, Node, Selection
from soc_core.errors import DetectionError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """A rule fired: the rule and the names of its selections that matched the event."""

    rule: RuleInfo
    selections: tuple[str, ...]


@dataclass(slots=True)
class RuleStats:
    rule_id: str
    title: str
    evaluations: int = 0
    matches: int = 0
    errors: int = 0
    seconds: float = 0.0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": self.title,
            "evaluations": self.evaluations,
            "matches": self.matches,
            "errors": self.errors,
            "seconds": self.seconds,
            "last_error": self.last_error,
        }


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    rule: RuleInfo
    matched: bool
    selections: dict[str, bool]
    error: str | None = None
    filtered_by: tuple[str, ...] = ()  # live filters (and exceptions) that would drop this match

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.id,
            "title": self.rule.title,
            "level": self.rule.level,
            "enabled": self.rule.enabled,
            "matched": self.matched,
            "selections": dict(self.selections),
            "error": self.error,
            "filtered_by": list(self.filtered_by),
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Which rules the event was dispatched to, which matched, and which selections matched."""

    dispatched: int
    results: list[RuleExplanation]

    @property
    def matched(self) -> list[RuleExplanation]:
        return [r for r in self.results if r.matched]

    def to_dict(self) -> dict[str, Any]:
        return {"dispatched": self.dispatched, "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True, slots=True)
class ReloadReport:
    files: int
    recompiled_files: int
    rules: int
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    quarantined: int = 0
    seconds: float = 0.0


class DetectionEngine:
    """A rule set loaded from folders, compiled, indexed; `reload()` picks up changed files."""

    def __init__(self, folders: Sequence[Path], *, cache_dir: Path | None = None) -> None:
        self._folders = [Path(f) for f in folders]
        self._cache = RuleCache(cache_dir) if cache_dir is not None else None
        self._files: dict[str, FileResult] = {}
        self._disabled: set[str] = set()
        self._infos: list[RuleInfo] = []
        self._by_id: dict[str, int] = {}
        self._conditions: list[Node] = []
        self._selections: list[list[Selection]] = []
        self._enabled: list[bool] = []
        self._stats: list[RuleStats] = []
        self._evaluations: list[int] = []
        self._matches: list[int] = []
        self._nanos: list[int] = []
        self._warned: set[str] = set()
        self.quarantined: list[QuarantinedRule] = []
        self.skipped: Counter[str] = Counter()
        #: The correlation rules, resolved against this rule set (the correlation engine reads them).
        self.correlations = Resolution()
        self._file_filters: list[CompiledFilter] = []
        self._exceptions: list[CompiledFilter] = []
        self._filters = FilterSet([])
        self._index = RuleIndex([], [])
        self._lock = threading.RLock()  # the rule set as matchers see it (see the module docstring)
        self._reload_lock = threading.Lock()  # one reload at a time
        self.last_reload = self.reload()

    @classmethod
    def from_folders(cls, folders: Iterable[Path], *, cache_dir: Path | None = None) -> DetectionEngine:
        return cls(list(folders), cache_dir=cache_dir)

    # ------------------------------------------------------------ loading

    @property
    def folders(self) -> list[Path]:
        """The rule folders (or files) this engine loads, e.g. for a watcher to fingerprint."""
        return list(self._folders)

    def reload(self) -> ReloadReport:
        """Re-read the folders; only changed files are recompiled. Enable/disable state is kept."""
        with self._reload_lock:
            return self._reload()

    def _reload(self) -> ReloadReport:
        started = time.perf_counter()
        for folder in self._folders:
            if not folder.exists():
                raise DetectionError("rule folder does not exist", path=str(folder))
        previous = self._files
        if not previous and self._cache is not None:
            previous = self._cache.load()
        by_content = {result.key: result for result in previous.values()}
        files: dict[str, FileResult] = {}  # by path: two copies of one file are two files
        recompiled = 0
        for rule_file in discover(self._folders):
            result = by_content.get(rule_file.key)
            if result is None:
                result = load_file(rule_file)
                by_content[rule_file.key] = result
                recompiled += 1
            else:
                result = rebind(result, rule_file)
            files[str(rule_file.path)] = result
        with self._lock:  # matchers wait for the swap only, not for the compile above
            old_ids = set(self._by_id)
            self._install(files)
            new_ids = set(self._by_id)
        if self._cache is not None and (recompiled or self._cache.stale(files)):
            try:
                self._cache.save(files)
            except OSError as exc:  # a read-only cache dir costs start-up time, not detections
                log.warning("rule cache not saved path=%s error=%s", self._cache.path, exc)
        report = ReloadReport(
            files=len(files),
            recompiled_files=recompiled,
            rules=len(self._infos),
            added=sorted(new_ids - old_ids),
            removed=sorted(old_ids - new_ids),
            quarantined=len(self.quarantined),
            seconds=time.perf_counter() - started,
        )
        self.last_reload = report
        log.info(
            "rules loaded files=%d recompiled=%d rules=%d quarantined=%d seconds=%.2f",
            report.files,
            report.recompiled_files,
            report.rules,
            report.quarantined,
            report.seconds,
        )
        return report

    def _install(self, files: dict[str, FileResult]) -> None:
        rules: list[LoadedRule] = []
        quarantined: list[QuarantinedRule] = []
        skipped: Counter[str] = Counter()
        seen: dict[str, str] = {}
        file_filters: list[CompiledFilter] = []
        for result in files.values():
            quarantined.extend(result.quarantined)
            skipped.update(result.skipped)
            file_filters.extend(result.filters)
            for loaded in result.rules:
                first = seen.get(loaded.info.id)
                if first is not None:
                    quarantined.append(
                        QuarantinedRule(
                            loaded.info.path,
                            loaded.info.id,
                            loaded.info.title,
                            f"duplicate rule id (first defined in {first})",
                        )
                    )
                    continue
                seen[loaded.info.id] = loaded.info.path
                rules.append(loaded)
        old_stats = {s.rule_id: s for s in self._stats_snapshot()}
        self._files = files
        self.quarantined = quarantined
        self.skipped = skipped
        self._infos = [r.info for r in rules]
        for info in self._infos:
            info.enabled = info.id not in self._disabled
        self._by_id = {info.id: i for i, info in enumerate(self._infos)}
        self._conditions = [r.compiled.condition for r in rules]
        self._selections = [r.compiled.selections for r in rules]
        self._enabled = [info.enabled for info in self._infos]
        self._stats = [old_stats.get(i.id) or RuleStats(i.id, i.title) for i in self._infos]
        self._evaluations = [s.evaluations for s in self._stats]
        self._matches = [s.matches for s in self._stats]
        self._nanos = [round(s.seconds * 1e9) for s in self._stats]
        self._index = RuleIndex([r.compiled for r in rules], [r.info.dormant is None for r in rules])
        self._file_filters = file_filters
        self._attach_filters()
        self.correlations = resolve([c for f in files.values() for c in f.correlations], self._infos)
        self.quarantined.extend(self.correlations.quarantined)

    def _attach_filters(self) -> None:
        """Rebuild the rule -> filters table; the per-filter counts carry over."""
        self._filters = FilterSet.build(
            self._file_filters + self._exceptions,
            [(info.id, info.logsource) for info in self._infos],
            suppressed=self._filters.suppressed,
            errors=self._filters.errors,
        )
        for unknown in self._filters.unknown:
            log.warning(
                "filter not applied to a rule it names filter_id=%s path=%s rule_id=%s reason=%s",
                unknown.filter_id,
                unknown.path,
                unknown.rule_id,
                unknown.reason,
            )

    def set_exceptions(self, exceptions: Sequence[CompiledFilter]) -> None:
        """Install the analysts' exceptions (compiled Sigma filters), replacing the previous ones."""
        with self._lock:
            self._exceptions = list(exceptions)
            self._attach_filters()

    # ------------------------------------------------------------ metadata

    @property
    def rules(self) -> list[RuleInfo]:
        return list(self._infos)

    def rule(self, rule_id: str) -> RuleInfo:
        with self._lock:
            try:
                return self._infos[self._by_id[rule_id]]
            except KeyError:
                raise DetectionError("unknown rule id", rule_id=rule_id) from None

    def read_fields(self) -> frozenset[str]:
        """Every flat field matching may read with the current rule set: the rules' conditions,
        the dispatch and the prefilter, the filters and exceptions, the correlations' group-by and
        value fields. A reader of flat views may leave the others out of them (`socpipe detect`,
        see `NormalizeStage.normalize`'s `reads`); asked again after a reload or new exceptions."""
        with self._lock:
            names = self._index.read_fields()
            for condition in self._conditions:
                names |= condition.fields()
            for compiled_filter in self._file_filters + self._exceptions:
                names |= compiled_filter.condition.fields()
            for correlation in self.correlations.correlations:
                for source in correlation.sources:
                    for group in source.group_fields:
                        names.update(group)
                    names.update(source.value_fields)
            return frozenset(names)

    def rule_fields(self, rule_id: str) -> set[str]:
        """The event fields a rule's condition reads (after the pipeline), e.g. to draft an exception."""
        with self._lock:
            index = self._by_id.get(rule_id)
            if index is None:
                raise DetectionError("unknown rule id", rule_id=rule_id)
            return self._conditions[index].fields()

    def enable(self, rule_id: str) -> None:
        self._set_enabled(rule_id, True)

    def disable(self, rule_id: str) -> None:
        self._set_enabled(rule_id, False)

    def _set_enabled(self, rule_id: str, enabled: bool) -> None:
        with self._lock:
            index = self._by_id.get(rule_id)
            if index is None:
                raise DetectionError("unknown rule id", rule_id=rule_id)
            self._enabled[index] = enabled
            self._infos[index].enabled = enabled
            if enabled:
                self._disabled.discard(rule_id)
            else:
                self._disabled.add(rule_id)

    def apply_state(self, disabled: Collection[str]) -> list[str]:
        """Make exactly `disabled` the disabled rules; returns the loaded ids whose state changed.

        The shared rule state (`detections.state`) names rules by id across every process, so ids
        not loaded here are kept too: a rule file that appears later comes up disabled.
        """
        wanted = set(disabled)
        with self._lock:
            changed = sorted((wanted ^ self._disabled) & self._by_id.keys())
            self._disabled = wanted
            for index in (self._by_id[rule_id] for rule_id in changed):
                enabled = self._infos[index].id not in wanted
                self._enabled[index] = enabled
                self._infos[index].enabled = enabled
        return changed

    @property
    def disabled(self) -> frozenset[str]:
        """The ids disabled here (including ids of rules not loaded, see `apply_state`)."""
        with self._lock:
            return frozenset(self._disabled)

    def stats(self) -> list[RuleStats]:
        """Per-rule evaluation/match/error counts and cumulative evaluation time (a snapshot)."""
        with self._lock:
            return self._stats_snapshot()

    def _stats_snapshot(self) -> list[RuleStats]:
        out: list[RuleStats] = []
        for i, base in enumerate(self._stats):
            out.append(
                RuleStats(
                    base.rule_id,
                    base.title,
                    evaluations=self._evaluations[i],
                    matches=self._matches[i],
                    errors=base.errors,
                    seconds=self._nanos[i] / 1e9,
                    last_error=base.last_error,
                )
            )
        return out

    def filter_stats(self) -> list[dict[str, Any]]:
        """Every installed filter with its targets and how many matches it suppressed (a snapshot)."""
        with self._lock:
            counts, errors = self._filters.suppressed, self._filters.errors
            return [
                {
                    "id": f.id,
                    "title": f.title,
                    "kind": f.kind,
                    "path": f.path,
                    "rules": list(f.rules) if f.rules is not None else "any",
                    "expires_at": f.expires_at.isoformat() if f.expires_at else None,
                    "suppressed": counts[f.id],
                    "errors": errors[f.id],
                }
                for f in self._file_filters + self._exceptions
            ]

    def suppressed_counts(self) -> dict[str, int]:
        """Matches suppressed per filter id since this engine started (never reset)."""
        with self._lock:
            return dict(self._filters.suppressed)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return self._summary()

    def _summary(self) -> dict[str, Any]:
        dormant = sum(1 for i in self._infos if i.dormant)
        return {
            "files": len(self._files),
            "rules": len(self._infos),
            "routed": len(self._infos) - dormant,
            "dormant": dormant,
            "disabled": len(self._disabled & set(self._by_id)),
            "quarantined": len(self.quarantined),
            "correlations": len(self.correlations.correlations),
            "skipped": dict(self.skipped),
            "buckets": self._index.bucket_count,
            "filters": self._filters.filters,
            "filter_unknown_rules": [u.to_dict() for u in self._filters.unknown],
        }

    # ------------------------------------------------------------ matching

    def match(self, flat: dict[str, Any]) -> list[RuleMatch]:
        """The rules that fire on one flat ECS event (dotted keys, as `Event.flat()`)."""
        with self._lock:
            return self._match(flat)

    def dispatched(self, flat: dict[str, Any]) -> list[RuleInfo]:
        """The rules an event is dispatched to, before the prefilter: the rules it can reach.

        The differential test uses it to convert only the rules a data set can reach.
        """
        with self._lock:
            seen: dict[int, None] = {}
            for bucket in self._index.buckets(flat):
                seen.update(dict.fromkeys(bucket.all_rules()))
            return [self._infos[index] for index in seen]

    def _match(self, flat: dict[str, Any]) -> list[RuleMatch]:
        view = EventView(flat)
        failed: list[tuple[int, Exception]] = []
        fired = evaluate(
            self._index.buckets(flat),
            view,
            self._enabled,
            self._conditions,
            self._evaluations,
            self._nanos,
            failed,
        )
        for index, exc in failed:
            self._rule_failed(index, exc)
        if not fired:
            return []
        filtered = self._filters.by_rule
        out: list[RuleMatch] = []
        for index in fired:
            filters = filtered[index]
            if filters is not None and not self._filters.keep(filters, view):
                continue
            self._matches[index] += 1
            out.append(RuleMatch(self._infos[index], self._matched_selections(index, view)))
        return out

    def _matched_selections(self, index: int, view: EventView) -> tuple[str, ...]:
        names: list[str] = []
        for selection in self._selections[index]:
            try:
                if selection.match(view):
                    names.append(selection.name)
            except Exception as exc:  # same boundary as the condition itself
                self._rule_failed(index, exc)
        return tuple(names)

    def _rule_failed(self, index: int, exc: Exception) -> None:
        stats = self._stats[index]
        stats.errors += 1
        stats.last_error = f"{type(exc).__name__}: {exc}"
        if stats.rule_id not in self._warned:
            self._warned.add(stats.rule_id)
            log.warning(
                "rule raised while matching, event skipped for this rule rule_id=%s path=%s error=%r",
                stats.rule_id,
                self._infos[index].path,
                exc,
            )

    def explain(self, flat: dict[str, Any], *, include_unmatched: bool = False) -> Explanation:
        """Every rule the event is dispatched to, evaluated in full (no prefilter), disabled included.

        By default only rules that matched or had at least one selection match are listed.
        """
        with self._lock:
            return self._explain(flat, include_unmatched)

    def _explain(self, flat: dict[str, Any], include_unmatched: bool) -> Explanation:
        view = EventView(flat)
        indices: list[int] = []
        seen: set[int] = set()
        for bucket in self._index.buckets(flat):
            for index in bucket.all_rules():
                if index not in seen:
                    seen.add(index)
                    indices.append(index)
        results: list[RuleExplanation] = []
        for index in indices:
            info = self._infos[index]
            try:
                matched = self._conditions[index].match(view)
                selections = {s.name: s.match(view) for s in self._selections[index]}
                error = None
            except Exception as exc:  # reported in the explanation rather than raised to the API
                matched, selections, error = False, {}, f"{type(exc).__name__}: {exc}"
            filtered_by = self._filters.rejecting(self._filters.by_rule[index], view) if matched else ()
            if include_unmatched or matched or any(selections.values()) or error:
                results.append(RuleExplanation(info, matched, selections, error, filtered_by))
        return Explanation(dispatched=len(indices), results=results)


__all__ = [
    "DetectionEngine",
    "Explanation",
    "ReloadReport",
    "RuleExplanation",
    "RuleMatch",
    "RuleStats",
    "dispatch_keys",
]
