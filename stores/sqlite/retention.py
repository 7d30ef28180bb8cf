"""Retention in embedded mode: rows older than their kind's cutoff deleted (`soc_core.retention`).

The same rule as the Elasticsearch indices (whole days of events, whole months of alerts, dead
letters and audit), so a record is kept as long in either mode. Each run that deletes rows of a
kind writes one audit entry with the count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from soc_core.errors import StoreError
from soc_core.retention import PERIODS, RetentionResult, cutoff, retention_audit
from stores.sqlite.store import SqliteStore

log = logging.getLogger(__name__)


class SqliteRetention:
    """Applies `days` (kind -> days kept after its period; 0: forever) to the store's tables."""

    def __init__(self, store: SqliteStore, days: Mapping[str, int], *, batch: int = 5000) -> None:
        unknown = set(days) - set(PERIODS)
        if unknown:
            raise StoreError("no retention for these record kinds", kinds=",".join(sorted(unknown)))
        self.store = store
        self.days = dict(days)
        self.batch = batch

    def run(self, now: datetime) -> RetentionResult:
        result = RetentionResult()
        for kind, days in self.days.items():
            if days <= 0:
                continue
            before = cutoff(kind, days, now)
            n = self.store.delete_before(kind, before, batch=self.batch)
            result.rows[kind] = n
            if n:
                log.info("retention: deleted %d %s older than %s (kept %d days)", n, kind, before, days)
                target = f"{kind}<{before.isoformat()}"
                self.store.append_audit(
                    [retention_audit("retention.delete", "table", target, kind, days, now, rows=n)]
                )
        return result
