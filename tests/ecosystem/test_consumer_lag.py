"""The Kafka consumer reports how far its group is behind (`soc_consumer_lag_records`), measured
against the real broker: the stalled-consumer rule and the dashboard's lag panel read it."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from buses.kafka import KafkaBus
from tests.servers import Servers


def _lag(group: str) -> float | None:
    return REGISTRY.get_sample_value("soc_consumer_lag_records", {"group": group})


def test_lag_is_what_the_partition_holds_beyond_the_last_poll(servers: Servers, prefix: str) -> None:
    bus = KafkaBus(servers.kafka_bootstrap)
    topic, group = f"{prefix}soc.events", f"{prefix}socpipe-detect"
    bus.ensure_topics([topic], 1)
    bus.publish(topic, [(None, f"record {i}".encode()) for i in range(30)])
    consumer = bus.consumer([topic], group)
    try:
        got: list[object] = []
        deadline = time.monotonic() + 60
        while not got and time.monotonic() < deadline:  # the first polls join the group
            got = list(consumer.poll(max_records=10, timeout_s=1.0))
        assert len(got) == 10
        assert _lag(group) == 20
        while len(got) < 30 and time.monotonic() < deadline:
            got += consumer.poll(max_records=10, timeout_s=1.0)
        assert len(got) == 30 and _lag(group) == 0
        bus.publish(topic, [(None, b"one more")])
        assert _lag(group) == 0  # not polled yet: the gauge says what the last poll saw
        consumer.poll(max_records=10, timeout_s=5.0)
        assert _lag(group) == 0
    finally:
        consumer.close()
        bus.close()
