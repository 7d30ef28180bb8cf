"""A real cluster under traffic loses a Kafka broker and an Elasticsearch node (SIGKILL, mid-stream):
three KRaft brokers with every topic replicated 3 times and 2 in sync, two Elasticsearch nodes with
one replica of every index (`servers.sh env`'s profile, as docs/production.md recommends).

With one broker of three gone the intake goes on acknowledging (two copies are still in sync); with
the data node gone the index worker goes on writing to the surviving copies. Every acknowledged record
is indexed exactly once, every alert is there once. Both nodes are then started again with their
data, and the cluster heals by itself: every partition's in-sync replicas are back to three, every
index is green and both copies of every shard hold the same documents.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient

from tests.chaos.stack import Sender, Stack, make_stack
from tests.cluster.servers import KAFKA_NODES, ClusterServers
from tests.production.test_kafka_durability import topic_config

PROCESSES = ("api", "normalize", "detect", "correlate", "index")
#: Records acknowledged between two faults (and after the last), about two seconds of traffic each.
STEP = 800
KILLED_BROKER = 1  # in the bootstrap list, a controller voter, and a partition leader
KILLED_NODE = 2  # the data node: node 1 is the only master-eligible one (deploy/local/servers.sh)


@pytest.fixture(scope="module")
def stack(cluster_servers: ClusterServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    stack = make_stack(
        cluster_servers.servers, prefix, tmp_path_factory.mktemp("cluster"), **cluster_servers.settings
    )
    try:
        # the registry and triage indices made before the processes start get their replica too
        stack.store.es.indices.put_settings(index=f"{prefix}*", settings={"number_of_replicas": 1})
        stack.start(*PROCESSES)
        yield stack
    finally:
        stack.close()


def _partitions(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """Every partition of the test's topics (name, leader_id, replica_nodes, isr_nodes)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        topics = sorted(t for t in admin.list_topics() if t.startswith(prefix))
        return [{"topic": d["name"], **p} for d in admin.describe_topics(topics) for p in d["partitions"]]
    finally:
        admin.close()


def _shard_copies(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    return list(es.cat.shards(index=index, format="json", h="index,shard,prirep,state,docs,node").body)


def _wait_copies_on_both_nodes(es: Elasticsearch, index: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        copies = _shard_copies(es, index)
        if copies and {c["node"] for c in copies if c["state"] == "STARTED"} == {"socpipe-1", "socpipe-2"}:
            return
        assert time.monotonic() < deadline, f"{index} not on both nodes: {copies}"
        time.sleep(0.5)


def test_every_acknowledged_record_once_through_a_killed_broker_and_a_killed_node(
    stack: Stack, cluster_servers: ClusterServers
) -> None:
    bootstrap, prefix, es = stack.env["SOC_KAFKA_BOOTSTRAP"], stack.env["SOC_TOPIC_PREFIX"], stack.store.es
    sender = Sender(stack.url, 10**6, batch=50, pause_s=0.02)  # until stopped
    sender.start()
    sender.wait_progress(STEP)

    partitions = _partitions(bootstrap, prefix)
    topics = {p["topic"] for p in partitions}
    assert all(len(p["replica_nodes"]) == KAFKA_NODES for p in partitions), partitions
    assert all(topic_config(bootstrap, t)["min.insync.replicas"] == ("2", True) for t in topics)
    led = [p for p in partitions if p["leader_id"] == KILLED_BROKER]
    assert led, f"broker {KILLED_BROKER} leads nothing: its loss would move no leader"
    cluster_servers.kill(f"kafka-{KILLED_BROKER}")
    before = sender.progress()
    sender.wait_progress(before + STEP)  # two brokers in sync of three: still acknowledging

    events = f"{prefix}events-*"
    _wait_copies_on_both_nodes(es, events)
    assert all(int(s["number_of_replicas"]) == 1 for s in _index_settings(es, events))  # SOC_ES_REPLICAS
    cluster_servers.kill(f"elasticsearch-{KILLED_NODE}")
    before = sender.progress()
    sender.wait_progress(before + STEP)

    # Both nodes come back (with their data) while the check runs on the survivors.
    with ThreadPoolExecutor(1) as pool:
        restart = pool.submit(cluster_servers.start, f"kafka-{KILLED_BROKER} elasticsearch-{KILLED_NODE}")
        sender.stop.set()
        sender.join(timeout=60)
        assert not sender.is_alive()
        assert set(sender.statuses) <= {202, 503}, sender.statuses  # never a 5xx but back-pressure
        stack.check_exactly_once(sender.sent, sender.acknowledged)
        restart.result(timeout=600)

    deadline = time.monotonic() + 120
    while lagging := [p for p in _partitions(bootstrap, prefix) if len(p["isr_nodes"]) < KAFKA_NODES]:
        assert time.monotonic() < deadline, f"in-sync replicas did not recover: {lagging}"
        time.sleep(1)
    assert {p["topic"] for p in _partitions(bootstrap, prefix)} == topics
    health = es.cluster.health(index=f"{prefix}*", wait_for_status="green", timeout="120s")
    assert health["status"] == "green", health
    es.indices.refresh(index=events)
    by_shard: dict[tuple[str, str], set[str]] = {}
    for copy in _shard_copies(es, events):
        assert copy["state"] == "STARTED", copy
        by_shard.setdefault((copy["index"], copy["shard"]), set()).add(copy["docs"])
    assert all(len(docs) == 1 for docs in by_shard.values()), f"copies differ: {by_shard}"
    assert all(stack.alive().values()), stack.alive()  # no process died of the faults


def _index_settings(es: Elasticsearch, index: str) -> list[dict[str, Any]]:
    return [s["settings"]["index"] for s in es.indices.get_settings(index=index).body.values()]
