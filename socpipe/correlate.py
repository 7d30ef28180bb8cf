"""The correlate worker (distributed mode): correlation rules over `soc.rulehits`.

One `CorrelationEngine` per assigned partition: the detect worker keys each hit by
"<correlation id>|<group key>", so a group's window lives in one partition, hence one engine. Its
state survives a SIGKILL:

1. a batch's hits go into the partition's engine (a hit whose offset its group already holds is a
   replay and is skipped, so nothing is counted twice);
2. the alerts and repeats it decided go to `soc.alerts` (deterministic ids: a re-sent alert is
   stored once), the hits of chained correlations back to `soc.rulehits` (re-keyed);
3. the state of every group the batch changed goes to the compacted changelog
   `soc.correlation.state` (same key, same partition number);
4. only then does `StageWorker` commit the input offsets.

On (re)assignment the engine of a partition is rebuilt from the changelog partition.

Enable/disable (the shared rule state, which the process's `RuleWatcher` applies to its detection
engine; `disabled` reads it) is applied to every engine between batches: a disabled correlation's
hits are skipped (and committed: they are not replayed when it is enabled again), its groups are
dropped and deleted from the changelog like expired ones, so it starts empty when enabled. A group whose
window expired stays in the changelog as a small marker (its highest offset) until that offset is
committed, then it is deleted with a tombstone. Between batches, `idle()` lets the engines flush a
stream that went quiet (`CorrelationEngine.idle`). Outputs wait in an outbox until published, so a
failed publish that `StageWorker` retries loses nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence

from pydantic import ValidationError

from detections.correlation.engine import CorrelationEngine, CorrelationStats, Output
from detections.correlation.hits import RuleHit
from detections.correlation.resolve import Resolution
from soc_core.alert import Alert
from soc_core.bus import Bus, KeyValue, Message, TopicPartition
from soc_core.errors import RecordRefused
from soc_core.guards import ENVELOPE_DEPTH, check_depth
from soc_core.metrics import ALERTS_RAISED, EVENTS_DROPPED, EVENTS_RECEIVED, EVENTS_SENT
from soc_core.settings import Settings
from socpipe.workers import undecodable

log = logging.getLogger(__name__)

STAGE = "correlate"


class CorrelateWorker:
    def __init__(
        self,
        settings: Settings,
        bus: Bus,
        rules: Callable[[], Resolution],
        *,
        tick: Callable[[], object] | None = None,
        disabled: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._settings = settings
        self._disabled = disabled
        self._bus = bus
        self._rules = rules
        self._resolution = rules()
        self._tick = tick
        self._topic = settings.stores.topic_rulehits
        self._state_topic = settings.stores.topic_correlation_state
        self.engines: dict[int, CorrelationEngine] = {}
        self._committed: dict[int, int] = {}
        self._alerts: list[KeyValue] = []
        self._hits: list[KeyValue] = []
        self._states: dict[bytes, bytes | None] = {}

    # ------------------------------------------------------------ assignment

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        for topic, partition in partitions:
            if topic == self._topic:
                self.engines[partition] = self._restore(partition)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        for topic, partition in partitions:
            if topic == self._topic:
                engine = self.engines.pop(partition, None)
                if engine is not None:
                    engine.release()
                self._committed.pop(partition, None)

    def _new_engine(self) -> CorrelationEngine:
        detection = self._settings.detection
        engine = CorrelationEngine(
            self._resolution,
            lateness_s=detection.correlation_lateness_s,
            max_groups=detection.correlation_max_groups,
            chain_inline=False,
            track_changes=True,
        )
        if self._disabled is not None:
            engine.apply_state(self._disabled())  # before restore: a disabled one restores nothing
        return engine

    def _restore(self, partition: int) -> CorrelationEngine:
        started = time.perf_counter()
        engine = self._new_engine()
        latest: dict[bytes, bytes] = {}
        for message in self._bus.read_partition(self._state_topic, partition):
            if message.key is not None:
                latest[message.key] = message.value
        for key, value in latest.items():
            if value:  # b"": a tombstone
                cid, group = key.decode().split("|", 1)
                engine.restore(cid, group, value)
        engine.restored()
        log.info(
            "correlation state restored partition=%d groups=%d seconds=%.2f",
            partition,
            engine.groups,
            time.perf_counter() - started,
        )
        return engine

    # ------------------------------------------------------------ batches

    def handle(self, messages: Sequence[Message]) -> None:
        if self._tick is not None:
            self._tick()  # changed rule files, between batches
        self._follow_rules()
        EVENTS_RECEIVED.labels(STAGE).inc(len(messages))
        by_partition: dict[int, list[RuleHit]] = {}
        last: dict[int, int] = {}
        for m in messages:
            last[m.partition] = max(last.get(m.partition, -1), m.offset)
            try:
                check_depth(m.value, self._settings.record_depth + ENVELOPE_DEPTH)
                by_partition.setdefault(m.partition, []).append(RuleHit.from_json(m.value, m.offset))
            except (ValidationError, ValueError, KeyError, TypeError, RecordRefused) as exc:
                self._bus.publish(
                    self._settings.stores.topic_deadletter,
                    [(m.key, undecodable(m, STAGE, exc).to_json())],
                )
                EVENTS_DROPPED.labels(STAGE, "undecodable").inc()
        for partition, hits in sorted(by_partition.items()):
            engine = self.engines.get(partition)
            if engine is None:  # not announced by the group (should not happen): restore now
                engine = self.engines[partition] = self._restore(partition)
            self._collect(partition, engine, engine.offer(hits))
        self._publish()
        self._committed.update({p: offset + 1 for p, offset in last.items()})  # committed next

    def idle(self) -> None:
        self._follow_rules()
        for partition, engine in sorted(self.engines.items()):
            self._collect(partition, engine, engine.idle())
        self._publish()

    def _collect(self, partition: int, engine: CorrelationEngine, out: Output) -> None:
        for item in out:
            if isinstance(item, Alert):
                ALERTS_RAISED.labels(item.severity.value).inc()
                self._alerts.append((item.id.encode(), item.to_json()))
            else:
                self._alerts.append((item.alert_id.encode(), item.to_json()))
        self._hits += [(h.partition_key.encode(), h.to_json()) for h in engine.chained_out]
        engine.chained_out.clear()
        for cid, key, data in engine.take_dirty():
            self._states[f"{cid}|{key}".encode()] = data
        for cid, key in engine.forget_retired(self._committed.get(partition, 0)):
            self._states[f"{cid}|{key}".encode()] = None

    def _publish(self) -> None:
        """Alerts and chained hits, then the changelog; each list is cleared once acknowledged."""
        if self._alerts:
            self._bus.publish(self._settings.stores.topic_alerts, self._alerts)
            EVENTS_SENT.labels(STAGE).inc(len(self._alerts))
            self._alerts = []
        if self._hits:
            self._bus.publish(self._topic, self._hits)
            self._hits = []
        if self._states:
            self._bus.publish(self._state_topic, list(self._states.items()))
            self._states = {}

    def stats(self) -> dict[str, CorrelationStats]:
        """Per correlation, summed over this worker's partitions."""
        out: dict[str, CorrelationStats] = {}
        for engine in self.engines.values():
            for cid, s in engine.correlation_stats().items():
                out[cid] = out[cid] + s if cid in out else s
        return out

    def _follow_rules(self) -> None:
        current = self._rules()
        if current is not self._resolution:
            self._resolution = current
            for partition, old in list(self.engines.items()):
                engine = self._new_engine()
                engine.adopt(old)
                self.engines[partition] = engine
        if self._disabled is None:
            return
        wanted = self._disabled()
        for partition, engine in sorted(self.engines.items()):
            if wanted != engine.disabled and engine.apply_state(wanted):
                self._collect(partition, engine, [])  # the dropped groups leave the changelog
