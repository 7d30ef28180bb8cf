"""The embedded runner: receivers -> normalize -> detect -> store, in one process.

`EmbeddedPipeline.ingest(records)` returns only after the store committed the batch, so the HTTP
intake acknowledges exactly what is durable. Distributed mode runs the same stage objects in
separate workers connected by Kafka (`socpipe.workers`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

import orjson
from pydantic import ValidationError

from soc_core.alert import Alert, AlertRepeat
from soc_core.errors import BusError, StoreError
from soc_core.event import Event, UncheckedEvent, utcnow
from soc_core.metrics import (
    ALERTS_RAISED,
    DETECTION_LATENCY,
    EVENTS_DROPPED,
    EVENTS_RECEIVED,
    EVENTS_SENT,
    NORMALIZE_RESULTS,
)
from soc_core.records import DeadLetter, RawRecord
from soc_core.store import Store, WriteResult

log = logging.getLogger(__name__)

Normalize = Callable[[RawRecord], Event | DeadLetter]
Detect = Callable[[Event], list[Alert | AlertRepeat]]
"""New alerts, or repeats of an open alert folded in by suppression."""


@runtime_checkable
class DetectsBatches(Protocol):
    """A detect stage that decides a batch at once (suppression asks the store once for the batch's
    new keys): each event's outcomes, or the exception the stage raised on it."""

    def detect_many(self, events: Sequence[Event]) -> list[list[Alert | AlertRepeat] | Exception]: ...


@runtime_checkable
class LabelsOutcomes(Protocol):
    """A normalize stage that knows the registry and the formats names the labels of its outcome
    metrics, so that an id nobody registered cannot create a Prometheus series."""

    def metric_labels(self, source_id: str, format_name: str | None) -> tuple[str, str]: ...


def _labels_as_given(source_id: str, format_name: str | None) -> tuple[str, str]:
    return source_id, format_name or ""


@dataclass(slots=True)
class BatchOutcome:
    events: list[Event] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    repeats: list[AlertRepeat] = field(default_factory=list)


def normalize_batch(normalize: Normalize, records: Sequence[RawRecord]) -> BatchOutcome:
    """Run the normalize stage over a batch and count outcomes per source and format (labelled by
    the stage when it can tell a registered source from a made-up one: `LabelsOutcomes`)."""
    out = BatchOutcome()
    EVENTS_RECEIVED.labels("normalize").inc(len(records))
    outcomes: Tally[tuple[str, str | None, str]] = Tally()
    for record in records:
        result = normalize(record)
        if isinstance(result, Event):
            out.events.append(result)
            outcomes[record.source_id, result.source_format, "ok"] += 1
        else:
            out.deadletters.append(result)
            outcomes[record.source_id, result.format_tried, "deadletter"] += 1
    labels = normalize.metric_labels if isinstance(normalize, LabelsOutcomes) else _labels_as_given
    for (source_id, format_name, outcome), n in outcomes.items():
        NORMALIZE_RESULTS.labels(*labels(source_id, format_name), outcome).inc(n)
    EVENTS_SENT.labels("normalize").inc(len(out.events))
    if out.deadletters:
        EVENTS_DROPPED.labels("normalize", "deadletter").inc(len(out.deadletters))
    return out


def detect_batch(
    detect: Detect, events: Sequence[Event], failed: list[DeadLetter] | None = None
) -> tuple[list[Alert], list[AlertRepeat]]:
    """Alerts and repeats of a batch. An event the stage fails on (a matcher bug, an event no rule
    author foresaw) becomes a dead letter in `failed`, logged and counted, and the batch goes on;
    the store being down (`StoreError` from suppression's lookup) is not the event's fault and
    propagates, so the batch is retried. Each new alert's delay since its event arrived is
    observed (`soc_detection_latency_seconds`): the pipeline's own lag, not the shipper's."""
    EVENTS_RECEIVED.labels("detect").inc(len(events))
    alerts: list[Alert] = []
    repeats: list[AlertRepeat] = []
    decided = (
        detect.detect_many(events) if isinstance(detect, DetectsBatches) else map(_detect_one(detect), events)
    )
    for event, outcomes in zip(events, decided, strict=True):
        if isinstance(outcomes, Exception):
            if failed is None:
                raise outcomes
            failed.append(failed_event(event, "detect", outcomes))
            continue
        for outcome in outcomes:
            if isinstance(outcome, Alert):
                alerts.append(outcome)
                ingested = event.event.get("ingested")
                if isinstance(ingested, datetime):
                    DETECTION_LATENCY.observe(max(0.0, (utcnow() - ingested).total_seconds()))
            else:
                repeats.append(outcome)
    for alert in alerts:
        ALERTS_RAISED.labels(alert.severity.value).inc()
    EVENTS_SENT.labels("detect").inc(len(alerts))
    if repeats:
        EVENTS_DROPPED.labels("detect", "suppressed_repeat").inc(len(repeats))
    return alerts, repeats


def _detect_one(detect: Detect) -> Callable[[Event], list[Alert | AlertRepeat] | Exception]:
    """`detect` with the stage's failure on one event returned in its place (a store or bus
    failure raises: not the event's fault)."""

    def one(event: Event) -> list[Alert | AlertRepeat] | Exception:
        try:
            return detect(event)
        except (BusError, StoreError):
            raise
        except Exception as exc:
            return exc

    return one


