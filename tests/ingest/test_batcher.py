"""The batcher counts what became durable once per batch and source, and the totals stay exact:
records and bytes per source, nothing for a batch that failed, once for a batch that was retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import pytest
from prometheus_client import REGISTRY

from ingest.batcher import AsyncBatcher
from soc_core.errors import BackPressure, BusError
from soc_core.records import RawRecord


def counted(source: str) -> tuple[float, float]:
    labels = {"source": source}
    return (
        REGISTRY.get_sample_value("soc_source_events_received_total", labels) or 0.0,
        REGISTRY.get_sample_value("soc_source_received_bytes_total", labels) or 0.0,
    )


def last_seen(source: str) -> float:
    return REGISTRY.get_sample_value("soc_source_last_event_timestamp_seconds", {"source": source}) or 0.0


def records(source: str, n: int) -> list[RawRecord]:
    return [RawRecord(id=f"{source}-{i}", source_id=source, payload=f"line {i}") for i in range(n)]


class FlakySubmit:
    """Refuses the first `refusals` calls (Kafka down), then records what it got."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.got: list[RawRecord] = []
        self.sizes: list[int] = []

    def __call__(self, batch: Sequence[RawRecord]) -> int:
        if self.refusals:
            self.refusals -= 1
            raise BackPressure("test: down", retry_after=0.01)
        self.got.extend(batch)
        self.sizes.append(len(batch))
        return 0


@pytest.mark.parametrize("refusals", [0, 3])
def test_records_and_bytes_are_counted_exactly_per_source(refusals: int) -> None:
    a, b = f"batch-a-{refusals}", f"batch-b-{refusals}"
    before_a, before_b = counted(a), counted(b)
    started = time.time()
    submit = FlakySubmit(refusals)

    async def work() -> None:
        with ThreadPoolExecutor(2) as pool:
            batcher = AsyncBatcher(submit, pool, max_records=250, max_delay_s=0.01)
            futures = [
                batcher.extend(a, records(a, 100), 1000),
                batcher.extend(b, records(b, 300), 3001),  # a group is never split: 400 in one batch
                batcher.add(RawRecord(id="single", source_id=a, payload="x"), 7),
                batcher.extend(a, records(a, 40), 400),
            ]
            await batcher.drain()
            await asyncio.gather(*futures)
            assert batcher.delivered == 441

    asyncio.run(work())
    assert sorted(submit.sizes) == [41, 400]
    assert counted(a) == (before_a[0] + 141, before_a[1] + 1407)
    assert counted(b) == (before_b[0] + 300, before_b[1] + 3001)
    assert last_seen(a) >= int(started) and last_seen(b) >= int(started)


def test_a_batch_that_fails_is_not_counted() -> None:
    source = "batch-broken"
    before = counted(source)

    def broken(batch: Sequence[RawRecord]) -> int:
        raise RuntimeError("test: a bug downstream")

    async def work() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = AsyncBatcher(broken, pool, max_delay_s=0.01)
            future = batcher.extend(source, records(source, 10), 100)
            await batcher.drain()
            with pytest.raises(RuntimeError):
                await future

    asyncio.run(work())
    assert counted(source) == before
    assert last_seen(source) == 0.0


def test_a_refused_batch_waits_doubling_pauses_up_to_the_cap() -> None:
    """BusError four times: pauses of 0.1 s doubling, capped at 0.2 s (uncapped: 0.4, 0.8), then delivered."""
    calls: list[float] = []

    def down_four_times(batch: Sequence[RawRecord]) -> int:
        calls.append(time.monotonic())
        if len(calls) <= 4:
            raise BusError("test: kafka down")
        return 0

    async def work() -> None:
        with ThreadPoolExecutor(1) as pool:
            batcher = AsyncBatcher(down_four_times, pool, max_delay_s=0.01, max_backoff_s=0.2)
            future = batcher.extend("batch-cap", records("batch-cap", 5), 50)
            await batcher.drain()
            await future
            assert batcher.delivered == 5

    asyncio.run(work())
    pauses = [later - earlier for earlier, later in pairwise(calls)]
    assert len(pauses) == 4
    assert all(p >= want for p, want in zip(pauses, [0.1, 0.2, 0.2, 0.2], strict=True))
    assert max(pauses) < 0.35
