"""Retention (issue 17): how long each kind of record is kept, the same rule for both backends.

Events are grouped by day, alerts, dead letters and audit entries by month (Elasticsearch's daily and
monthly indices). A kind kept `days` keeps every period that ended less than `days` ago: the records
before `cutoff(kind, days, now)` go, whole periods at a time, so a backend that drops whole indices
and one that deletes rows remove exactly the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from soc_core.store import AuditEntry

#: Index kind -> the period its records are grouped by.
PERIODS: dict[str, str] = {"events": "day", "alerts": "month", "deadletters": "month", "audit": "month"}

ACTOR = "system:retention"
"""The audit log's actor of what retention deletes."""


def period_start(ts: datetime, period: str) -> datetime:
    """The start (UTC) of the day or month holding `ts`."""
    day = ts.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def next_period(start: datetime, period: str) -> datetime:
    """The start of the period after the one starting at `start`."""
    if period == "day":
        return start + timedelta(days=1)
    return (start + timedelta(days=32)).replace(day=1)


def cutoff(kind: str, days: int, now: datetime) -> datetime:
    """Records of `kind` before this instant are expired: their period ended `days` or more ago."""
    return period_start(now - timedelta(days=days), PERIODS[kind])


@dataclass
class RetentionResult:
    """What one run did: indices (or tables' rows) deleted, indices handed to ILM, names not read."""

    deleted: list[str] = field(default_factory=list)
    handed_to_ilm: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


class Retention(Protocol):
    """A backend's retention, run by the scheduler with the current time (a test's clock)."""

    def run(self, now: datetime) -> RetentionResult: ...


def retention_audit(
    action: str, target_type: str, target: str, kind: str, days: int, now: datetime, **details: Any
) -> AuditEntry:
    """One audit entry for what a run removed; its id is derived from the action and target, so a
    run retried after a failure adds none."""
    return AuditEntry(
        id=f"{action}-{target}",
        at=now,
        actor=ACTOR,
        action=action,
        target_type=target_type,
        target_id=target,
        details={"kind": kind, "days": days, **details},
    )
