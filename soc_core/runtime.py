"""Composition: build the store, bus and stages for a mode from one Settings object."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from normalizers.stage import NormalizeStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.bus_kafka import KafkaBus
from soc_core.event import Event
from soc_core.pipeline import EmbeddedPipeline
from soc_core.records import RawRecord, encode_raw_batches
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings
from soc_core.store import Store
from soc_core.store_es import ElasticStore
from soc_core.store_sqlite import SqliteStore

if TYPE_CHECKING:
    from detections.engine import DetectionEngine
    from detections.stage import DetectStage

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


def build_detect(settings: Settings) -> SuppressingDetect:
    """The detect stage over `SOC_RULE_DIRS`, by default the provincial pack plus the SigmaHQ corpus.

    Compiled rules are cached under the data folder, so a restart takes about a second.
    """
    import gc

    from detections.cli import default_rule_folders
    from detections.engine import DetectionEngine
    from detections.stage import DetectStage

    folders = list(settings.rule_dirs) or default_rule_folders()
    cache_dir = settings.rule_cache_dir or settings.data_dir / "rule-cache"
    engine = DetectionEngine.from_folders(folders, cache_dir=cache_dir)
    gc.freeze()  # the compiled rule graph lives for the whole process: keep it out of GC passes
    log.info(
        "detection engine: %d rules from %d folders (%d quarantined)",
        len(engine.rules),
        len(folders),
        len(engine.quarantined),
    )
    return SuppressingDetect(DetectStage(engine))


class SuppressingDetect:
    """The detect stage with suppression: repeats of a rule on a host within the window become
    `AlertRepeat`s of the first alert instead of new alerts."""

    def __init__(self, stage: DetectStage) -> None:
        self.stage = stage

    @property
    def engine(self) -> DetectionEngine:
        return self.stage.engine

    def __call__(self, event: Event) -> list[Alert | AlertRepeat]:
        from detections.suppression import NewAlert

        out: list[Alert | AlertRepeat] = []
        for outcome in self.stage.process(event):
            if isinstance(outcome, NewAlert):
                out.append(outcome.alert)
            else:
                out.append(
                    AlertRepeat(
                        alert_id=outcome.alert_id,
                        first_seen=outcome.first_seen,
                        count=outcome.count,
                        last_seen=outcome.last_seen,
                        event_id=outcome.event_id,
                    )
                )
        return out


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
