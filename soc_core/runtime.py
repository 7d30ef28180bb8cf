"""Composition: build the store, bus and stages for a mode from one Settings object.

Detection is optional here so the skeleton runs before a rule set is configured; the detect
stage comes from `detections` when rule folders are given (`SOC_RULE_DIRS`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from normalizers.stage import NormalizeStage
from soc_core.bus_kafka import KafkaBus
from soc_core.pipeline import Detect, EmbeddedPipeline
from soc_core.records import RawRecord
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings
from soc_core.store import Store
from soc_core.store_es import ElasticStore
from soc_core.store_sqlite import SqliteStore

log = logging.getLogger(__name__)


def build_store(settings: Settings) -> Store:
    store: Store
    if settings.mode.value == "embedded":
        store = SqliteStore(settings.sqlite_path)
    else:
        store = ElasticStore(settings.es_url, prefix=settings.index_prefix)
    store.setup()
    return store


def build_normalize(registry: RegistryCache) -> NormalizeStage:
    return NormalizeStage(registry.context)


def build_detect(settings: Settings) -> Detect | None:
    """The detect stage over the configured rule folders, or None when no folder is configured."""
    if not settings.rule_dirs:
        return None
    from detections.engine import DetectionEngine
    from detections.stage import DetectStage

    engine = DetectionEngine.from_folders(settings.rule_dirs, cache_dir=settings.rule_cache_dir)
    log.info("detection engine loaded %d rules (%d quarantined)", len(engine.rules), len(engine.quarantined))
    stage: Detect = DetectStage(engine)
    return stage


def build_kafka(settings: Settings) -> KafkaBus:
    bus = KafkaBus(
        settings.kafka_bootstrap,
        publish_timeout_s=settings.publish_timeout_s,
        health_topic=settings.topic_raw,
    )
    return bus


class KafkaSubmit:
    """Distributed intake: publish raw records to `soc.raw`, keyed by source, acknowledged by Kafka."""

    def __init__(self, settings: Settings, bus: KafkaBus) -> None:
        self._topic = settings.topic_raw
        self._bus = bus

    def __call__(self, records: Sequence[RawRecord]) -> int:
        self._bus.publish(self._topic, [(r.source_id.encode(), r.to_json()) for r in records])
        return 0


class EmbeddedSubmit:
    def __init__(self, pipeline: EmbeddedPipeline) -> None:
        self._pipeline = pipeline

    def __call__(self, records: Sequence[RawRecord]) -> int:
        return len(self._pipeline.ingest(records).deadletters)
