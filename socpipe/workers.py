"""Distributed-mode workers: one stage per process, connected by Kafka, storing into Elasticsearch.

Each worker polls a batch, processes it, writes downstream (Kafka `acks=all` or an Elasticsearch
bulk), and only then commits its offsets. A failed downstream write is retried with backoff and
never committed (a failed poll or commit is retried the same way), so a worker killed at any moment loses
nothing: the next one replays from the last commit and the deterministic ids turn the replay into
duplicates that are not written twice.
SIGTERM (or SIGINT) lets the current batch finish and commit before the process exits.

One bad record is a dead letter, never a stopped partition. Every handler checks a message's
nesting (`soc_core.guards`) before parsing it and turns what it cannot decode or write into a dead
letter; beyond that, `StageWorker` is the failure boundary of last resort: when a handler raises
anything but `BusError`/`StoreError` (those are the infrastructure's, and retried), the batch is
split in halves and handled again until the one message it fails on is found; that message
becomes a dead letter with the exception as its reason (logged, counted) and the rest of the
batch is handled and committed. Handling a message again is what a replay after a SIGKILL does
anyway (deterministic ids, replay-aware correlation state), so the split costs nothing in
correctness.

The detect worker also publishes the hits of rules that correlation rules read to `soc.rulehits`,
keyed by "<correlation id>|<group key>", for the correlate worker (`socpipe.correlate`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from types import FrameType
from typing import Any

import orjson
from pydantic import ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential

from detections.correlation.hits import RuleHit
from soc_core.alert import Alert, AlertRepeat
from soc_core.bus import Bus, Consumer, Message
from soc_core.errors import BusError, RecordRefused, SocError, StoreError
from soc_core.event import Event, UncheckedEvent
from soc_core.guards import ENVELOPE_DEPTH, check_size, loads_checked
from soc_core.metrics import BATCH_SECONDS, EVENTS_DROPPED, STAGE_ERRORS
from soc_core.pipeline import (
    BatchOutcome,
    Detect,
    Normalize,
    detect_batch,
    failed_event,
    normalize_batch,
    settle_outcome,
    write_alerts,
)
from soc_core.records import DeadLetter, RawRecord, raw_records_of, record_id
from soc_core.settings import Settings
from soc_core.store import Store
from socpipe.event_messages import encode_event_messages, event_document, event_documents
from socpipe.heap import collector_paused

log = logging.getLogger(__name__)

Handler = Callable[[Sequence[Message]], None]
DeadLetterSink = Callable[[Sequence[DeadLetter]], object]

#: What a handler treats as "this message cannot be decoded": a dead letter, not a failure.
UNDECODABLE = (ValidationError, ValueError, RecordRefused)


def undecodable(
    message: Message,
    stage: str,
    exc: Exception,
    *,
    what: str = "undecodable",
    position: int | None = None,
    item: object = None,
) -> DeadLetter:
    """The dead letter of a message a stage could not take, or of its element at `position` (one
    event of a `soc.events` array, `item`), saying where it was and why."""
    where = f"{message.topic}/{message.partition}@{message.offset}"
    raw = message.value.decode("utf-8", "replace")
    if position is not None:
        where += f"#{position}"
        # orjson.JSONEncodeError (a TypeError): beyond what can be written again; keep the message
        with contextlib.suppress(TypeError):
            raw = orjson.dumps(item).decode()
    return DeadLetter(
        id=f"{stage}-{where}",
        stage=stage,
        reason=f"{what} {'event' if position is not None else 'record'} at {where}: {exc}"[:2000],
        raw=raw,
        source_id=message.key.decode("utf-8", "replace") if message.key else None,
    )


def publish_deadletters(bus: Bus, topic: str) -> DeadLetterSink:
    """Dead letters to the dead-letter topic (the index worker stores them), keyed by source."""

    def sink(letters: Sequence[DeadLetter]) -> None:
        bus.publish(topic, [(d.source_id.encode() if d.source_id else None, d.to_json()) for d in letters])

    return sink


def decode_checked(message: Message, max_depth: int) -> dict[str, Any]:
    """A message between stages (a JSON object), parsed, and refused when it nests too deep to be
    written again."""
    doc = loads_checked(message.value, max_depth + ENVELOPE_DEPTH)
    if not isinstance(doc, dict):
        raise ValueError(f"a JSON object expected, got {type(doc).__name__}")
    return doc


def decode_events(
    messages: Sequence[Message], max_depth: int, stage: str, failed: list[DeadLetter], *, checked: bool = True
) -> list[Event]:
    """The events of `soc.events` messages (`socpipe.event_messages`), validated one by one: a
    message that cannot be read, or one element that is not an event, is a dead letter in `failed`.
    `checked=False`: each element that is a JSON object is an `UncheckedEvent`, validated when its
    document is read (the detect worker reads it for the events that alert)."""
    events: list[Event] = []
    for m in messages:
        try:
            items = event_documents(m, max_depth)
        except UNDECODABLE as exc:
            failed.append(undecodable(m, stage, exc))
            continue
        for position, item in enumerate(items):
            try:
                doc = event_document(item)
                events.append(Event.from_doc(doc) if checked else UncheckedEvent(doc))
            except UNDECODABLE as exc:
                failed.append(undecodable(m, stage, exc, position=position, item=item))
    return events


class StageWorker:
    """Poll -> handle -> commit, with retries that never commit a batch that was not handled."""

    def __init__(
        self,
        name: str,
        consumer: Consumer,
        handle: Handler,
        *,
        batch: int = 500,
        stop: threading.Event | None = None,
        idle: Callable[[], None] | None = None,
        deadletter: DeadLetterSink | None = None,
    ) -> None:
        self.name = name
        self.consumer = consumer
        self.handle = handle
        self.deadletter = deadletter  # None: a handler's unexpected error stops the worker
        self.idle = idle  # called when a poll returned nothing (a timer for stateful stages)
        self.batch = batch
        self.stop = stop or threading.Event()
        self.batches = 0

    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("worker %s got signal %s: finishing the current batch", self.name, signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def run(self) -> None:
        log.info("worker %s started", self.name)
        try:
            while not self.stop.is_set():
                # poll and commit are retried like the batch: Kafka down is an outage, not an exit
                messages = self._poll()
                if messages is None:
                    continue
                if not messages:
                    if self.idle is not None:
                        self._with_retry(self.idle)
                    continue
                if self._with_retry(functools.partial(self._isolating, messages)) and self._with_retry(
                    self.consumer.commit, timed=False
                ):
                    self.batches += 1
        finally:
            self.consumer.close()
            log.info("worker %s stopped after %d batches", self.name, self.batches)

    def _poll(self) -> list[Message] | None:
        """The next batch (possibly empty); None when asked to stop while Kafka could not be polled."""
        polled: list[Message] = []

        def poll() -> None:
            polled.extend(self.consumer.poll(self.batch, timeout_s=0.5))

        return polled if self._with_retry(poll, timed=False) else None

    def _isolating(self, messages: Sequence[Message]) -> None:
        """Handle `messages`; on an unexpected error, split them until the failing message is
        alone, and dead-letter it (see the module docstring)."""
        try:
            with collector_paused():  # only the handling: a retried failure's cycles are collected
                self.handle(messages)
        except (BusError, StoreError):
            raise
        except Exception as exc:
            if self.deadletter is None:
                raise
            if len(messages) > 1:
                log.warning("worker %s: a batch of %d failed (%s), isolating", self.name, len(messages), exc)
                half = len(messages) // 2
                self._isolating(messages[:half])
                self._isolating(messages[half:])
                return
            log.error("worker %s failed on one record, dead-lettered", self.name, exc_info=exc)
            EVENTS_DROPPED.labels(self.name, "failed").inc()
            what = f"{type(exc).__name__}: {self.name} failed on"
            self.deadletter([undecodable(messages[0], self.name, exc, what=what)])

    def _with_retry(self, work: Callable[[], None], *, timed: bool = True) -> bool:
        """Handle until it succeeds (0.5 s doubling to 30 s between tries, on BusError/StoreError only);
        False when asked to stop meanwhile: the batch stays uncommitted and will be replayed."""
        retrying = Retrying(
            retry=retry_if_exception_type((BusError, StoreError)),
            wait=wait_exponential(multiplier=0.5, max=30.0),
            sleep=self._pause,
            before_sleep=self._log_retry,
        )
        for attempt in retrying:
            if attempt.retry_state.attempt_number > 1 and self.stop.is_set():
                return False
            with attempt:
                started = time.perf_counter()
                work()
                if timed:
                    BATCH_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        return True

    def _pause(self, seconds: float) -> None:
        self.stop.wait(seconds)  # a stop cuts the pause short; the next attempt sees it

    def _log_retry(self, state: RetryCallState) -> None:
        STAGE_ERRORS.labels(self.name).inc()
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("worker %s batch failed, retrying in %.1fs: %s", self.name, wait, exc)


def normalize_handler(settings: Settings, bus: Bus, normalize: Normalize) -> Handler:
    deadletters = publish_deadletters(bus, settings.stores.topic_deadletter)

    def handle(messages: Sequence[Message]) -> None:
        records: list[RawRecord] = []
        bad: list[DeadLetter] = []
        for m in messages:
            try:
                records.extend(_raw_records(m, settings))
            except UNDECODABLE as exc:
                bad.append(undecodable(m, "normalize", exc))
        outcome = normalize_batch(normalize, records)
        outcome.deadletters.extend(bad)
        events: list[tuple[str | None, bytes]] = []
        for e in outcome.events:
            try:
                events.append((e.source_id, e.to_json()))
            except orjson.JSONEncodeError as exc:  # the stage's guards should make this impossible
                outcome.deadletters.append(failed_event(e, "normalize", exc))
        bus.publish(settings.stores.topic_events, encode_event_messages(events))
        deadletters(outcome.deadletters)

    return handle


def _raw_records(message: Message, settings: Settings) -> list[RawRecord]:
    """Messages from our receivers are RawRecord JSON (one, or a batch as an array); agents writing
    to `soc.raw.<source>` send their own payload, and the topic name is the source identity (Kafka
    ACLs decide who writes). Anything may write to these topics, so a message is checked before it
    is parsed; the stage checks each record's payload."""
    if message.topic.endswith("soc.raw"):
        return raw_records_of(loads_checked(message.value, settings.record_depth + ENVELOPE_DEPTH))
    check_size(message.value, settings.ingest.max_record_bytes)
    source_id = message.topic.rsplit("soc.raw.", 1)[1]
    payload = message.value.decode("utf-8")
    return [
        RawRecord(
            id=record_id(source_id, f"{message.topic}/{message.partition}@{message.offset}"),
            source_id=source_id,
            payload=payload,
        )
    ]


