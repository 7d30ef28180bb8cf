"""Rule state shared across processes: which rules are disabled, by whom, since when, and why.

Disabling a noisy rule in the console must silence it in every process that matches events (the
embedded runner, every `socpipe worker detect` replica) and show in every API replica, without a
restart. So the state lives store-side, behind one small port, and engines poll it:

    RuleStateStore (Protocol)     load() -> RuleState; set_enabled(rule_id, enabled, ...) -> RuleState
    ├── JsonRuleStateStore        embedded mode: `<data_dir>/rule-state.json`
    ├── ElasticRuleStateStore     distributed mode: one document in the `<prefix>rule-state` index
    └── MemoryRuleStateStore      tests, and a process without a store

Only changes are kept: a rule absent from the state is enabled (Sigma YAML has no "disabled").
Writes are compare-and-set (a file lock; `if_seq_no` in Elasticsearch), so two analysts toggling
two rules at the same moment both win. Failures surface as `soc_core.errors.StoreError`.

`RuleWatcher` keeps one engine in step: `tick()` (the runner calls it between batches, or a
scheduler every second) applies a new state version with `DetectionEngine.apply_state()`, and
reloads the engine when a rule file's size or mtime changed (`reload()` recompiles only those)::

    watcher = RuleWatcher(engine, rule_state_store(settings))
    while running:
        watcher.tick()    # cheap: reads the state every 5 s, stats the rule files every 30 s
        detect(batch)
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from detections.engine import DetectionEngine, ReloadReport
from soc_core.errors import DetectionError, StoreError
from soc_core.settings import Settings

log = logging.getLogger(__name__)

RULE_SUFFIXES = (".yml", ".yaml")

RULE_STATE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"updated_at": {"type": "date"}, "rules": {"type": "object", "enabled": False}},
}


@dataclass(frozen=True, slots=True)
class RuleOverride:
    """The last enable/disable of one rule: kept for the console and the audit trail."""

    enabled: bool
    changed_at: datetime
    changed_by: str
    reason: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "changed_at": self.changed_at.isoformat(),
            "changed_by": self.changed_by,
            "reason": self.reason,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> RuleOverride:
        return cls(
            enabled=bool(doc["enabled"]),
            changed_at=datetime.fromisoformat(str(doc["changed_at"])),
            changed_by=str(doc["changed_by"]),
            reason=str(doc["reason"]) if doc.get("reason") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class RuleState:
    """One version of the shared state. `version` is opaque: compare it, never parse it."""

    version: str = "0"
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(rule_id for rule_id, o in self.rules.items() if not o.enabled)

    def to_doc(self) -> dict[str, Any]:
        return {"rules": {rule_id: o.to_doc() for rule_id, o in sorted(self.rules.items())}}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any], version: str) -> RuleState:
        raw = doc.get("rules") or {}
        if not isinstance(raw, Mapping):
            raise StoreError("rule state document has no rules object")
        try:
            rules = {str(rule_id): RuleOverride.from_doc(o) for rule_id, o in raw.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"rule state document is malformed: {exc!r}") from exc
        return cls(version=version, rules=rules)

    def with_change(
        self, rule_id: str, enabled: bool, *, actor: str, reason: str | None, at: datetime | None
    ) -> RuleState:
        override = RuleOverride(enabled, at or datetime.now(UTC), actor, reason)
        return replace(self, rules={**self.rules, rule_id: override})


@runtime_checkable
class RuleStateStore(Protocol):
    def load(self) -> RuleState:
        """The current state (an empty state when none was ever written)."""

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        """Record one change atomically (compare-and-set) and return the new state."""


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


class JsonRuleStateStore:
    """Embedded mode: a small JSON file beside the SQLite store.

    Readers never lock: writers replace the file atomically (`os.replace`). Writers serialise on an
    advisory lock file, so a CLI and the running server can both change the state.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def load(self) -> RuleState:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return RuleState()
        except OSError as exc:
            raise StoreError(f"rule state not readable: {exc}", path=str(self.path)) from exc
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"rule state is not JSON: {exc}", path=str(self.path)) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("version", 0), int):
            raise StoreError("rule state is not a JSON object with an integer version", path=str(self.path))
        return RuleState.from_doc(doc, version=str(doc.get("version", 0)))

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.load()
                state = current.with_change(rule_id, enabled, actor=actor, reason=reason, at=at)
                state = replace(state, version=str(int(current.version) + 1))
                self._write({"version": int(state.version), **state.to_doc()})
                return state
        except OSError as exc:
            raise StoreError(f"rule state not written: {exc}", path=str(self.path)) from exc

    def _write(self, doc: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".rule-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ElasticRuleStateStore:
    """Distributed mode: one document (`rule-state`) in the `<prefix>rule-state` index.

    A GET by id is real-time, so a change is visible to every poller at once (no refresh). The
    rules object is stored, not indexed (`enabled: false`): rule ids must not become mapped fields.
    """

    DOC_ID = "rule-state"
    MAX_ATTEMPTS = 10

    def __init__(self, es: Elasticsearch, *, prefix: str = "") -> None:
        self.es = es
        self.index = f"{prefix}rule-state"
        self._ready = False
        self._setup_lock = threading.Lock()

    def setup(self) -> None:
        """Create the index with its mapping (idempotent), and wait until its shard can serve."""
        with self._setup_lock:
            if self._ready:
                return
            try:
                if not self.es.indices.exists(index=self.index):
                    self.es.indices.create(
                        index=self.index,
                        mappings=RULE_STATE_MAPPING,
                        settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                    )
            except ApiError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise StoreError(f"rule state index not created: {exc}", index=self.index) from exc
            except TransportError as exc:
                raise StoreError(f"rule state index not created: {exc}", index=self.index) from exc
            try:  # another process may have just created it: its shard can still be recovering
                self.es.cluster.health(index=self.index, wait_for_status="yellow", timeout="30s")
            except (ApiError, TransportError) as exc:
                raise StoreError(f"rule state index not ready: {exc}", index=self.index) from exc
            self._ready = True

    def _get(self) -> tuple[RuleState, tuple[int, int] | None]:
        try:
            resp = self.es.get(index=self.index, id=self.DOC_ID)
        except NotFoundError:
            return RuleState(), None
        except (ApiError, TransportError) as exc:
            raise StoreError(f"rule state not read: {exc}", index=self.index) from exc
        seq = (int(resp["_seq_no"]), int(resp["_primary_term"]))
        return RuleState.from_doc(resp["_source"], version=f"{seq[0]}:{seq[1]}"), seq

    def load(self) -> RuleState:
        return self._get()[0]

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        if not self._ready:
            self.setup()
        # Compare-and-set: a concurrent change is a ConflictError; re-read and re-apply ours after
        # a jittered wait, so a crowd of writers spreads out instead of colliding again.
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(ConflictError),
                stop=stop_after_attempt(self.MAX_ATTEMPTS),
                wait=wait_random_exponential(multiplier=0.01, max=0.5),
                reraise=True,
            ):
                with attempt:
                    return self._apply_change(rule_id, enabled, actor=actor, reason=reason, at=at)
        except ConflictError as exc:
            raise StoreError("rule state kept changing under us; try again", index=self.index) from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    def _apply_change(
        self, rule_id: str, enabled: bool, *, actor: str, reason: str | None, at: datetime | None
    ) -> RuleState:
        current, seq = self._get()
        state = current.with_change(rule_id, enabled, actor=actor, reason=reason, at=at)
        doc = {"updated_at": datetime.now(UTC).isoformat(), **state.to_doc()}
        try:
            if seq is None:
                resp = self.es.create(index=self.index, id=self.DOC_ID, document=doc)
            else:
                resp = self.es.index(
                    index=self.index,
                    id=self.DOC_ID,
                    document=doc,
                    if_seq_no=seq[0],
                    if_primary_term=seq[1],
                )
        except ConflictError:
            raise
        except (ApiError, TransportError) as exc:
            raise StoreError(f"rule state not written: {exc}", index=self.index) from exc
        return replace(state, version=f"{resp['_seq_no']}:{resp['_primary_term']}")


def rule_state_store(settings: Settings, *, es: Elasticsearch | None = None) -> RuleStateStore:
    """The adapter for the run mode: a JSON file in the data dir, or the Elasticsearch document.

    No I/O here: a detect worker must start even while Elasticsearch is down (it runs on the last
    state it read; the index is created by the first change).
    """
    if settings.mode.value == "embedded":
        return JsonRuleStateStore(settings.data_dir / "rule-state.json")
    return ElasticRuleStateStore(es or Elasticsearch(settings.es_url), prefix=settings.index_prefix)


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
        state_every_s: float = 5.0,
        files_every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.store = store
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
            if self.store is not None and now >= self._next_state:
                self._next_state = now + self.state_every_s
                changed = self._poll_state(self.store)
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
    "ElasticRuleStateStore",
    "JsonRuleStateStore",
    "MemoryRuleStateStore",
    "RuleOverride",
    "RuleState",
    "RuleStateStore",
    "RuleWatcher",
    "TickReport",
    "rule_files_fingerprint",
    "rule_state_store",
]
