"""The one place that picks concrete adapters: the store, bus and stages for a mode, from Settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import SecretStr

from buses.kafka import KafkaBus, KafkaSecurity
from normalizers.stage import NormalizeStage
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import RawRecord, encode_raw_batches
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Mode, Settings, StoreSettings
from soc_core.store import StoreBackend
from stores.elastic import ElasticBackend
from stores.elastic.store import EsAuth
from stores.sqlite import SqliteBackend

if TYPE_CHECKING:
    from detections.correlation.engine import LiveCorrelation
    from detections.engine import DetectionEngine
    from detections.stage import HitSink, SuppressingDetect

log = logging.getLogger(__name__)


def build_backend(settings: Settings) -> StoreBackend:
    """The mode's persistence: SQLite files in the data folder, or Elasticsearch under a prefix.

    Nothing is opened here; each adapter opens on first use (`soc_core.store.StoreBackend`).
    """
    if settings.mode is Mode.EMBEDDED:
        return SqliteBackend(
            settings.sqlite_path,
            rule_state_path=settings.data_dir / "rule-state.json",
            query_timeout_s=settings.query_timeout_s,
        )
    stores = settings.stores
    return ElasticBackend.connect(
        stores.es_urls,
        prefix=stores.index_prefix,
        read_retry_s=stores.es_read_retry_s,
        shards=stores.es_shards,
        replicas=stores.es_replicas,
        refresh_interval=stores.es_refresh_interval,
        auth=es_auth(stores),
        bulk_requests=stores.es_bulk_requests,
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def es_auth(stores: StoreSettings) -> EsAuth:
    """Elasticsearch's credentials and CA from the settings (the same for every process)."""
    return EsAuth(
        api_key=_secret(stores.es_api_key),
        username=stores.es_username,
        password=_secret(stores.es_password) or "",
        ca_certs=stores.es_ca_certs,
    )


def kafka_security(stores: StoreSettings) -> KafkaSecurity:
    """Kafka's protocol, SASL user and TLS files from the settings (the same for every process)."""
    return KafkaSecurity(
        protocol=stores.kafka_security_protocol,
        sasl_mechanism=stores.kafka_sasl_mechanism,
        username=stores.kafka_sasl_username,
        password=_secret(stores.kafka_sasl_password) or "",
        cafile=stores.kafka_ssl_cafile,
        certfile=stores.kafka_ssl_certfile,
        keyfile=stores.kafka_ssl_keyfile,
        key_password=_secret(stores.kafka_ssl_key_password),
    )


def build_registry(settings: Settings, backend: StoreBackend) -> RegistryCache:
    """The registry every record is attributed with, loaded now. Distributed processes keep a
    snapshot in the data folder, so that they start (and go on) while Elasticsearch is down."""
    snapshot = settings.data_dir / "registry-snapshot.json" if settings.mode is Mode.DISTRIBUTED else None
    registry = RegistryCache(backend.store, max_age_s=settings.ingest.registry_refresh_s, snapshot=snapshot)
    registry.start()
    return registry


def build_normalize(registry: RegistryCache, settings: Settings) -> NormalizeStage:
    """The normalize stage over the cached registry, with the record limits of `settings`."""
    return NormalizeStage(
        registry.context,
        max_depth=settings.record_depth,
        max_bytes=settings.ingest.max_record_bytes,
    )


def build_engine(settings: Settings) -> DetectionEngine:
    """The rule engine over `SOC_RULE_DIRS`, by default the provincial pack plus the SigmaHQ corpus
    (`SOC_SIGMA_DIR`).

    Compiled rules are cached under the data folder, so a restart takes about a second; the API's
    engine (listing, testing) and the detect stage's share the folders and the cache.
    """
    from detections.cli import default_rule_folders
    from detections.engine import DetectionEngine

    folders = list(settings.detection.rule_dirs) or default_rule_folders(settings.detection.sigma_dir)
    cache_dir = settings.detection.rule_cache_dir or settings.data_dir / "rule-cache"
    engine = DetectionEngine.from_folders(folders, cache_dir=cache_dir)
    log.info(
        "detection engine: %d rules from %d folders (%d quarantined)",
        len(engine.rules),
        len(folders),
        len(engine.quarantined),
    )
    return engine


def build_detect(
    settings: Settings, backend: StoreBackend | None = None, correlate: HitSink | None = None
) -> SuppressingDetect:
    """The detect stage, with suppression, over `build_engine`'s rules; correlation hits go to
    `correlate` (distributed: the `soc.rulehits` publisher), or to `build_correlation`'s engine.

    With a backend, suppression continues the repeat series its store holds (`soc_core.open_alerts`):
    seeded on start from the last window's alerts, then per (rule, host) on first sight, in both
    modes. The store opens on first use, so a detect worker still starts while it is down.
    """
    import gc

    from detections.stage import DetectStage, SuppressingDetect
    from soc_core.event import utcnow
    from soc_core.open_alerts import StoreOpenAlerts

    engine = build_engine(settings)
    gc.freeze()  # the compiled rule graph lives for the whole process: keep it out of GC passes
    lookup = StoreOpenAlerts(lambda: backend.store) if backend is not None else None
    stage = DetectStage(engine, timedelta(seconds=settings.detection.suppression_window_s), lookup=lookup)
    stage.suppressor.seed_recent(utcnow(), limit=settings.detection.suppression_seed_limit)
    if correlate is None:
        correlate = build_correlation(settings, engine)
    return SuppressingDetect(stage, correlate)


def build_correlation(settings: Settings, engine: DetectionEngine) -> LiveCorrelation:
    """The in-process correlation engine over `engine`'s correlation rules, following its reloads."""
    from detections.correlation.engine import LiveCorrelation

    return LiveCorrelation(
        lambda: engine.correlations,
        disabled=lambda: engine.disabled,  # the shared rule state, as the RuleWatcher applied it
        lateness_s=settings.detection.correlation_lateness_s,
        max_groups=settings.detection.correlation_max_groups,
    )


def build_kafka(settings: Settings) -> KafkaBus:
    bus = KafkaBus(
        settings.stores.kafka_bootstrap,
        publish_timeout_s=settings.stores.publish_timeout_s,
        health_topic=settings.stores.topic_raw,
        replication=settings.stores.topic_replication,
        min_insync_replicas=settings.stores.topic_min_insync_replicas,
        idempotence=settings.stores.kafka_idempotence,
        security=kafka_security(settings.stores),
    )
    return bus


class KafkaSubmit:
    """Distributed intake: publish raw records to `soc.raw`, keyed by source, acknowledged by Kafka."""

    def __init__(self, settings: Settings, bus: KafkaBus) -> None:
        self._topic = settings.stores.topic_raw
        self._bus = bus

    def __call__(self, records: Sequence[RawRecord]) -> int:
        by_source: dict[str, list[RawRecord]] = {}
        for record in records:
            by_source.setdefault(record.source_id, []).append(record)
        self._bus.publish(
            self._topic,
            [
                (source.encode(), batch)
                for source, group in by_source.items()
                for batch in encode_raw_batches(group)
            ],
        )
        return 0


class EmbeddedSubmit:
    def __init__(self, pipeline: EmbeddedPipeline) -> None:
        self._pipeline = pipeline

    def __call__(self, records: Sequence[RawRecord]) -> int:
        return len(self._pipeline.ingest(records).deadletters)
