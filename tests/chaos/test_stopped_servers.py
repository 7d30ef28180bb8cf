"""Elasticsearch and Kafka stopped and started again under traffic, on this session's own servers
(`private_servers`: the shared ones are never stopped).

Elasticsearch down, Kafka up: the intake goes on acknowledging (202) from its cached registry, the
index worker commits no offset past what it could not index, and after the restart everything
acknowledged is indexed once, every alert once; no process died (the scheduler neither).

Kafka down: the intake answers 503 with Retry-After (never 500) as soon as a record cannot be made
durable; after the restart the workers carry on by themselves, and nothing acknowledged is lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient

from tests.chaos.servers import PrivateServers
from tests.chaos.stack import Sender, Stack, stack_fixture

PROCESSES = ("api", "normalize", "detect", "correlate", "index", "scheduler")
OUTAGE_S = 12  # traffic while the server is down, before it is started again


@pytest.fixture(scope="module")
def stack(private_servers: PrivateServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("outages")
    yield from stack_fixture(private_servers.servers, f"t{uuid.uuid4().hex[:10]}-", tmp, *PROCESSES)


def _committed(stack: Stack, group: str) -> dict[tuple[str, int], int]:
    admin = KafkaAdminClient(bootstrap_servers=stack.env["SOC_KAFKA_BOOTSTRAP"])
    name = f"{stack.env['SOC_TOPIC_PREFIX']}socpipe-{group}"
    try:
        offsets = admin.list_group_offsets(name)[name]
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


def test_elasticsearch_stopped_and_restarted_under_traffic(
    stack: Stack, private_servers: PrivateServers
) -> None:
    sender = Sender(stack.url, 10**6, batch=20, pause_s=0.2)  # until stopped: about 90 records/s
    sender.start()
    sender.wait_progress(400)
    private_servers.stop("elasticsearch")
    acknowledged_before = sender.progress()
    time.sleep(5)  # a batch indexed just before the stop may still commit; none after
    frozen = _committed(stack, "index")
    time.sleep(OUTAGE_S)
    assert _committed(stack, "index") == frozen, "the index worker committed while it could not index"
    during = sender.progress() - acknowledged_before
    assert during > 0, f"the intake stopped acknowledging while Elasticsearch was down: {sender.statuses}"
    private_servers.start("elasticsearch")
    time.sleep(3)  # traffic after the restart too
    sender.stop.set()
    sender.join(timeout=60)
    assert set(sender.statuses) == {202}, sender.statuses  # Kafka was up: everything was durable
    stack.check_exactly_once(sender.sent, sender.acknowledged)
    assert all(stack.alive().values()), stack.alive()
    stack.acknowledged |= sender.acknowledged
    stack.sent = sender.sent


def test_kafka_stopped_and_restarted_under_traffic(stack: Stack, private_servers: PrivateServers) -> None:
    sender = Sender(stack.url, 10**6, batch=20, pause_s=0.2, first=stack.sent)
    sender.start()
    sender.wait_progress(400)
    private_servers.stop("kafka")
    deadline = time.monotonic() + 60
    while sender.statuses[503] == 0:
        assert time.monotonic() < deadline, f"no 503 while Kafka was down: {sender.statuses}"
        time.sleep(0.2)
    time.sleep(OUTAGE_S / 2)
    private_servers.start("kafka")
    deadline = time.monotonic() + 120
    resumed = sender.statuses[202]
    while sender.statuses[202] < resumed + 10:  # acknowledging again
        assert time.monotonic() < deadline, f"the intake did not recover: {sender.statuses}"
        time.sleep(0.2)
    sender.stop.set()
    sender.join(timeout=60)
    assert set(sender.statuses) == {202, 503}, sender.statuses  # never a 500
    assert sender.retry_after and all(v and int(v) >= 1 for v in sender.retry_after), sender.retry_after
    assert all(stack.alive().values()), stack.alive()  # nobody was restarted: they recovered
    stack.check_exactly_once(sender.sent, stack.acknowledged | sender.acknowledged)
