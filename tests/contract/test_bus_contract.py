"""One contract, two buses: in-process and Kafka give the same delivery guarantees."""

from __future__ import annotations

import uuid

from soc_core.bus import Bus, Message


def _drain(consumer: object, want: int, rounds: int = 40) -> list[Message]:
    out: list[Message] = []
    for _ in range(rounds):
        out.extend(consumer.poll(max_records=500, timeout_s=0.5))  # type: ignore[attr-defined]
        if len(out) >= want:
            break
    return out


def test_published_records_are_consumed_in_order_per_key(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}contract"
    bus.publish(topic, [(b"k1", f"v{n}".encode()) for n in range(50)])
    consumer = bus.consumer([topic], group=f"{prefix}g")
    got = _drain(consumer, 50)
    consumer.commit()
    consumer.close()
    assert [m.value for m in got] == [f"v{n}".encode() for n in range(50)]
    assert all(m.key == b"k1" and m.topic == topic for m in got)


def test_uncommitted_records_are_redelivered_to_the_group(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}redeliver"
    group = f"{prefix}g"
    bus.publish(topic, [(None, f"a{n}".encode()) for n in range(10)])
    first = bus.consumer([topic], group)
    got = _drain(first, 10)
    assert len(got) == 10
    first.close()  # "crash" without committing
    second = bus.consumer([topic], group)
    again = _drain(second, 10)
    assert sorted(m.value for m in again) == sorted(m.value for m in got)
    second.commit()
    second.close()
    bus.publish(topic, [(None, b"after")])
    third = bus.consumer([topic], group)
    rest = _drain(third, 1)
    third.close()
    assert [m.value for m in rest] == [b"after"]


def test_groups_are_independent(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}groups"
    bus.publish(topic, [(None, b"x"), (None, b"y")])
    for group in ("g1", "g2"):
        consumer = bus.consumer([topic], f"{prefix}{group}")
        assert sorted(m.value for m in _drain(consumer, 2)) == [b"x", b"y"]
        consumer.commit()
        consumer.close()


def test_pattern_subscription_sees_per_source_topics(bus: Bus, prefix: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    topics = [f"{prefix}soc.raw.src-{suffix}-{n}" for n in range(2)]
    for t in topics:
        bus.publish(t, [(None, t.encode())])
    pattern = rf"^{prefix}soc\.raw\..+$"
    consumer = bus.consumer(pattern, f"{prefix}pat")
    got = _drain(consumer, 2, rounds=60)
    consumer.close()
    assert sorted(m.value for m in got) == sorted(t.encode() for t in topics)


def test_a_partition_reads_back_from_its_beginning_with_tombstones_as_empty(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}changelog"
    bus.ensure_topics([topic], 1, compacted=True)
    bus.publish(topic, [(b"k1", b"v1"), (b"k2", b"v2"), (b"k1", None)])
    got = bus.read_partition(topic, 0)
    assert [(m.key, m.value) for m in got] == [(b"k1", b"v1"), (b"k2", b"v2"), (b"k1", b"")]
    assert [m.offset for m in got] == [0, 1, 2]


def test_the_group_announces_assigned_partitions_before_their_records(bus: Bus, prefix: str) -> None:
    topic = f"{prefix}assigned"
    bus.ensure_topics([topic], 1)
    bus.publish(topic, [(b"k", b"x")])
    seen: list[object] = []
    consumer = bus.consumer(
        [topic],
        f"{prefix}g",
        on_assign=lambda parts: seen.append(("assign", parts)),
        on_revoke=lambda parts: seen.append(("revoke", parts)),
    )
    got = _drain(consumer, 1)
    assert seen == [("assign", [(topic, 0)])] and [m.value for m in got] == [b"x"]
    consumer.close()
