"""Topics created with the configured replication and `min.insync.replicas`, an idempotent producer,
on the real local Kafka (one broker)."""

from __future__ import annotations

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from buses.kafka import KafkaBus
from soc_core.errors import BusError, ConfigError
from soc_core.settings import Settings, StoreSettings
from socpipe.runtime import build_kafka
from tests.servers import Servers


def topic_config(bootstrap: str, topic: str) -> dict[str, tuple[str, bool]]:
    """name -> (value, set on the topic itself rather than inherited from the broker)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resp = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        admin.close()
    entries = resp["topic"][topic]
    return {name: (e["value"], e["config_source"] == "DYNAMIC_TOPIC_CONFIG") for name, e in entries.items()}


def test_topics_carry_min_insync_replicas(servers: Servers, prefix: str) -> None:
    bus = KafkaBus(servers.kafka_bootstrap, replication=1, min_insync_replicas=1)
    topic = f"{prefix}durable"
    bus.ensure_topics([topic], 2)
    bus.close()
    configs = topic_config(servers.kafka_bootstrap, topic)
    assert configs["min.insync.replicas"] == ("1", True)
    admin = KafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    assert len(described["partitions"]) == 2
    assert all(p["replica_nodes"] == [p["leader_id"]] for p in described["partitions"])


def test_a_replication_above_the_brokers_is_refused_not_lowered(servers: Servers, prefix: str) -> None:
    """One broker cannot hold 3 copies: the error names the replication, no topic is made with fewer."""
    bus = KafkaBus(servers.kafka_bootstrap, replication=3, min_insync_replicas=2)
    topic = f"{prefix}replicated"
    with pytest.raises(BusError) as err:
        bus.ensure_topics([topic], 1)
    bus.close()
    assert err.value.context["replication"] == "3"
    admin = KafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
    try:
        assert topic not in admin.list_topics()
    finally:
        admin.close()


def test_the_producer_is_idempotent_and_publishes(
    servers: Servers, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOC_KAFKA_BOOTSTRAP", servers.kafka_bootstrap)
    monkeypatch.setenv("SOC_TOPIC_PREFIX", prefix)
    bus = build_kafka(Settings())
    topic = f"{prefix}idempotent"
    bus.ensure_topics([topic], 1)
    bus.publish(topic, [(b"k", b"one"), (b"k", b"two")])
    producer = bus._get_producer()
    assert producer.config["enable_idempotence"] is True
    # the broker gave this producer an id and epoch: retried batches are de-duplicated by them
    assert producer._transaction_manager.producer_id_and_epoch.producer_id >= 0
    assert [m.value for m in bus.read_partition(topic, 0)] == [b"one", b"two"]
    bus.close()


def test_min_insync_above_replication_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="MIN_INSYNC"):
        StoreSettings(topic_replication=1, topic_min_insync_replicas=2)
    assert StoreSettings(topic_replication=3, topic_min_insync_replicas=2).topic_min_insync_replicas == 2