class HitBuffer:
    """The detect worker's correlation sink: a batch's rule hits wait here to be published."""

    def __init__(self) -> None:
        self.hits: list[RuleHit] = []

    def __call__(self, hits: Sequence[RuleHit]) -> list[Alert | AlertRepeat]:
        self.hits.extend(hits)
        return []  # decided by the correlate worker

    def flush(self) -> list[Alert | AlertRepeat]:
        return []  # nothing is held here

    def drain(self) -> list[RuleHit]:
        hits, self.hits = self.hits, []
        return hits


def detect_handler(
    settings: Settings,
    bus: Bus,
    detect: Detect,
    *,
    tick: Callable[[], object] | None = None,
    hits: HitBuffer | None = None,
) -> Handler:
    deadletters = publish_deadletters(bus, settings.stores.topic_deadletter)
    max_depth = settings.record_depth

    def handle(messages: Sequence[Message]) -> None:
        if tick is not None:
            tick()  # shared rule state and changed rule files, applied between batches (never raises)
        if hits is not None:
            hits.drain()  # a retried batch detects again: its hits are found again
        failed: list[DeadLetter] = []
        # matched as they arrived; only the events that alert are validated (`UncheckedEvent`)
        events = decode_events(messages, max_depth, "detect", failed, checked=False)
        if failed:
            EVENTS_DROPPED.labels("detect", "undecodable").inc(len(failed))
        alerts, repeats = detect_batch(detect, events, failed)
        deadletters(failed)
        # Keyed by alert id: an alert and its repeats share a partition, so they are indexed in order.
        bus.publish(
            settings.stores.topic_alerts,
            [(a.id.encode(), a.to_json()) for a in alerts]
            + [(r.alert_id.encode(), r.to_json()) for r in repeats],
        )
        if hits is not None:
            # Keyed by correlation and group, so one group's window lives in one correlate consumer.
            bus.publish(
                settings.stores.topic_rulehits,
                [(h.partition_key.encode(), h.to_json()) for h in hits.drain()],
            )

    return handle


