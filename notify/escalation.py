"""Escalation: a high or critical alert nobody acknowledged within its SLA goes to the next contact.

The SLA clock starts when the alert was raised (`Alert.created_at`) and runs per severity
(`SOC_NOTIFY_SLA_CRITICAL_S`, `SOC_NOTIFY_SLA_HIGH_S`); its due time is `soc_core.sla.due_at`, the
one the queue's badge and the dossier's breach counts read. When it runs out, `due(now)` asks whether
the alert has been acknowledged (the store's triage state, through the `acknowledged` callable:
status past "new", or an acknowledgement time) and, if not, names the next contact of the chain;
the following step is one more SLA later, until the chain ends. The chain is the one in force
when a step falls due (the admin's routing version, else `SOC_NOTIFY_ESCALATION`; the stage sets
`chain` when a new version is picked up): steps already sent stay sent, the next one goes to the
contact at that position of the new chain, and an alert whose next step is past the chain's end
stops being watched. Every alert with an SLA is watched, even while the chain is empty, so a chain
saved within its SLA still escalates it. The
clock is passed in, so tests advance time instead of sleeping. After a restart the clocks are
resumed from the store's unacknowledged alerts (`watch(..., resumed_at=now)`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc_core.alert import Alert
from soc_core.metrics import EVENTS_DROPPED
from soc_core.notify import Recipient
from soc_core.sla import SlaPolicy, due_at

Acknowledged = Callable[[str], bool]
"""Whether the alert with this id has been acknowledged (raises `StoreError` when it cannot tell)."""


@dataclass(slots=True)
class Watched:
    alert: Alert
    deadline: datetime
    step: int = 0  # escalations already sent


@dataclass(frozen=True, slots=True)
class Escalation:
    alert: Alert
    recipient: Recipient
    step: int  # 1 for the first escalation
    overdue_s: float


class Escalator:
    def __init__(
        self,
        sla_s: dict[str, float],
        chain: Sequence[Recipient],
        acknowledged: Acknowledged,
        max_tracked: int,
    ) -> None:
        self._sla = {severity: timedelta(seconds=s) for severity, s in sla_s.items()}
        self._policy = SlaPolicy(dict(sla_s))
        self._chain = list(chain)
        self._acknowledged = acknowledged
        self._max_tracked = max_tracked
        self._watched: OrderedDict[str, Watched] = OrderedDict()

    def watch(self, alert: Alert, *, resumed_at: datetime | None = None) -> None:
        """Start the SLA clock of an alert whose severity has one (once; a replay changes nothing).

        `resumed_at`: the alert was read back from the store after a restart; the steps its age says
        were sent before are taken as sent, and the one due now is sent (again, with the same key)."""
        first = due_at(alert, self._policy)
        if first is None or alert.id in self._watched:
            return
        sla = first - alert.created_at
        step = 0
        if resumed_at is not None:
            passed = int((resumed_at - alert.created_at) / sla)
            if passed > len(self._chain):
                return  # its chain ended before the restart
            step = max(0, passed - 1)
        self._watched[alert.id] = Watched(alert, first + sla * step, step)
        if len(self._watched) > self._max_tracked:
            self._watched.popitem(last=False)
            EVENTS_DROPPED.labels("notify", "escalation_forgotten").inc()

    @property
    def chain(self) -> list[Recipient]:
        return list(self._chain)

    @chain.setter
    def chain(self, chain: Sequence[Recipient]) -> None:
        self._chain = list(chain)

    @property
    def horizon(self) -> timedelta:
        """How long after its creation an alert can still be escalated (the whole chain)."""
        return max(self._sla.values(), default=timedelta(0)) * len(self._chain)

    @property
    def watching(self) -> int:
        return len(self._watched)

    def due(self, now: datetime) -> list[Escalation]:
        """Escalations whose SLA ran out by `now`; acknowledged alerts stop being watched."""
        out: list[Escalation] = []
        due = []
        for alert_id, w in list(self._watched.items()):
            if now < w.deadline:
                continue
            if w.step >= len(self._chain):
                del self._watched[alert_id]  # nobody (more) to tell: no need to ask the store
            else:
                due.append((alert_id, w))
        # asked first: when the store cannot answer (StoreError), nothing has changed yet, and the
        # caller's retry finds the same escalations due
        acknowledged = {alert_id for alert_id, _ in due if self._acknowledged(alert_id)}
        for alert_id, watched in due:
            if alert_id in acknowledged:
                del self._watched[alert_id]
                continue
            watched.step += 1
            out.append(
                Escalation(
                    watched.alert,
                    self._chain[watched.step - 1],
                    watched.step,
                    (now - watched.deadline).total_seconds(),
                )
            )
            if watched.step >= len(self._chain):
                del self._watched[alert_id]  # the chain is exhausted: the last contact was told
            else:
                watched.deadline += self._sla[watched.alert.severity.value]
        return out
