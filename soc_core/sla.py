"""The acknowledgement SLA of an alert: when it falls due, whether it was missed and by how much.

One pure function (`sla_state`) answers it for everyone who asks: escalation (`notify.escalation`)
starts its clock at the same due time, the queue shows a badge and filters on it, the incident
metrics and the unit dossier count breaches. The clock starts when the alert was raised
(`Alert.created_at`); high and critical alerts have an SLA (`SOC_NOTIFY_SLA_HIGH_S`,
`SOC_NOTIFY_SLA_CRITICAL_S`), other severities and alerts from inspection evidence files (found
long after the fact, never escalated) have none.

An alert is acknowledged when `triage.acknowledged_at` is set (a link in an early warning, or an
analyst moving it past "new"). `breached`: nobody acknowledged it by its due time, whether it is
still waiting (`overdue`) or was acknowledged late.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc_core.alert import Alert, AlertStatus, Severity

SLA_SEVERITIES = (Severity.CRITICAL, Severity.HIGH)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Seconds to acknowledge, per severity that has an SLA (`NotifySettings.sla_s`)."""

    budgets_s: Mapping[str, float]

    def budget(self, severity: Severity | str) -> timedelta | None:
        seconds = self.budgets_s.get(Severity(severity).value)
        return timedelta(seconds=seconds) if seconds is not None else None


@dataclass(frozen=True, slots=True)
class SlaState:
    due_at: datetime
    breached: bool
    """Not acknowledged by `due_at` (still waiting, or acknowledged late)."""
    overdue: bool
    """Breached and still unacknowledged: what escalation acts on and the queue's filter selects."""
    late_s: float
    """How far past due: until now while overdue, until the acknowledgement when late; else 0."""


def due_at(alert: Alert, policy: SlaPolicy) -> datetime | None:
    """When the alert must be acknowledged by; None when it has no SLA."""
    budget = policy.budget(alert.severity)
    if budget is None or alert.origin == "evidence":
        return None
    return alert.created_at + budget


def sla_state(alert: Alert, policy: SlaPolicy, now: datetime) -> SlaState | None:
    """The alert's SLA as of `now`; None when it has none. An alert moved past "new" without a
    recorded acknowledgement time (a document older than that field) counts as acknowledged in time:
    when is unknown, so no breach is claimed."""
    due = due_at(alert, policy)
    if due is None:
        return None
    acked = alert.triage.acknowledged_at
    if acked is None and alert.triage.status is not AlertStatus.NEW:
        return SlaState(due, breached=False, overdue=False, late_s=0.0)
    if acked is None:  # waiting: due at `due` exactly, as escalation fires then
        late = (now - due).total_seconds()
        return SlaState(due, breached=late >= 0, overdue=late >= 0, late_s=max(0.0, late))
    late = (acked - due).total_seconds()
    return SlaState(due, breached=late > 0, overdue=False, late_s=max(0.0, late))
