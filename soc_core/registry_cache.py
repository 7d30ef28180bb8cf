"""A read-mostly view of the registry for the hot path: token -> source, source -> context.

Ingest and normalization look these up for every record, so the view is rebuilt from the store
only when asked (`reload()`, called after registry changes) or when it is older than `max_age_s`,
never per record.

The store being down must not stop the intake or the normalize worker (issue 14: the intake
answered 500 to half its requests during an Elasticsearch outage, because a stale view was
reloaded inside the request, and failed). So a stale view is refreshed in the background while
requests go on with the last good one; a failed refresh keeps it (logged, counted in
`soc_registry_refresh_failures_total`) and is tried again after `retry_s`. With a `snapshot`
file, every good load is also written there, and a process that starts while the store is down
starts from it (`start()`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from soc_core.errors import StoreError
from soc_core.metrics import REGISTRY_REFRESH_FAILURES
from soc_core.registry import LogSource, Registry, SourceContext, token_hash
from soc_core.store import RegistryStore

log = logging.getLogger(__name__)


class RegistryCache:
    def __init__(
        self,
        store: RegistryStore,
        *,
        max_age_s: float = 30.0,
        retry_s: float = 5.0,
        snapshot: Path | None = None,
    ) -> None:
        self._store = store
        self._max_age = max_age_s
        self._retry = retry_s
        self._snapshot = snapshot
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._loaded_at = 0.0  # when the view was last read from the store (monotonic)
        self._next_try = 0.0  # no background refresh before this (monotonic)
        self._ever_loaded = False
        self.registry = Registry()
        self._by_token: dict[str, LogSource] = {}
        self._contexts: dict[str, SourceContext] = {}

    def start(self) -> Registry:
        """At process start: the store's registry, else (store down) the snapshot; raises the
        store's `StoreError` when neither is there, since no source could be recognised."""
        try:
            return self.reload()
        except StoreError as exc:
            registry = self._read_snapshot()
            if registry is None:
                raise
            log.warning(
                "registry store unavailable, starting from the snapshot %s (%d sources): %s",
                self._snapshot,
                len(registry.sources),
                exc,
            )
            REGISTRY_REFRESH_FAILURES.inc()
            self._install(registry, loaded_at=0.0)  # stale at once: refreshed as soon as it can be
            return registry

    def reload(self) -> Registry:
        """Read the registry from the store now (after a change); raises `StoreError` if it fails."""
        registry = self._store.load_registry()
        self._install(registry, loaded_at=time.monotonic())
        self._write_snapshot(registry)
        return registry

    def _install(self, registry: Registry, *, loaded_at: float) -> None:
        units = {u.id: u for u in registry.units}
        systems = {s.id: s for s in registry.systems}
        by_token: dict[str, LogSource] = {}
        contexts: dict[str, SourceContext] = {}
        for source in registry.sources:
            if source.token_sha256:
                by_token[source.token_sha256] = source
            system = systems.get(source.system_id)
            unit = units.get(system.unit_id) if system else None
            contexts[source.id] = SourceContext(
                source_id=source.id,
                unit_id=unit.id if unit else None,
                unit_name=unit.name if unit else None,
                system_id=system.id if system else None,
                system_name=system.name if system else None,
                system_level=system.level if system else None,
                format=source.format,
                timezone=source.timezone,
            )
        with self._lock:
            self.registry, self._by_token, self._contexts = registry, by_token, contexts
            self._loaded_at = loaded_at
            self._ever_loaded = True

    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._loaded_at <= self._max_age:
            return
        if not self._ever_loaded:
            self.reload()  # nothing to serve yet: this caller waits (and sees the error)
            return
        if now < self._next_try or not self._refreshing.acquire(blocking=False):
            return  # a refresh is running or failed a moment ago: serve the last good view
        self._next_try = now + self._retry
        threading.Thread(target=self._refresh, name="registry-refresh", daemon=True).start()

    def _refresh(self) -> None:
        try:
            self.reload()
        except StoreError as exc:
            REGISTRY_REFRESH_FAILURES.inc()
            log.warning("registry refresh failed, serving the one loaded %.0fs ago: %s", self.age_s(), exc)
        except Exception:  # a thread's error would vanish: log it, keep serving, try again later
            REGISTRY_REFRESH_FAILURES.inc()
            log.exception("registry refresh failed unexpectedly, serving the last good registry")
        finally:
            self._refreshing.release()

    def age_s(self) -> float:
        """Seconds since the view was read from the store."""
        return time.monotonic() - self._loaded_at

    def _write_snapshot(self, registry: Registry) -> None:
        if self._snapshot is None:
            return
        try:
            self._snapshot.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._snapshot.with_name(f".{self._snapshot.name}.{os.getpid()}")
            tmp.write_bytes(registry.model_dump_json().encode())
            tmp.chmod(0o600)  # token hashes: not for every local user
            tmp.replace(self._snapshot)
        except OSError as exc:  # the snapshot only helps a later start: never fail a reload for it
            log.warning("registry snapshot not written to %s: %s", self._snapshot, exc)

    def _read_snapshot(self) -> Registry | None:
        if self._snapshot is None or not self._snapshot.exists():
            return None
        try:
            return Registry.model_validate_json(self._snapshot.read_bytes())
        except (OSError, ValidationError) as exc:
            log.warning("registry snapshot %s unreadable: %s", self._snapshot, exc)
            return None

    def current(self) -> Registry:
        """The whole registry, refreshed like `context` (the notifier reads units and systems)."""
        self._fresh()
        return self.registry

    def source_for_token(self, token: str) -> LogSource | None:
        self._fresh()
        return self._by_token.get(token_hash(token))

    def context(self, source_id: str) -> SourceContext | None:
        self._fresh()
        return self._contexts.get(source_id)
