"""Early warnings wired into both modes, never in the pipeline's way.

- distributed: `socpipe worker notify` reads `soc.alerts` in its own consumer group, so a slow or
  unreachable mail server delays only the notifications, never detection or indexing;
- embedded: the pipeline hands each stored batch's alerts to `AlertHandoff` (a bounded queue:
  `put_nowait`, never a wait; full, the alert becomes a dead letter with the reason) and a
  background thread runs the same handler through the same `StageWorker` as the distributed worker.

The handler decides (`notify.NotifyStage`), then delivers (`notify.Dispatcher`, with retries); what
cannot be delivered goes where the mode keeps dead letters. Digests and escalations fall due on the
clock: they are checked after every batch and whenever the input is idle. The routing rules and
guidance an admin saves in the console are picked up live (`notify.config.LiveConfig`), and flood
control's memory is saved to the store after each batch (`notify.flood.FloodMemory`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from itertools import count

from notifiers import build_channels
from notify.delivery import STAGE, Dispatcher
from notify.flood import FloodMemory
from notify.stage import NotifyStage
from soc_core.alert import Alert, AlertStatus
from soc_core.bus import Message
from soc_core.event import utcnow
from soc_core.guards import ENVELOPE_DEPTH, check_depth
from soc_core.metrics import EVENTS_DROPPED, EVENTS_RECEIVED
from soc_core.notify import Message as Notification
from soc_core.notify_config import NotifyConfigStore, NotifyStateStore
from soc_core.records import DeadLetter
from soc_core.registry import Registry
from soc_core.settings import Settings
from soc_core.store import AlertSearch, AlertStore
from socpipe.workers import UNDECODABLE, DeadLetterSink, StageWorker, undecodable

log = logging.getLogger(__name__)


def store_acknowledged(store: AlertStore) -> Callable[[str], bool]:
    """Whether an alert was acknowledged, as its triage in the store says (not found yet: no)."""

    def acknowledged(alert_id: str) -> bool:
        alert = store.get_alert(alert_id)
        if alert is None:
            return False
        return alert.triage.status is not AlertStatus.NEW or alert.triage.acknowledged_at is not None

    return acknowledged


def store_unacknowledged(store: AlertStore, limit: int) -> Callable[[datetime], list[Alert]]:
    """High and critical alerts still new whose event time is at or after `since`, newest first, at
    most `limit` (the SLA clocks a restarted notifier resumes)."""

    def read(since: datetime) -> list[Alert]:
        found: list[Alert] = []
        cursor: str | None = None
        while len(found) < limit:
            search = AlertSearch(
                start=since, severity=["high", "critical"], status=["new"], size=500, cursor=cursor
            )
            page = store.search_alert_queue(search)
            found += page.items
            cursor = page.cursor
            if cursor is None or not page.items:
                break
        return found[:limit]

    return read


class NotifyWorker:
    """The handler of both modes: alerts from messages of the alerts topic (repeats skipped).

    Before its first batch it resumes the SLA clocks from the store (`open_alerts`); the store
    being down then raises `StoreError`, which `StageWorker` retries like any batch."""

    def __init__(
        self,
        stage: NotifyStage,
        dispatcher: Dispatcher,
        deadletter: DeadLetterSink,
        max_depth: int,
        open_alerts: Callable[[datetime], list[Alert]] | None = None,
        memory: FloodMemory | None = None,
    ):
        self.stage = stage
        self.dispatcher = dispatcher
        self._deadletter = deadletter
        self._max_depth = max_depth
        self._open_alerts = open_alerts
        self._memory = memory
        self._unloaded = memory is not None

    def _resume(self) -> None:
        if self._memory is not None and self._unloaded:
            self._memory.load()
            self._unloaded = False
        if self._open_alerts is not None:
            alerts = self._open_alerts(self.stage.resume_since)
            self.stage.resume(alerts)
            log.info("notify: SLA clocks resumed for %d unacknowledged alerts", self.stage.escalator.watching)
            self._open_alerts = None

    def handle(self, messages: Sequence[Message]) -> None:
        self._resume()
        alerts: list[Alert] = []
        bad: list[DeadLetter] = []
        for m in messages:
            try:
                check_depth(m.value, self._max_depth + ENVELOPE_DEPTH)
                if m.value.startswith(b'{"repeat"'):
                    continue  # a suppressed repeat: its alert was told already
                alerts.append(Alert.from_json(m.value))
            except UNDECODABLE as exc:
                bad.append(undecodable(m, STAGE, exc))
        EVENTS_RECEIVED.labels(STAGE).inc(len(alerts))
        if bad:
            EVENTS_DROPPED.labels(STAGE, "undecodable").inc(len(bad))
            self._deadletter(bad)
        self._deliver(self.stage.offer(alerts))  # first: a failing tick must not lose them on retry
        self._save()
        self._deliver(self.stage.tick())
        self._save()

    def idle(self) -> None:
        self._resume()
        self._deliver(self.stage.tick())
        self._save()

    def _save(self) -> None:
        """Flood control's changes to the store, once delivered (a `StoreError` retries the batch:
        its alerts are then repeats, not told twice, and the save is tried again)."""
        if self._memory is not None:
            self._memory.save()

    def _deliver(self, messages: list[Notification]) -> None:
        failed = self.dispatcher.deliver(messages)
        if failed:
            self._deadletter(failed)


class AlertHandoff:
    """Embedded mode's alerts "topic": a bounded queue the pipeline offers to without waiting, read
    through the `Consumer` protocol so the notify thread is a plain `StageWorker`."""

    def __init__(self, size: int, deadletter: DeadLetterSink) -> None:
        self._queue: queue.Queue[Alert] = queue.Queue(maxsize=size)
        self._deadletter = deadletter
        self._offsets = count()

    def offer(self, alerts: Sequence[Alert]) -> None:
        """Called by the pipeline after a batch is stored: never blocks."""
        full: list[DeadLetter] = []
        for alert in alerts:
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                full.append(
                    DeadLetter(
                        id=f"notify-{alert.id}",
                        source_id=alert.soc.source.id,
                        stage=STAGE,
                        reason=f"notification queue full ({self._queue.maxsize} alerts waiting): "
                        "this alert was not notified",
                        raw=alert.to_json().decode(),
                    )
                )
        if full:
            EVENTS_DROPPED.labels(STAGE, "queue_full").inc(len(full))
            log.warning("notify queue full: %d alerts not notified (dead letters)", len(full))
            self._deadletter(full)

    def poll(self, max_records: int, timeout_s: float) -> list[Message]:
        out: list[Alert] = []
        try:
            out.append(self._queue.get(timeout=timeout_s))
            while len(out) < max_records:
                out.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return [Message("alerts", 0, next(self._offsets), a.id.encode(), a.to_json()) for a in out]

    def commit(self) -> None:
        return None  # in memory: what was taken is gone (a crash loses the waiting notifications)

    def close(self) -> None:
        return None

    @property
    def waiting(self) -> int:
        return self._queue.qsize()


def build_notify_worker(
    settings: Settings,
    *,
    registry: Callable[[], Registry],
    store: AlertStore,
    deadletter: DeadLetterSink,
    stop: threading.Event,
    clock: Callable[[], datetime] = utcnow,
    config_store: NotifyConfigStore | None = None,
    state_store: NotifyStateStore | None = None,
) -> NotifyWorker:
    """The stage over the settings' rules and channels; retries pause on `stop` (cut short by it).

    With `config_store` the admin's saved rules and guidance replace the files' while it runs; with
    `state_store` flood control's memory survives a restart."""
    notify = settings.notify
    stage = NotifyStage(
        notify,
        secret=settings.secret_key.get_secret_value(),
        registry=registry,
        acknowledged=store_acknowledged(store),
        clock=clock,
        config_store=config_store,
    )
    dispatcher = Dispatcher(
        build_channels(notify),
        attempts=notify.retry_attempts,
        initial_s=notify.retry_initial_s,
        max_s=notify.retry_max_s,
        sleep=stop.wait,
    )
    log.info(
        "notify: channels %s, %d routing rules, %d on-call, %d escalation contacts",
        sorted(dispatcher.channels) or "none",
        len(stage.rules.rules),
        len(stage.oncall),
        len(stage.escalator.chain),
    )
    open_alerts = store_unacknowledged(store, notify.max_tracked)
    memory = FloodMemory(state_store, stage.flood, notify.max_tracked) if state_store is not None else None
    return NotifyWorker(stage, dispatcher, deadletter, settings.record_depth, open_alerts, memory)


def start_embedded_notify(
    settings: Settings,
    *,
    registry: Callable[[], Registry],
    store: AlertStore,
    deadletter: DeadLetterSink,
    config_store: NotifyConfigStore | None = None,
    state_store: NotifyStateStore | None = None,
) -> tuple[AlertHandoff, StageWorker, threading.Thread]:
    """The background notifier of embedded mode; the caller gives `AlertHandoff.offer` to the pipeline."""
    stop = threading.Event()
    handoff = AlertHandoff(settings.notify.queue_size, deadletter)
    worker = build_notify_worker(
        settings,
        registry=registry,
        store=store,
        deadletter=deadletter,
        stop=stop,
        config_store=config_store,
        state_store=state_store,
    )
    runner = StageWorker(
        STAGE, handoff, worker.handle, batch=100, stop=stop, idle=worker.idle, deadletter=deadletter
    )
    thread = threading.Thread(target=runner.run, name="notify", daemon=True)
    thread.start()
    return handoff, runner, thread
