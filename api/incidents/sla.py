"""SLA breaches among an incident's alerts: the incident metrics beside its time to acknowledge.

An incident has no SLA of its own; its high and critical alerts do (`soc_core.sla`). The metric
says how many of them were not acknowledged in time, how many still wait, and the worst delay, so a
case whose alerts sat untouched shows it on its page and in the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, Field

from soc_core.alert import Alert, Incident
from soc_core.sla import SLA_SEVERITIES, SlaPolicy, sla_state
from soc_core.store import AlertSearch, AlertStore

PAGE = 500


class SlaSummary(BaseModel):
    with_sla: int = Field(description="alerts with an acknowledgement SLA (live, high or critical)")
    breached: int = Field(description="of them, not acknowledged within it (late or still waiting)")
    overdue: int = Field(description="of them, still unacknowledged past it")
    worst_late_s: float | None = Field(description="the longest delay past an SLA, in seconds")


def summarize(alerts: Iterable[Alert], policy: SlaPolicy, now: datetime) -> SlaSummary:
    states = [s for s in (sla_state(a, policy, now) for a in alerts) if s is not None]
    late = [s.late_s for s in states if s.breached]
    return SlaSummary(
        with_sla=len(states),
        breached=len(late),
        overdue=sum(1 for s in states if s.overdue),
        worst_late_s=round(max(late), 1) if late else None,
    )


def per_incident(
    store: AlertStore, incidents: Sequence[Incident], policy: SlaPolicy, now: datetime
) -> dict[str, SlaSummary]:
    """Each incident's summary, from one read of their high and critical alerts (a list page's)."""
    owner = {alert_id: inc.id for inc in incidents for alert_id in inc.alert_ids}
    found: dict[str, list[Alert]] = {inc.id: [] for inc in incidents}
    ids = list(owner)
    severities = [s.value for s in SLA_SEVERITIES]
    for start in range(0, len(ids), PAGE):
        chunk = ids[start : start + PAGE]
        page = store.search_alert_queue(AlertSearch(ids=chunk, severity=severities, origin="live", size=PAGE))
        for alert in page.items:
            found[owner[alert.id]].append(alert)
    return {inc_id: summarize(alerts, policy, now) for inc_id, alerts in found.items()}
