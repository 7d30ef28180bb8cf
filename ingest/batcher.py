"""Batches records from many connections into one `submit` call, off the event loop.

Receivers add records and get the future of the batch they landed in; a TCP connection awaits
those futures before it reads more, which is how Kafka back-pressure reaches the sender (the
socket stops being read, the sender's queue fills) instead of records being dropped. A batch is
handed to `submit` when it holds `max_records` or its first record waited `max_delay_s`; records
that arrived together (one TCP read) are added together and never split, so a batch may hold a
little more than `max_records`.

What is durable is counted once per batch and source (`ingest.metrics.accepted`: records, bytes,
last event time), not once per record: prometheus-client calls cost a microsecond or more each.

`submit` failures that downstream recovers from (`SocError`: BackPressure, BusError, StoreError)
are retried with backoff (tenacity), forever, while the batch's future stays pending; any other
exception is a bug: it fails the batch's future (the TCP connection closes, UDP counts `submit_error`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from ingest.metrics import accepted
from soc_core.errors import BackPressure, SocError
from soc_core.records import DeadLetter, RawRecord

log = logging.getLogger(__name__)

Submit = Callable[[Sequence[RawRecord]], int]
DeadLetterSink = Callable[[Sequence[DeadLetter]], object]


@dataclass(slots=True)
class _Batch:
    future: asyncio.Future[None]
    records: list[RawRecord] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    counts: dict[str, list[int]] = field(default_factory=dict)  # source id -> [records, bytes]

    def __len__(self) -> int:
        return len(self.records) + len(self.deadletters)

    def count(self, source_id: str, records: int, nbytes: int) -> None:
        tally = self.counts.get(source_id)
        if tally is None:
            self.counts[source_id] = [records, nbytes]
        else:
            tally[0] += records
            tally[1] += nbytes


class AsyncBatcher:
    def __init__(
        self,
        submit: Submit,
        executor: Executor,
        *,
        deadletter: DeadLetterSink | None = None,
        max_records: int = 500,
        max_delay_s: float = 0.05,
        max_inflight: int = 2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._submit = submit
        self._deadletter = deadletter
        self._executor = executor
        self.max_records = max_records
        self.max_delay_s = max_delay_s
        self._backoff = wait_exponential(multiplier=0.1, max=max_backoff_s)
        self._slots = asyncio.Semaphore(max_inflight)
        self._current: _Batch | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight_records = 0
        self._outage_since: float | None = None
        self.delivered = 0

    @property
    def backlog(self) -> int:
        """Records accepted but not yet durable (waiting in a batch or inside `submit`)."""
        current = len(self._current) if self._current is not None else 0
        return current + self._inflight_records

    @property
    def can_deadletter(self) -> bool:
        return self._deadletter is not None

    def _batch(self) -> _Batch:
        if self._current is None:
            loop = asyncio.get_running_loop()
            self._current = _Batch(loop.create_future())
            self._timer = loop.call_later(self.max_delay_s, self.flush)
        return self._current

    def add(self, record: RawRecord, nbytes: int) -> asyncio.Future[None]:
        """Queue one record (`nbytes`: its size as received); the future is its batch's."""
        return self.extend(record.source_id, [record], nbytes)

    def extend(self, source_id: str, records: Sequence[RawRecord], nbytes: int) -> asyncio.Future[None]:
        """Queue records of one source that arrived together (`nbytes`: their size as received),
        all in the same batch; the future is that batch's."""
        batch = self._batch()
        batch.records.extend(records)
        batch.count(source_id, len(records), nbytes)
        if len(batch) >= self.max_records:
            self.flush()
        return batch.future

    def add_deadletter(self, letter: DeadLetter) -> asyncio.Future[None]:
        if self._deadletter is None:
            raise RuntimeError("no dead-letter sink configured")
        batch = self._batch()
        batch.deadletters.append(letter)
        if len(batch) >= self.max_records:
            self.flush()
        return batch.future

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._current = self._current, None
        if batch is None or not len(batch):
            if batch is not None:
                batch.future.set_result(None)
            return
        self._inflight_records += len(batch)
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Hand over what is pending and wait until every batch is durable (or failed)."""
        self.flush()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, batch: _Batch) -> None:
        loop = asyncio.get_running_loop()
        size = len(batch)
        try:
            async with self._slots:
                retrying = AsyncRetrying(
                    retry=retry_if_exception_type(SocError),
                    wait=self._wait,
                    before_sleep=lambda state: self._outage_started(state, size),
                )
                async for attempt in retrying:
                    with attempt:
                        await loop.run_in_executor(self._executor, self._deliver, batch)
            if self._outage_since is not None:
                log.warning("downstream available again after %.1fs", loop.time() - self._outage_since)
                self._outage_since = None
            self.delivered += len(batch.records)
            accepted((source, n, nbytes) for source, (n, nbytes) in batch.counts.items())
            batch.future.set_result(None)
        except asyncio.CancelledError:
            batch.future.cancel()
            raise
        except Exception as exc:
            log.exception("submit failed with an unexpected error; %d records not delivered", size)
            batch.future.set_exception(exc)
            batch.future.exception()  # mark retrieved: UDP senders never await it
        finally:
            self._inflight_records -= size

    def _wait(self, state: RetryCallState) -> float:
        """0.1 s doubling to `max_backoff_s`, shortened to a BackPressure's `retry_after`."""
        delay = float(self._backoff(state))
        exc = state.outcome.exception() if state.outcome is not None else None
        return min(delay, exc.retry_after) if isinstance(exc, BackPressure) else delay

    def _outage_started(self, state: RetryCallState, size: int) -> None:
        if self._outage_since is None:
            self._outage_since = asyncio.get_running_loop().time()
            exc = state.outcome.exception() if state.outcome is not None else None
            log.warning("downstream unavailable, holding %d records and retrying: %s", size, exc)

    def _deliver(self, batch: _Batch) -> None:
        """Runs in the executor. Dead letters first; once written they are not written again."""
        if batch.deadletters:
            assert self._deadletter is not None
            self._deadletter(batch.deadletters)
            batch.deadletters = []
        if batch.records:
            self._submit(batch.records)
