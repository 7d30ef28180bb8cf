"""The scheduler's periodic jobs, registered in one place for both modes.

Distributed mode runs them in the `socpipe scheduler` process (one replica); embedded mode runs the
same jobs in a background thread of its single process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from api.coverage.jobs import CoverageJob, triage_resolver
from api.inspections.jobs import send_reminders
from api.periodic import service as reports
from api.periodic.archive import ReportArchive
from detections.state import RuleWatcher
from notifiers import build_channels
from notify.delivery import STAGE as NOTIFY_STAGE
from notify.delivery import Dispatcher, notify_deadletter
from soc_core.metrics import EVENTS_DROPPED
from soc_core.retention import Retention
from soc_core.settings import Settings
from soc_core.store import StoreBackend

log = logging.getLogger(__name__)

COVERAGE_INTERVAL_S = 60
"""How often the coverage snapshot runs (and silent sources are found)."""


def add_coverage_job(sched: BaseScheduler, backend: StoreBackend, *, first_run: datetime) -> None:
    """The coverage snapshot: monitored systems and endpoints, gaps, silence alerts."""
    store = backend.store
    job = CoverageJob(store, backend.coverage, resolve_alert=triage_resolver(store))
    sched.add_job(
        job.run,
        "interval",
        seconds=COVERAGE_INTERVAL_S,
        id="coverage",
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
    )


def add_reminder_job(sched: BaseScheduler, backend: StoreBackend) -> None:
    """Hourly reminders before inspection deadlines (findings, self-assessment reports)."""
    store, inspections = backend.store, backend.inspections
    sched.add_job(
        lambda: send_reminders(store=store, repo=inspections),
        "interval",
        hours=1,
        id="inspection-reminders",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )


class ReportJob:
    """The periodic reports: generate what is due, then mail what is still to be mailed.

    Mail goes through the early warnings' dispatcher (the same SMTP channel, retries and backoff);
    a recipient it gives up on is recorded on the report with the reason and becomes a dead letter
    of stage "notify", so a report is mailed once per recipient, never silently dropped."""

    def __init__(self, backend: StoreBackend, settings: Settings, dispatcher: Dispatcher) -> None:
        self.backend = backend
        self.settings = settings.reports
        self.archive = ReportArchive(Path(settings.data_dir))
        self.dispatcher = dispatcher

    def run(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        unreadable = self.archive.scan().unreadable
        if unreadable:  # skipped by the listing, kept as dead letters (one per file and content)
            self.backend.store.put_deadletters([reports.unreadable_deadletter(u) for u in unreadable])
        reports.generate_due(
            store=self.backend.store,
            coverage=self.backend.coverage,
            inspections=self.backend.inspections,
            archive=self.archive,
            recipients=list(self.settings.recipients),
            place=self.settings.place,
            now=now,
        )
        for pending in reports.pending_mail(self.archive):
            report, messages = pending.report, pending.messages
            if pending.problem is None:
                failed = self.dispatcher.deliver(messages)
            else:  # nothing to attach: each recipient fails with the reason, until an admin resends
                failed = [notify_deadletter(m, pending.problem) for m in messages]
                EVENTS_DROPPED.labels(NOTIFY_STAGE, "undeliverable").inc(len(failed))
            if failed:
                self.backend.store.put_deadletters(failed)
            by_key = {f"notify-{m.key}": m.recipient.address for m in messages}
            reasons = {by_key[d.id]: d.reason for d in failed}
            reports.record_delivery(
                store=self.backend.store,
                archive=self.archive,
                report_id=report.id,
                failed=reasons,
                tried=[m.recipient.address for m in messages],
                at=datetime.now(UTC),
            )


def report_dispatcher(settings: Settings) -> Dispatcher:
    notify = settings.notify
    return Dispatcher(
        build_channels(notify),
        attempts=notify.retry_attempts,
        initial_s=notify.retry_initial_s,
        max_s=notify.retry_max_s,
    )


def add_report_job(sched: BaseScheduler, job: ReportJob, *, first_run: datetime) -> None:
    """Every `SOC_REPORT_CHECK_INTERVAL_S`: an ended week or month gets its report, reports get mailed."""
    sched.add_job(
        job.run,
        "interval",
        seconds=job.settings.check_interval_s,
        id="periodic-reports",
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
    )


def add_retention_job(
    sched: BaseScheduler, retention: Retention, *, interval_s: float, first_run: datetime
) -> None:
    """Every `SOC_RETENTION_CHECK_INTERVAL_S`: expired records deleted (SQLite rows, Elasticsearch
    indices), or indices handed to ILM where the cluster has it (`soc_core.retention`)."""
    sched.add_job(
        lambda: retention.run(datetime.now(UTC)),
        "interval",
        seconds=interval_s,
        id="retention",
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
    )


def start_embedded_jobs(
    backend: StoreBackend,
    rule_watcher: RuleWatcher,
    correlation_idle: Callable[[], None] | None = None,
    settings: Settings | None = None,
) -> None:
    """Embedded mode: the scheduler's jobs plus the rule watcher (and the correlation engine's idle
    flush, so a stream that went quiet still raises its alert) in a background thread."""
    sched = BackgroundScheduler(timezone="UTC")
    # the first snapshot after the demo's first traffic, so the gauges show it
    add_coverage_job(sched, backend, first_run=datetime.now(UTC) + timedelta(seconds=15))
    add_reminder_job(sched, backend)
    if settings is not None:
        job = ReportJob(backend, settings, report_dispatcher(settings))
        add_report_job(sched, job, first_run=datetime.now(UTC) + timedelta(seconds=30))
        add_retention_job(
            sched,
            backend.retention(settings.stores.retention_days),
            interval_s=settings.stores.retention_check_interval_s,
            first_run=datetime.now(UTC) + timedelta(minutes=1),
        )
    # rate-limited inside: state every 5 s, rule files every 30 s
    sched.add_job(rule_watcher.tick, "interval", seconds=1, id="rules", max_instances=1, coalesce=True)
    if correlation_idle is not None:
        sched.add_job(
            correlation_idle, "interval", seconds=1, id="correlation-idle", max_instances=1, coalesce=True
        )
    sched.start()
