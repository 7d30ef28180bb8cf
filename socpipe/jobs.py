"""The scheduler's periodic jobs, registered in one place for both modes.

Distributed mode runs them in the `socpipe scheduler` process (one replica); embedded mode runs the
same jobs in a background thread of its single process.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from api.coverage.jobs import CoverageJob, triage_resolver
from api.coverage.repository import CoverageRepository, coverage_repository
from api.inspections.jobs import send_reminders
from api.inspections.repository import inspection_repository
from detections.state import RuleWatcher
from soc_core.store import Store

COVERAGE_INTERVAL_S = 60
"""How often the coverage snapshot runs (and silent sources are found)."""


def add_coverage_job(
    sched: BaseScheduler, store: Store, repo: CoverageRepository, *, first_run: datetime
) -> None:
    """The coverage snapshot: monitored systems and endpoints, gaps, silence alerts."""
    job = CoverageJob(store, repo, resolve_alert=triage_resolver(store))
    sched.add_job(
        job.run,
        "interval",
        seconds=COVERAGE_INTERVAL_S,
        id="coverage",
        max_instances=1,
        coalesce=True,
        next_run_time=first_run,
    )


def add_reminder_job(sched: BaseScheduler, store: Store) -> None:
    """Hourly reminders before inspection deadlines (findings, self-assessment reports)."""
    inspections = inspection_repository(store)
    sched.add_job(
        lambda: send_reminders(store=store, repo=inspections),
        "interval",
        hours=1,
        id="inspection-reminders",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )


def start_embedded_jobs(store: Store, rule_watcher: RuleWatcher) -> CoverageRepository:
    """Embedded mode: the scheduler's jobs plus the rule watcher in a background thread."""
    repo = coverage_repository(store)
    sched = BackgroundScheduler(timezone="UTC")
    # the first snapshot after the demo's first traffic, so the gauges show it
    add_coverage_job(sched, store, repo, first_run=datetime.now(UTC) + timedelta(seconds=15))
    add_reminder_job(sched, store)
    # rate-limited inside: state every 5 s, rule files every 30 s
    sched.add_job(rule_watcher.tick, "interval", seconds=1, id="rules", max_instances=1, coalesce=True)
    sched.start()
    return repo
