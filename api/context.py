"""What the HTTP app needs from the running process, whichever mode it runs in."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from detections.correlation.engine import CorrelationStats
from detections.engine import DetectionEngine
from detections.state import RuleWatcher
from ingest.ratelimit import RateLimiter
from soc_core.records import RawRecord
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings
from soc_core.store import Store, StoreBackend

Submit = Callable[[Sequence[RawRecord]], int]
"""Hands accepted records downstream and returns only when they are durable (store or Kafka).
Returns how many became dead letters right away (embedded mode) or 0 (distributed)."""


@dataclass
class AppContext:
    """Built once by the composition root (`socpipe.cli`); the HTTP app keeps it as `app.state.ctx`."""

    settings: Settings
    backend: StoreBackend
    registry: RegistryCache
    submit: Submit
    health_checks: list[Callable[[], dict[str, str]]] = field(default_factory=list)
    detect_engine: DetectionEngine | None = None
    """The process's rules: the rules API lists and tests them, an evidence upload runs them.
    None in a process that loads no rules (the rules API answers 503, uploads are not scanned)."""
    correlation_stats: Callable[[], Mapping[str, CorrelationStats]] | None = None
    """The process's correlation engine, per correlation (embedded mode); None where correlations
    run elsewhere (distributed: the correlate workers' gauges and counters in Prometheus)."""
    rule_watcher: RuleWatcher | None = None
    """Set where no detect stage runs in the process (distributed `socpipe api`): the rules API
    ticks it so rule files and enabled/disabled changes show up there too."""
    rate_limiter: RateLimiter = field(init=False)
    """The intake's per-source token buckets, from `settings.ingest`."""

    def __post_init__(self) -> None:
        self.rate_limiter = RateLimiter(
            self.settings.ingest.ingest_rate_eps, self.settings.ingest.ingest_rate_burst
        )

    @property
    def store(self) -> Store:
        return self.backend.store

    def health(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for check in self.health_checks:
            checks.update(check())
        return checks
