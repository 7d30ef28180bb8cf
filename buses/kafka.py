"""Kafka adapter of the `Bus` port (kafka-python).

Producers use `acks=all` and `publish` waits for every future, so a receiver that acknowledges
after `publish` returned never loses what it acknowledged. Consumers never auto-commit: the
runner commits after its downstream write. An unreachable cluster raises `BackPressure`, which
the HTTP intake turns into 503 + Retry-After and the syslog receiver into "stop reading".

kafka-python checksums every record batch it builds or fetches (CRC-32C). It does so in C only
when the `crc32c` package is installed (a dependency of socpipe for that reason); in its pure
Python fallback the checksum cost more than everything else a receiver does, so its absence is
logged when the producer starts.

Security is set per deployment too: `KafkaSecurity` (SASL_SSL with SCRAM, or SSL with a client
certificate) goes to every client this adapter makes: producer, consumers, admin and readers.

Durability is set per deployment: the topics we create get `replication` copies and
`min.insync.replicas`, and the producer is idempotent, so a send retried after a lost acknowledgement
is written once (docs/production.md gives a cluster's values).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import CommitFailedError, KafkaError, TopicAlreadyExistsError

from soc_core.bus import KeyValue, Message, PartitionsCallback
from soc_core.errors import BackPressure, BusError
from soc_core.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def native_crc32c() -> bool:
    """Whether kafka-python can checksum record batches in C (the `crc32c` package)."""
    return importlib.util.find_spec("crc32c") is not None


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate and encrypt (`SOC_KAFKA_SECURITY_PROTOCOL` and its companions);
    the default is the local servers' plaintext."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = ""
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    key_password: str | None = None

    def client_options(self) -> dict[str, Any]:
        """kafka-python's keyword arguments; host names are checked against the brokers'
        certificates (kafka-python's default, kept)."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.protocol.endswith("SSL"):
            files = {"ssl_cafile": self.cafile, "ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile}
            options |= {k: str(v) for k, v in files.items() if v is not None}
            if self.key_password is not None:
                options["ssl_password"] = self.key_password
        return options


class KafkaBus:
    def __init__(
        self,
        bootstrap: str,
        *,
        publish_timeout_s: float = 10.0,
        client_id: str = "socpipe",
        health_topic: str = "soc.raw",
        replication: int = 1,
        min_insync_replicas: int = 1,
        idempotence: bool = True,
        security: KafkaSecurity | None = None,
    ) -> None:
        self._security = (security or KafkaSecurity()).client_options()
        self._health_topic = health_topic
        self._replication = replication
        self._min_insync = min_insync_replicas
        self._idempotence = idempotence
        self._bootstrap = bootstrap
        self._timeout = publish_timeout_s
        self._client_id = client_id
        self._producer: KafkaProducer | None = None

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            if not native_crc32c():
                log.warning(
                    "the crc32c package is missing: kafka-python checksums batches in pure Python, "
                    "several times slower (pip install crc32c)"
                )
            try:
                self._producer = KafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    acks="all",
                    enable_idempotence=self._idempotence,
                    linger_ms=2,
                    batch_size=512 * 1024,
                    retries=5,
                    max_request_size=MAX_MESSAGE_BYTES,
                    max_block_ms=int(self._timeout * 1000),
                    request_timeout_ms=int(self._timeout * 1000),
                    # kafka-python bootstraps in the constructor, 30 s by default: with Kafka down
                    # every intake request would wait that long for its 503
                    bootstrap_timeout_ms=int(self._timeout * 1000),
                    compression_type=None,
                    **self._security,
                )
            except KafkaError as exc:
                raise BackPressure(f"Kafka unavailable: {exc}", bootstrap=self._bootstrap) from exc
        return self._producer

    def publish(self, topic: str, records: Sequence[KeyValue]) -> None:
        """Send and wait for this call's own acknowledgements (no producer-wide flush, so concurrent
        callers never wait for each other's records)."""
        if not records:
            return
        producer = self._get_producer()
        try:
            futures = [producer.send(topic, key=key, value=value) for key, value in records]
            for future in futures:
                future.get(timeout=self._timeout)
        except KafkaError as exc:
            raise BackPressure(f"Kafka did not acknowledge: {exc}", topic=topic) from exc

    def consumer(
        self,
        topics: Sequence[str] | str,
        group: str,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> KafkaBusConsumer:
        return KafkaBusConsumer(
            self._bootstrap,
            topics,
            group,
            client_id=self._client_id,
            on_assign=on_assign,
            on_revoke=on_revoke,
            security=self._security,
        )

    def ensure_topics(self, names: Sequence[str], partitions: int, *, compacted: bool = False) -> None:
        """Create topics with the wanted partition count, the bus's replication and
        `min.insync.replicas` (idempotent: existing topics are left as they are); `compacted`: keep
        the latest record per key (a changelog), deleting keys whose latest record is a tombstone.
        A replication above the brokers there are is refused by Kafka and raised, never lowered."""
        admin = KafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id=self._client_id, **self._security
        )
        configs = {
            "max.message.bytes": str(MAX_MESSAGE_BYTES),
            "min.insync.replicas": str(self._min_insync),
        }
        if compacted:
            configs["cleanup.policy"] = "compact"
        try:
            existing = set(admin.list_topics())
            wanted = [
                NewTopic(
                    name=n,
                    num_partitions=partitions,
                    replication_factor=self._replication,
                    topic_configs=dict(configs),
                )
                for n in names
                if n not in existing
            ]
            if wanted:
                # another process creating the same topic at once is not an error; any other
                # per-topic refusal (e.g. InvalidReplicationFactor) is raised by create_topics
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(wanted)
        except KafkaError as exc:
            raise BusError(
                f"cannot create topics: {exc}",
                bootstrap=self._bootstrap,
                replication=str(self._replication),
                min_insync_replicas=str(self._min_insync),
            ) from exc
        finally:
            admin.close()

    def read_partition(self, topic: str, partition: int) -> list[Message]:
        """The partition from its beginning to its end offset now (no group, nothing committed)."""
        tp = TopicPartition(topic, partition)
        try:
            reader = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                group_id=None,
                enable_auto_commit=False,
                max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
                fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
                **self._security,
            )
        except KafkaError as exc:
            raise BusError(f"cannot read {topic}/{partition}: {exc}", topic=topic) from exc
        out: list[Message] = []
        try:
            reader.assign([tp])
            reader.seek_to_beginning(tp)
            end = reader.end_offsets([tp])[tp]
            while reader.position(tp) < end:
                for records in reader.poll(timeout_ms=1000, max_records=5000).values():
                    out += [Message(topic, partition, r.offset, r.key, r.value or b"") for r in records]
        except KafkaError as exc:
            raise BusError(f"cannot read {topic}/{partition}: {exc}", topic=topic) from exc
        finally:
            reader.close(autocommit=False)
        return [m for m in out if m.offset < end]

    def health(self) -> dict[str, str]:
        """Healthy when the cluster answers a metadata request for the topic we publish to."""
        try:
            partitions = self._get_producer().partitions_for(self._health_topic)
        except (BackPressure, KafkaError) as exc:
            return {"kafka": f"down: {exc}"}
        return {"kafka": f"ok ({len(partitions or ())} partitions of {self._health_topic})"}

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=self._timeout)
            self._producer = None


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """kafka-python's rebalance callbacks, as (topic, partition) lists."""

    def __init__(self, on_assign: PartitionsCallback | None, on_revoke: PartitionsCallback | None) -> None:
        self._on_assign = on_assign
        self._on_revoke = on_revoke

    def on_partitions_revoked(self, revoked: Any) -> None:
        if self._on_revoke is not None and revoked:
            self._on_revoke(sorted((tp.topic, tp.partition) for tp in revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        if self._on_assign is not None and assigned:
            self._on_assign(sorted((tp.topic, tp.partition) for tp in assigned))


class KafkaBusConsumer:
    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str] | str,
        group: str,
        *,
        client_id: str,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
        security: dict[str, Any] | None = None,
    ) -> None:
        self._group = group
        self._lag: dict[Any, int] = {}  # TopicPartition -> records behind, after the last poll
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
            fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
            metadata_max_age_ms=5000,  # discover new soc.raw.<source> topics quickly
            **(security or {}),
        )
        listener = _Listener(on_assign, on_revoke)
        if isinstance(topics, str):
            self._consumer.subscribe(pattern=topics, listener=listener)
        else:
            self._consumer.subscribe(topics=list(topics), listener=listener)

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        try:
            batches: dict[Any, list[Any]] = self._consumer.poll(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except KafkaError as exc:
            raise BusError(f"poll failed: {exc}") from exc
        out: list[Message] = []
        for tp, records in batches.items():
            for r in records:
                out.append(Message(tp.topic, tp.partition, r.offset, r.key, r.value))
        self._count_lag(batches)
        return out

    def _count_lag(self, batches: dict[Any, list[Any]]) -> None:
        """`soc_consumer_lag_records{group}`: the highwater of each partition polled minus what this
        poll reached (both known without a request). An empty poll means caught up. A worker that
        stops polling keeps its last value, which the stalled-consumer rule reads with a stage
        that receives nothing (deploy/prometheus/socpipe.rules.yml)."""
        if not batches:
            self._lag.clear()
        for tp, records in batches.items():
            high = self._consumer.highwater(tp)
            if high is not None and records:
                self._lag[tp] = max(0, high - records[-1].offset - 1)
        if self._lag:
            assigned = self._consumer.assignment()
            self._lag = {tp: n for tp, n in self._lag.items() if tp in assigned}
        CONSUMER_LAG.labels(self._group).set(sum(self._lag.values()))

    def commit(self) -> None:
        """Commit the positions of what was polled. Refused because the group moved the partitions
        to another member meanwhile: nothing to retry, that member replays from the last commit."""
        try:
            self._consumer.commit()
        except CommitFailedError as exc:
            log.warning("commit refused after a rebalance, the batch will be replayed: %s", exc)
        except KafkaError as exc:
            raise BusError(f"commit failed: {exc}") from exc

    def close(self) -> None:
        self._consumer.close(autocommit=False)
