"""Scheduled jobs (APScheduler in `socpipe scheduler`, a thread in embedded mode)."""

from __future__ import annotations

from soc_core.metrics import SOURCE_LAST_SEEN
from soc_core.store import Store


def refresh_source_activity(store: Store) -> None:
    """Publish each source's last ingest time as a gauge: the coverage view is built on it."""
    for source_id, activity in store.source_activity().items():
        if activity.last_ingested is not None:
            SOURCE_LAST_SEEN.labels(source_id).set(activity.last_ingested.timestamp())
