"""The scheduler's periodic jobs, registered in one place for both modes.

Distributed mode runs them in the `socpipe scheduler` process (one replica); embedded mode runs the
same jobs in a background thread of its single process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from api.coverage.jobs import CoverageJob, triage_resolver
from api.inspections.jobs import send_reminders
from detections.state import RuleWatcher
from soc_core.store import StoreBackend

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


def start_embedded_jobs(
    backend: StoreBackend, rule_watcher: RuleWatcher, correlation_idle: Callable[[], None] | None = None
) -> None:
    """Embedded mode: the scheduler's jobs plus the rule watcher (and the correlation engine's idle
    flush, so a stream that went quiet still raises its alert) in a background thread."""
    sched = BackgroundScheduler(timezone="UTC")
    # the first snapshot after the demo's first traffic, so the gauges show it
    add_coverage_job(sched, backend, first_run=datetime.now(UTC) + timedelta(seconds=15))
    add_reminder_job(sched, backend)
    # rate-limited inside: state every 5 s, rule files every 30 s
    sched.add_job(rule_watcher.tick, "interval", seconds=1, id="rules", max_instances=1, coalesce=True)
    if correlation_idle is not None:
        sched.add_job(
            correlation_idle, "interval", seconds=1, id="correlation-idle", max_instances=1, coalesce=True
        )
    sched.start()
