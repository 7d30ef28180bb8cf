"""The `Bus` port: publish records to a topic and consume them in a group with explicit commits.

Delivery is at-least-once: `publish` returns only once every record is acknowledged (Kafka
`acks=all`), and a consumer's offsets move only when `commit()` is called after the downstream
write succeeded. Replays are harmless because every record carries a deterministic id.

A stateful consumer (the correlate worker) also needs: partition assignment callbacks (to restore
its state for the partitions it is given), reading one partition of a topic from its beginning
(its changelog), compacted topics, and tombstones (a `None` value deletes a key there).

Adapters: `buses.kafka.KafkaBus` (production) and `InProcessBus` (embedded mode and tests
of pure logic). Example::

    bus = InProcessBus()
    bus.publish("soc.raw", [(b"src-1", b"{...}")])
    consumer = bus.consumer(["soc.raw"], group="normalize")
    batch = consumer.poll(max_records=100, timeout_s=1.0)
    ...  # write downstream
    consumer.commit()
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


KeyValue = tuple[bytes | None, bytes | None]
"""A record to publish; a `None` value is a tombstone (read back as `b""`)."""
TopicPartition = tuple[str, int]
PartitionsCallback = Callable[[list[TopicPartition]], None]


class Consumer(Protocol):
    def poll(self, max_records: int, timeout_s: float) -> list[Message]: ...

    def commit(self) -> None:
        """Commit the positions of everything returned by `poll` so far."""

    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, topic: str, records: Sequence[KeyValue]) -> None:
        """Publish and wait for acknowledgement; raises BackPressure when the bus is unavailable."""

    def consumer(
        self,
        topics: Sequence[str] | str,
        group: str,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> Consumer:
        """Subscribe `group` to a list of topics, or to a regex pattern given as one string.

        `on_assign`/`on_revoke` are called inside `poll` when the group gives or takes partitions
        (revoke before the new assignment, and before any record of an assigned partition)."""

    def ensure_topics(self, names: Sequence[str], partitions: int, *, compacted: bool = False) -> None:
        """Create the topics if missing; `compacted` keeps the latest record per key only."""

    def read_partition(self, topic: str, partition: int) -> list[Message]:
        """Every record of one partition, from its beginning to its end at the time of the call."""

    def health(self) -> dict[str, str]: ...

    def close(self) -> None: ...


class InProcessBus:
    """Topics as in-memory lists, committed offsets per (group, topic). Thread-safe.

    A new consumer of a group starts from that group's committed offsets, exactly like Kafka, so
    "kill a worker before commit and restart it" behaves the same in tests of pure logic.
    """

    def __init__(self) -> None:
        self._topics: dict[str, list[Message]] = {}
        self._committed: dict[tuple[str, str], int] = {}
        self._cond = threading.Condition()

    def publish(self, topic: str, records: Sequence[KeyValue]) -> None:
        with self._cond:
            log = self._topics.setdefault(topic, [])
            for key, value in records:
                log.append(Message(topic, 0, len(log), key, value if value is not None else b""))
            self._cond.notify_all()

    def consumer(
        self,
        topics: Sequence[str] | str,
        group: str,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> InProcessConsumer:
        return InProcessConsumer(self, topics, group, on_assign=on_assign, on_revoke=on_revoke)

    def ensure_topics(self, names: Sequence[str], partitions: int, *, compacted: bool = False) -> None:
        """One partition per topic; nothing is ever deleted, so compaction is moot."""
        with self._cond:
            for name in names:
                self._topics.setdefault(name, [])

    def read_partition(self, topic: str, partition: int) -> list[Message]:
        with self._cond:
            return list(self._topics.get(topic, [])) if partition == 0 else []

    def health(self) -> dict[str, str]:
        return {"bus": "ok (in-process)"}

    def close(self) -> None:
        return None

    def topic_length(self, topic: str) -> int:
        with self._cond:
            return len(self._topics.get(topic, []))


class InProcessConsumer:
    """One consumer of a group: it is given partition 0 of every subscribed topic (one member)."""

    def __init__(
        self,
        bus: InProcessBus,
        topics: Sequence[str] | str,
        group: str,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        self._bus = bus
        self._group = group
        self._pattern = re.compile(topics) if isinstance(topics, str) else None
        self._names = set(topics) if not isinstance(topics, str) else set()
        self._position: dict[str, int] = {}
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._assigned: set[str] = set()

    def _subscribed(self) -> list[str]:
        names = self._bus._topics.keys()
        if self._pattern is not None:
            return sorted(t for t in names if self._pattern.match(t))
        return sorted(self._names)

    def _assign(self) -> None:
        new = [t for t in self._subscribed() if t not in self._assigned]
        if new:
            self._assigned.update(new)
            if self._on_assign is not None:
                self._on_assign([(t, 0) for t in new])

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        deadline = time.monotonic() + timeout_s
        with self._bus._cond:
            while True:
                self._assign()
                out: list[Message] = []
                for topic in self._subscribed():
                    log = self._bus._topics.get(topic, [])
                    pos = self._position.get(topic, self._bus._committed.get((self._group, topic), 0))
                    take = log[pos : pos + max_records - len(out)]
                    out.extend(take)
                    self._position[topic] = pos + len(take)
                    if len(out) >= max_records:
                        break
                remaining = deadline - time.monotonic()
                if out or remaining <= 0:
                    return out
                self._bus._cond.wait(remaining)

    def commit(self) -> None:
        with self._bus._cond:
            for topic, pos in self._position.items():
                self._bus._committed[(self._group, topic)] = pos

    def close(self) -> None:
        if self._assigned and self._on_revoke is not None:
            self._on_revoke([(t, 0) for t in sorted(self._assigned)])
        self._assigned.clear()
        self._position.clear()