def failed_event(event: Event, stage: str, exc: Exception) -> DeadLetter:
    """The dead letter of an event a stage failed on, with the exception as its reason (logged)."""
    if isinstance(event, UncheckedEvent) and isinstance(exc, ValidationError):
        return _invalid_event(event, stage, exc)
    log.error("stage %s failed on event %s", stage, event.event.get("id"), exc_info=exc)
    EVENTS_DROPPED.labels(stage, "failed").inc()
    try:
        raw = event.to_json().decode()
    except TypeError:  # orjson.JSONEncodeError: the document cannot be written; keep the record
        raw = str(event.event.get("original") or "")
    return DeadLetter(
        id=str(event.event.get("id") or "unknown"),
        source_id=event.source_id,
        stage=stage,
        reason=f"{stage} failed: {type(exc).__name__}: {exc}"[:2000],
        raw=raw,
    )


def _invalid_event(event: UncheckedEvent, stage: str, exc: ValidationError) -> DeadLetter:
    """The dead letter of an event from a topic that proved not to be one when a stage read it:
    its document as it arrived, and why (counted as undecodable, like a message that does not
    parse)."""
    EVENTS_DROPPED.labels(stage, "undecodable").inc()
    soc = event.arrived.get("soc")
    source = soc.get("source") if isinstance(soc, dict) else None
    source_id = source.get("id") if isinstance(source, dict) else None
    return DeadLetter(
        id=event.arrived_id() or "unknown",
        source_id=source_id if isinstance(source_id, str) else None,
        stage=stage,
        reason=f"undecodable event: {exc}"[:2000],
        raw=orjson.dumps(event.arrived).decode(),  # parsed JSON: it can be written again
    )


def store_outcome(store: Store, outcome: BatchOutcome, stage: str = "index") -> WriteResult:
    """Write dead letters, events and alerts; permanent write failures become dead letters too."""
    result = WriteResult()
    result += store.put_events(outcome.events)
    result += write_alerts(store, outcome.alerts, outcome.repeats)
    return settle_outcome(store, outcome, result, stage)


def write_alerts(store: Store, alerts: Sequence[Alert], repeats: Sequence[AlertRepeat]) -> WriteResult:
    """A batch's new alerts, then its repeats folded into the alerts they repeat (this batch's too)."""
    result = store.put_alerts(alerts)
    if repeats:
        store.record_repeats(repeats)
    return result


def settle_outcome(store: Store, outcome: BatchOutcome, result: WriteResult, stage: str) -> WriteResult:
    """After a batch's events and alerts were written with `result`: what the store refused
    becomes a dead letter, the dead letters are written, and the batch is counted."""
    EVENTS_RECEIVED.labels(stage).inc(len(outcome.events) + len(outcome.alerts))
    deadletters = list(outcome.deadletters)
    if result.failed:
        by_id = {e.id: e for e in outcome.events}
        for doc_id, reason in result.failed:
            raw = by_id[doc_id].to_json().decode() if doc_id in by_id else doc_id
            deadletters.append(
                DeadLetter(
                    id=doc_id,
                    stage=stage,
                    reason=f"store refused: {reason}",
                    raw=raw,
                    source_id=by_id[doc_id].soc.source.id if doc_id in by_id else None,
                )
            )
        EVENTS_DROPPED.labels(stage, "store_refused").inc(len(result.failed))
    store.put_deadletters(deadletters)
    EVENTS_SENT.labels(stage).inc(result.created)
    if result.duplicates:
        EVENTS_DROPPED.labels(stage, "duplicate").inc(result.duplicates)
    return result


class EmbeddedPipeline:
    """All stages in-process; one lock keeps batches whole (SQLite has one writer anyway)."""

    def __init__(self, store: Store, normalize: Normalize, detect: Detect | None = None) -> None:
        self.store = store
        self.normalize = normalize
        self.detect = detect
        self._lock = threading.Lock()
        self.alert_sink: Callable[[Sequence[Alert]], None] | None = None
        """Given each batch's new alerts once they are stored (the notifier's queue); must not block."""

    def store_alerts(self, alerts: Sequence[Alert | AlertRepeat]) -> None:
        """Store alerts decided outside a batch (a correlation window closed on a timer)."""
        if not alerts:
            return
        outcome = BatchOutcome()
        for item in alerts:
            if isinstance(item, Alert):
                outcome.alerts.append(item)
                ALERTS_RAISED.labels(item.severity.value).inc()
            else:
                outcome.repeats.append(item)
        with self._lock:
            store_outcome(self.store, outcome, stage="correlate")
        if self.alert_sink is not None and outcome.alerts:
            self.alert_sink(outcome.alerts)

    def ingest(self, records: Sequence[RawRecord]) -> BatchOutcome:
        outcome = normalize_batch(self.normalize, records)
        if self.detect is not None:
            outcome.alerts, outcome.repeats = detect_batch(self.detect, outcome.events, outcome.deadletters)
        with self._lock:
            store_outcome(self.store, outcome)
        if self.alert_sink is not None and outcome.alerts:
            self.alert_sink(outcome.alerts)
        return outcome
