"""A distributed worker retries a failed downstream write with growing pauses, commits a batch only
once it is handled, and leaves it uncommitted (to be replayed) when asked to stop meanwhile."""

from __future__ import annotations

import gc
import threading
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY

from soc_core.bus import Consumer, InProcessBus, Message
from soc_core.errors import BusError, StoreError
from soc_core.records import DeadLetter
from socpipe.workers import StageWorker

TOPIC = "workers-test"


class PausingStop(threading.Event):
    """The worker's stop event, recording the pauses instead of sleeping them; set on pause `stop_at`."""

    def __init__(self, stop_at: int = 0) -> None:
        super().__init__()
        self.stop_at = stop_at
        self.pauses: list[float | None] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) == self.stop_at:
            self.set()
        return self.is_set()


class Failing:
    """Raises `error` on the first `failures` calls, then stops the worker after handling a batch."""

    def __init__(self, stop: threading.Event, failures: int, error: Exception) -> None:
        self.stop, self.failures, self.error = stop, failures, error
        self.calls = 0

    def __call__(self, messages: Sequence[Message]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        self.stop.set()


def _bus() -> InProcessBus:
    bus = InProcessBus()
    bus.publish(TOPIC, [(None, b"one"), (None, b"two")])
    return bus


def _uncommitted(bus: InProcessBus, group: str) -> int:
    return len(bus.consumer([TOPIC], group).poll(10, timeout_s=0))


def _errors(stage: str) -> float:
    return REGISTRY.get_sample_value("soc_stage_errors_total", {"stage": stage}) or 0.0


def test_a_failed_batch_is_retried_with_doubling_pauses_and_committed_once_handled() -> None:
    bus, stop = _bus(), PausingStop()
    handle = Failing(stop, failures=7, error=StoreError("test: store down"))
    before = _errors("retry-test")
    worker = StageWorker("retry-test", bus.consumer([TOPIC], "g1"), handle, stop=stop)
    worker.run()
    assert handle.calls == 8
    assert stop.pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert _errors("retry-test") == before + 7
    assert worker.batches == 1
    assert _uncommitted(bus, "g1") == 0


def test_stopping_during_a_pause_leaves_the_batch_uncommitted() -> None:
    bus, stop = _bus(), PausingStop(stop_at=2)
    handle = Failing(stop, failures=100, error=BusError("test: kafka down"))
    worker = StageWorker("stop-test", bus.consumer([TOPIC], "g2"), handle, stop=stop)
    worker.run()
    assert handle.calls == 2  # no attempt after the stop
    assert worker.batches == 0
    assert _uncommitted(bus, "g2") == 2


def test_an_unexpected_error_is_not_retried() -> None:
    bus, stop = _bus(), PausingStop()
    handle = Failing(stop, failures=1, error=ValueError("test: a bug"))
    worker = StageWorker("bug-test", bus.consumer([TOPIC], "g3"), handle, stop=stop)
    with pytest.raises(ValueError):
        worker.run()
    assert handle.calls == 1 and stop.pauses == []
    assert _uncommitted(bus, "g3") == 2


class PoisonAware:
    """Fails on any batch holding the message `b"poison"`, handles (and records) the others."""

    def __init__(self, stop: threading.Event, total: int) -> None:
        self.stop, self.total = stop, total
        self.handled: list[bytes] = []

    def __call__(self, messages: Sequence[Message]) -> None:
        if any(m.value == b"poison" for m in messages):
            raise RecursionError("test: the stage cannot process this record")
        self.handled += [m.value for m in messages]
        if len(self.handled) == self.total:
            self.stop.set()


def test_an_unexpected_error_on_one_record_dead_letters_it_and_the_batch_moves_on() -> None:
    bus, stop = InProcessBus(), PausingStop()
    values = [b"one", b"two", b"poison", b"three", b"four"]
    bus.publish(TOPIC, [(b"src-a", v) for v in values])
    handle = PoisonAware(stop, total=4)
    letters: list[DeadLetter] = []
    worker = StageWorker(
        "poison-test", bus.consumer([TOPIC], "g4"), handle, stop=stop, deadletter=letters.extend
    )
    worker.run()
    assert handle.handled == [b"one", b"two", b"three", b"four"]  # in order, each once
    assert [(d.stage, d.raw, d.source_id) for d in letters] == [("poison-test", "poison", "src-a")]
    assert "RecursionError" in letters[0].reason and "test: the stage cannot" in letters[0].reason
    assert stop.pauses == []  # not retried: a bad record is not an outage
    assert _uncommitted(bus, "g4") == 0


class KafkaOutage:
    """A real consumer whose first `poll_failures` polls and `failures` commits fail as they do while
    Kafka is down; stops the worker when the topic is drained."""

    def __init__(
        self, consumer: Consumer, failures: int, stop: threading.Event, poll_failures: int = 0
    ) -> None:
        self.consumer, self.failures, self.stop = consumer, failures, stop
        self.poll_failures = poll_failures

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        if self.poll_failures:
            self.poll_failures -= 1
            raise BusError("test: poll failed: KafkaConnectionError: 111 ECONNREFUSED")
        messages = self.consumer.poll(max_records, timeout_s)
        if not messages:
            self.stop.set()
        return messages

    def commit(self) -> None:
        if self.failures:
            self.failures -= 1
            raise BusError("test: commit failed: KafkaConnectionError: 111 ECONNREFUSED")
        self.consumer.commit()

    def close(self) -> None:
        self.consumer.close()


def test_a_failed_commit_is_retried_not_a_crash() -> None:
    """Kafka down between the batch's write and its commit (found by the chaos suite: the index
    worker exited): the commit is retried with the same pauses, and the batch is committed once."""
    bus, stop = _bus(), PausingStop()
    handle = Failing(threading.Event(), failures=0, error=BusError("unused"))
    consumer = KafkaOutage(bus.consumer([TOPIC], "g5"), failures=2, stop=stop)
    worker = StageWorker("commit-test", consumer, handle, stop=stop)
    worker.run()
    assert handle.calls == 1  # the batch was not handled again
    assert stop.pauses == [0.5, 1.0]
    assert worker.batches == 1
    assert _uncommitted(bus, "g5") == 0


def test_a_failed_poll_is_retried_not_a_crash() -> None:
    """Kafka down when the worker polls (found by the chaos suite: the correlate worker exited)."""
    bus, stop = _bus(), PausingStop()
    handle = Failing(threading.Event(), failures=0, error=BusError("unused"))
    consumer = KafkaOutage(bus.consumer([TOPIC], "g6"), failures=0, stop=stop, poll_failures=3)
    worker = StageWorker("poll-test", consumer, handle, stop=stop)
    worker.run()
    assert stop.pauses == [0.5, 1.0, 2.0]
    assert handle.calls == 1 and worker.batches == 1
    assert _uncommitted(bus, "g6") == 0


class CollectorWatchingStop(PausingStop):
    """Also records whether the cyclic collector runs during each pause between tries."""

    def __init__(self) -> None:
        super().__init__()
        self.collector_on: list[bool] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.collector_on.append(gc.isenabled())
        return super().wait(timeout)


def test_the_collector_is_held_off_during_a_batch_only_and_a_failure_leaves_it_on() -> None:
    """The handler runs with the cyclic collector paused (collections in the middle of a batch
    walked its live events again and again); it runs again between batches and after a failed
    try, so a retried failure's exception cycles do not pile up; a collector the process had
    disabled stays disabled."""
    bus, stop = _bus(), CollectorWatchingStop()
    seen: list[bool] = []

    class Recording(Failing):
        def __call__(self, messages: Sequence[Message]) -> None:
            seen.append(gc.isenabled())
            super().__call__(messages)

    handle = Recording(stop, failures=1, error=StoreError("test: store down"))
    assert gc.isenabled()
    StageWorker("gc-test", bus.consumer([TOPIC], "g-gc"), handle, stop=stop).run()
    assert seen == [False, False]  # the failed try and the one that succeeded
    assert stop.collector_on == [True]  # the pause before the retry
    assert gc.isenabled()

    gc.disable()
    try:
        bus2, stop2 = _bus(), PausingStop()
        handled = Failing(stop2, failures=0, error=ValueError())
        StageWorker("gc-test-off", bus2.consumer([TOPIC], "g-gc2"), handled, stop=stop2).run()
        assert handled.calls == 1 and not gc.isenabled()
    finally:
        gc.enable()
