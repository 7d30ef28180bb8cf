"""A read-mostly view of the registry for the hot path: token -> source, source -> context.

Ingest and normalization look these up for every record, so the view is rebuilt from the store
only when asked (`reload()`, called after registry changes and periodically by long-running
processes), never per record.
"""

from __future__ import annotations

import threading
import time

from soc_core.registry import LogSource, Registry, SourceContext, token_hash
from soc_core.store import RegistryStore


class RegistryCache:
    def __init__(self, store: RegistryStore, *, max_age_s: float = 30.0) -> None:
        self._store = store
        self._max_age = max_age_s
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self.registry = Registry()
        self._by_token: dict[str, LogSource] = {}
        self._contexts: dict[str, SourceContext] = {}

    def reload(self) -> Registry:
        registry = self._store.load_registry()
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
            self._loaded_at = time.monotonic()
        return registry

    def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at > self._max_age:
            self.reload()

    def source_for_token(self, token: str) -> LogSource | None:
        self._fresh()
        return self._by_token.get(token_hash(token))

    def context(self, source_id: str) -> SourceContext | None:
        self._fresh()
        return self._contexts.get(source_id)
