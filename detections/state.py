"""Rule state shared across processes: which rules are disabled, by whom, since when, and why.

Disabling a noisy rule in the console must silence it in every process that matches events (the
embedded runner, every `socpipe worker detect` replica) and show in every API replica, without a
restart. So the state lives store-side, behind one small port, and engines poll it:

    RuleStateStore (soc_core.rule_state)  load() -> RuleState; set_enabled(rule_id, enabled, ...)
    ├── JsonRuleStateStore        embedded mode: `<data_dir>/rule-state.json` (stores.sqlite)
    ├── ElasticRuleStateStore     distributed mode: one document in `<prefix>rule-state` (stores.elastic)
    └── MemoryRuleStateStore      here: tests, and a process without a store

Only changes are kept: a rule absent from the state is enabled (Sigma YAML has no "disabled").
Writes are compare-and-set (a file lock; `if_seq_no` in Elasticsearch), so two analysts toggling
two rules at the same moment both win. Failures surface as `soc_core.errors.StoreError`.

`RuleWatcher` keeps one engine in step: `tick()` (the runner calls it between batches, or a
scheduler every second) applies a new state version with `DetectionEngine.apply_state()`, and
reloads the engine when a rule file's size or mtime changed (`reload()` recompiles only those)::

    watcher = RuleWatcher(engine, backend.rule_state(), exceptions=backend.exceptions)
    while running:
        watcher.tick()    # cheap: reads the state every 5 s, stats the rule files every 30 s
        detect(batch)
    watcher.flush_counts()

Analysts' exceptions (`soc_core.exceptions`) ride on the same ticks: with the state, the watcher
adds the matches each exception suppressed since the last flush to its stored count, then reads the
active exceptions and, when they changed, compiles their stored Sigma filter documents
(`detections.filters.compile_filter_yaml`) and installs them (`DetectionEngine.set_exceptions`).
An exception that does not compile is skipped, logged and counted (`exception_errors`); a store
that cannot be read keeps the installed exceptions, whose expiry the engine still checks at each
match. Counts are added at least once: a flush that fails is retried with the next one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from detections.engine import DetectionEngine, ReloadReport
from detections.filters import CompiledFilter, FilterError, compile_filter_yaml
from detections.loader import _pipeline
from soc_core.errors import DetectionError, StoreError
from soc_core.exceptions import AnalystException, ExceptionRepository
from soc_core.rule_state import RuleState, RuleStateStore

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yml", ".yaml")


class MemoryRuleStateStore:
    """In-process state, for tests and for a process that shares its state with nobody."""

    def __init__(self) -> None:
        self._state = RuleState()
        self._lock = threading.Lock()

    def load(self) -> RuleState:
        return self._state

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        with self._lock:
            changed = self._state.with_change(rule_id, enabled, actor=actor, reason=reason, at=at)
            self._state = replace(changed, version=str(int(self._state.version) + 1))
            return self._state


def rule_files_fingerprint(folders: Iterable[Path]) -> str:
    """A hash of every rule file's path, size and mtime: cheap (a stat per file, ~0.1 s for SigmaHQ)."""
    digest = hashlib.blake2b(digest_size=16)
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            paths = [folder]
        elif folder.is_dir():
            paths = sorted(p for p in folder.rglob("*") if p.suffix in RULE_SUFFIXES)
        else:
            digest.update(f"missing:{folder}\n".encode())
            continue
        for path in paths:
            try:
                st = path.stat()
            except OSError:  # removed while we walked: the next tick sees the new tree
                continue
            digest.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one `tick()` changed: rule ids whose state flipped, and the reload if there was one."""

    state_changed: list[str] = field(default_factory=list)
    reload: ReloadReport | None = None


class RuleWatcher:
    """Keeps one engine in step with the shared rule state and with its rule files.

    Never raises into the runner: a store that cannot be read keeps the last state (and is logged
    once per outage); a reload that fails keeps the previous rules and is retried next time.
    """

    def __init__(
        self,
        engine: DetectionEngine,
        store: RuleStateStore | None,
        *,
        exceptions: ExceptionRepository | None = None,
        exception_limit: int = 10_000,
        state_every_s: float = 5.0,
        files_every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.store = store
        self.exceptions = exceptions
        self.exception_limit = exception_limit
        self._installed: dict[str, str] | None = None  # exception id -> Sigma text; None: never read
        self._flushed: Counter[str] = Counter()  # suppressed counts already added to the store
        self._compiled: dict[tuple[str, str], CompiledFilter] = {}  # (id, Sigma text) -> filter
        self._exceptions_failing = False
        self.state_every_s = state_every_s
        self.files_every_s = files_every_s
        self._clock = clock
        self._version: str | None = None
        self._fingerprint = rule_files_fingerprint(engine.folders)
        self._next_state = clock()
        self._next_files = clock() + files_every_s
        self._failing = False
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()

    def tick(self) -> TickReport:
        """Do whatever is due; returns at once when another thread is already ticking."""
        if not self._lock.acquire(blocking=False):
            return TickReport()
        try:
            now = self._clock()
            changed: list[str] = []
            reload: ReloadReport | None = None
            if now >= self._next_state and (self.store is not None or self.exceptions is not None):
                self._next_state = now + self.state_every_s
                if self.store is not None:
                    changed = self._poll_state(self.store)
                if self.exceptions is not None:
                    self._sync_exceptions(self.exceptions)
            if now >= self._next_files:
                self._next_files = now + self.files_every_s
                reload = self._check_files()
            return TickReport(changed, reload)
        finally:
            self._lock.release()

    def _poll_state(self, store: RuleStateStore) -> list[str]:
        try:
            state = store.load()
        except StoreError as exc:
            self.counters["state_errors"] += 1
            if not self._failing:
                log.warning("rule state not read, keeping the last one error=%s", exc)
            self._failing = True
            return []
        if self._failing:
            log.info("rule state readable again")
            self._failing = False
        if state.version == self._version:
            return []
        changed = self.engine.apply_state(state.disabled)
        self._version = state.version
        self.counters["state_versions"] += 1
        if changed:
            log.info("rule state applied version=%s changed=%d", state.version, len(changed))
        return changed

    def _sync_exceptions(self, repo: ExceptionRepository) -> None:
        try:
            self._flush(repo)
            active = repo.active(datetime.now(UTC), limit=self.exception_limit)
        except StoreError as exc:
            self.counters["exception_store_errors"] += 1
            if not self._exceptions_failing:
                log.warning("exceptions not read, keeping the installed ones error=%s", exc)
            self._exceptions_failing = True
            return
        self._exceptions_failing = False
        wanted = {e.id: e.sigma for e in active}
        if wanted != self._installed:
            self.engine.set_exceptions(self._compile(active))
            self._installed = wanted
            self.counters["exception_versions"] += 1
            log.info("exceptions applied active=%d", len(active))

    def _compile(self, active: Iterable[AnalystException]) -> list[CompiledFilter]:
        """Compiled filters of `active`; an unchanged exception keeps its compiled filter (pySigma
        takes milliseconds per document: a new exception must not recompile thousands)."""
        previous, self._compiled = self._compiled, {}
        for exception in active:
            key = (exception.id, exception.sigma)
            if key in previous:
                self._compiled[key] = previous[key]
                continue
            try:
                self._compiled[key] = compile_filter_yaml(
                    exception.sigma, _pipeline(), path=f"exception:{exception.id}"
                )
            except FilterError as exc:
                self.counters["exception_errors"] += 1
                log.warning("exception not applied id=%s error=%s", exception.id, exc)
        return list(self._compiled.values())

    def _flush(self, repo: ExceptionRepository) -> None:
        counts = self.engine.suppressed_counts()
        ids = set(self._installed or ()) | set(self._flushed)
        deltas = {i: counts.get(i, 0) - self._flushed[i] for i in ids if counts.get(i, 0) > self._flushed[i]}
        if deltas:
            repo.add_suppressed(deltas, at=datetime.now(UTC))
            self._flushed.update(deltas)
            self.counters["exception_counts_flushed"] += sum(deltas.values())

    def flush_counts(self) -> None:
        """Add the pending suppressed counts now (a worker calls it when it stops)."""
        if self.exceptions is None:
            return
        with self._lock:
            try:
                self._flush(self.exceptions)
            except StoreError as exc:
                log.warning("exception counts not flushed at stop error=%s", exc)

    def _check_files(self) -> ReloadReport | None:
        fingerprint = rule_files_fingerprint(self.engine.folders)
        if fingerprint == self._fingerprint:
            return None
        try:
            report = self.engine.reload()
        except (DetectionError, OSError) as exc:
            self.counters["reload_errors"] += 1
            log.warning("rule reload failed, keeping the loaded rules error=%s", exc)
            return None
        self._fingerprint = fingerprint
        self.counters["reloads"] += 1
        return report


__all__ = [
    "MemoryRuleStateStore",
    "RuleWatcher",
    "TickReport",
    "rule_files_fingerprint",
]