def index_handler(settings: Settings, store: Store) -> Handler:
    """Store a batch of `soc.events`, `soc.alerts` and `soc.deadletter` messages. The events
    stream to the store as they are decoded while another thread writes the batch's alerts and
    folds its repeats: that part is a few round trips to the store during which it would
    otherwise get nothing from this worker (a sixth of the index worker's time, bench_e2e)."""
    max_depth = settings.record_depth
    alerts_side = ThreadPoolExecutor(1, thread_name_prefix="index-alerts")

    def handle(messages: Sequence[Message]) -> None:
        outcome = BatchOutcome()
        event_messages: list[Message] = []
        for m in messages:
            if m.topic == settings.stores.topic_events:
                event_messages.append(m)
                continue
            try:
                doc = decode_checked(m, max_depth)
                if m.topic == settings.stores.topic_alerts:
                    if "repeat" in doc:
                        outcome.repeats.append(AlertRepeat.model_validate(doc["repeat"]))
                    else:
                        outcome.alerts.append(Alert.model_validate(doc))
                else:
                    outcome.deadletters.append(DeadLetter.model_validate(doc))
            except UNDECODABLE as exc:
                outcome.deadletters.append(undecodable(m, "index", exc))

        def decoded() -> Iterator[Event]:
            """Each message's events as it is decoded: the store starts writing the first ones
            while the rest are decoded (`ElasticStore._bulk_create`)."""
            for m in event_messages:
                events = decode_events([m], max_depth, "index", outcome.deadletters)
                outcome.events.extend(events)
                yield from events

        alerts = alerts_side.submit(write_alerts, store, outcome.alerts, outcome.repeats)
        try:
            result = store.put_events(decoded())
        finally:
            wait([alerts])  # both parts done (or failed) before the batch is settled or retried
        result += alerts.result()
        settle_outcome(store, outcome, result, "index")

    return handle


def run_until_stopped(worker: StageWorker) -> None:
    """Run a worker in the foreground, turning an unexpected SocError into a clear exit."""
    worker.install_signal_handlers()
    try:
        worker.run()
    except SocError:
        log.exception("worker %s failed", worker.name)
        raise
