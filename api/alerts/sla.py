"""The acknowledgement SLA as the queue shows it: the alert's `sla_*` fields and the "SLA breached"
filter, both from `soc_core.sla` (the due time escalation uses).

The filter is a KQL condition added to the search, so every store answers it with what it already
indexes (severity, creation time, triage status and acknowledgement time) and facets, tab counts and
exports follow it: a high or critical live alert, still "new" with no acknowledgement, created longer
ago than its severity's SLA. An alert acknowledged late is a breach the `sla_breached` field and the
metrics count, but it no longer waits on anyone, so the filter (what needs acting on now) leaves it out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from soc_core.alert import Alert
from soc_core.kql import ALERT_FIELDS, Node, parse_for
from soc_core.settings import NotifySettings, Settings
from soc_core.sla import SLA_SEVERITIES, SlaPolicy, sla_state

DEFAULT_POLICY = SlaPolicy(
    {
        "critical": NotifySettings.model_fields["sla_critical_s"].default,
        "high": NotifySettings.model_fields["sla_high_s"].default,
    }
)


def policy_of(settings: Settings) -> SlaPolicy:
    return SlaPolicy(settings.notify.sla_s)


def overdue_query(policy: SlaPolicy, now: datetime) -> Node:
    """Alerts waiting past their SLA at `now`, as a KQL condition on the alert fields."""
    by_severity = []
    for severity in SLA_SEVERITIES:
        budget = policy.budget(severity)
        if budget is not None:
            raised_before = (now - budget).astimezone(UTC).isoformat()
            by_severity.append(f'(severity:{severity.value} and created_at < "{raised_before}")')
    if not by_severity:
        return parse_for("not id:*", ALERT_FIELDS)
    waiting = "triage.status:new and not triage.acknowledged_at:*"
    return parse_for(f"({' or '.join(by_severity)}) and {waiting}", ALERT_FIELDS)


def sla_fields(alert: Alert, policy: SlaPolicy, now: datetime) -> dict[str, Any]:
    """`sla_due_at` (None without an SLA), `sla_breached` (not acknowledged by then), `sla_overdue`
    (and still waiting), `sla_late_s` (how late, now or at the acknowledgement)."""
    state = sla_state(alert, policy, now)
    if state is None:
        return {"sla_due_at": None, "sla_breached": False, "sla_overdue": False, "sla_late_s": None}
    return {
        "sla_due_at": state.due_at.astimezone(UTC).isoformat(),
        "sla_breached": state.breached,
        "sla_overdue": state.overdue,
        "sla_late_s": round(state.late_s, 1) if state.breached else None,
    }


def alert_doc(alert: Alert, policy: SlaPolicy, now: datetime) -> dict[str, Any]:
    """The alert document the API answers: the stored one with its SLA as of `now`."""
    return alert.to_doc() | sla_fields(alert, policy, now)
