"""What the HTTP app needs from the running process, whichever mode it runs in."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from soc_core.records import RawRecord
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings
from soc_core.store import Store, StoreBackend

Submit = Callable[[Sequence[RawRecord]], int]
"""Hands accepted records downstream and returns only when they are durable (store or Kafka).
Returns how many became dead letters right away (embedded mode) or 0 (distributed)."""


@dataclass
class AppContext:
    settings: Settings
    backend: StoreBackend
    registry: RegistryCache
    submit: Submit
    health_checks: list[Callable[[], dict[str, str]]] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self.backend.store

    def health(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for check in self.health_checks:
            checks.update(check())
        return checks
