"""`NotifyStage`: alerts in, messages out (routing, flood control, text, escalation watch).

It only decides; `Dispatcher` delivers. Its routing rules and guidance are the admin's stored
versions, picked up live (`notify.config.LiveConfig`). Its state (groups told, digests held, SLA
clocks) is bounded (`SOC_NOTIFY_MAX_TRACKED`); flood control's part is saved in the store after
each batch (`notify.flood.FloodMemory`) and read back at start, and the SLA clocks are resumed
from the store's unacknowledged high and critical alerts (`resume`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from notify.ack import ack_url, sign_ack
from notify.config import LiveConfig
from notify.escalation import Acknowledged, Escalation, Escalator
from notify.flood import Decision, Digest, DigestReason, FloodControl
from notify.rules import RoutingRules
from notify.text import Guidance, Written, digest, early_warning
from soc_core.alert import Alert, Severity
from soc_core.event import utcnow
from soc_core.notify import Message, Recipient, message_key
from soc_core.notify_config import NotifyConfigStore
from soc_core.registry import InformationSystem, Registry, Unit
from soc_core.settings import NotifySettings

DIGEST_REASON_VI = {
    DigestReason.FLOOD: "trong thời gian ngắn (gộp để tránh quá tải)",
    DigestReason.QUIET: "mức thấp trong giờ nghỉ",
}


class NotifyStage:
    def __init__(
        self,
        settings: NotifySettings,
        *,
        secret: str,
        registry: Callable[[], Registry],
        acknowledged: Acknowledged,
        clock: Callable[[], datetime] = utcnow,
        rules: RoutingRules | None = None,
        guidance: Guidance | None = None,
        config_store: NotifyConfigStore | None = None,
    ) -> None:
        """`rules` and `guidance` (else the settings' files) are the seed; the admin's stored
        versions in `config_store` replace them, checked every `config_poll_s`. The on-call list and
        the escalation chain come with the rules (the settings' ones while the rules name none)."""
        self.settings = settings
        self.config = LiveConfig(
            config_store,
            seed_rules=rules if rules is not None else RoutingRules.load(settings.rules_file),
            seed_guidance=guidance if guidance is not None else Guidance.load(settings.guidance_file),
            poll_s=settings.config_poll_s,
            oncall=[Recipient.parse(text) for text in settings.oncall],
            escalation=[Recipient.parse(text) for text in settings.escalation],
        )
        self._secret = secret
        self._registry = registry
        self._clock = clock
        self.flood = FloodControl(
            threshold=settings.digest_threshold,
            window_s=settings.digest_window_s,
            quiet_start_hour=settings.quiet_start_hour,
            quiet_end_hour=settings.quiet_end_hour,
            quiet_max=Severity(settings.quiet_max_severity),
            max_tracked=settings.max_tracked,
        )
        self.escalator = Escalator(settings.sla_s, self.config.escalation, acknowledged, settings.max_tracked)

    def _refresh(self, now: datetime) -> None:
        """The admin's newest versions, when the poll interval has passed; the chain follows."""
        if self.config.refresh(now):
            self.escalator.chain = self.config.escalation

    @property
    def rules(self) -> RoutingRules:
        return self.config.rules

    @property
    def oncall(self) -> list[Recipient]:
        return self.config.oncall

    @property
    def guidance(self) -> Guidance:
        return self.config.guidance

    def offer(self, alerts: Sequence[Alert]) -> list[Message]:
        """The messages to send now about new alerts (held ones come later from `tick`)."""
        now = self._clock()
        self._refresh(now)
        registry = self._registry()
        units = {u.id: u for u in registry.units}
        systems = {s.id: s for s in registry.systems}
        out: list[Message] = []
        for alert in alerts:
            self.escalator.watch(alert)
            unit = units.get(alert.soc.unit.id or "")
            recipients, _ = self.rules.route(alert, now, self.oncall, unit)
            for recipient in recipients:
                if self.flood.admit(alert, recipient, now) is Decision.SEND:
                    key = message_key("alert", recipient, alert.group or alert.id)
                    out.append(self._about(alert, recipient, key, now, unit, systems))
        return out

    def resume(self, open_alerts: Sequence[Alert]) -> None:
        """After a restart: the SLA clocks of alerts still unacknowledged (read from the store)."""
        now = self._clock()
        self._refresh(now)
        for alert in open_alerts:
            self.escalator.watch(alert, resumed_at=now)

    @property
    def resume_since(self) -> datetime:
        """The oldest creation time an alert can have and still be escalated (by the chain in force:
        the stored routing version is read first)."""
        now = self._clock()
        self._refresh(now)
        return now - self.escalator.horizon

    def tick(self) -> list[Message]:
        """Digests and escalations that fell due by the clock (called between batches and when idle)."""
        now = self._clock()
        self._refresh(now)
        out = [self._digest(d) for d in self.flood.due(now)]
        escalations = self.escalator.due(now)
        if escalations:
            registry = self._registry()
            units = {u.id: u for u in registry.units}
            systems = {s.id: s for s in registry.systems}
            out.extend(self._escalation(e, now, units, systems) for e in escalations)
        return out

    def _escalation(
        self, e: Escalation, now: datetime, units: dict[str, Unit], systems: dict[str, InformationSystem]
    ) -> Message:
        key = message_key("escalation", e.recipient, e.alert.id, str(e.step))
        unit = units.get(e.alert.soc.unit.id or "")
        return self._about(e.alert, e.recipient, key, now, unit, systems, step=e.step, overdue_s=e.overdue_s)

    def _about(
        self,
        alert: Alert,
        recipient: Recipient,
        key: str,
        now: datetime,
        unit: Unit | None,
        systems: dict[str, InformationSystem],
        *,
        step: int = 0,
        overdue_s: float | None = None,
    ) -> Message:
        expires = now + timedelta(hours=self.settings.ack_link_hours)
        link = ack_url(self.settings.console_url, sign_ack(self._secret, alert.id, str(recipient), expires))
        system = systems.get(alert.soc.system.id or "")
        written = early_warning(
            alert,
            self.guidance,
            system_name=system.name if system else None,
            unit_name=unit.name if unit else None,
            ack_link=link,
            ack_expires=expires,
            escalation_step=step,
        )
        data: dict[str, Any] = {
            "alert_id": alert.id,
            "group": alert.group,
            "severity": alert.severity.value,
            "rule": {"id": alert.rule.id, "name": alert.rule.name},
            "host": alert.host_name,
            "unit_id": alert.soc.unit.id,
            "system_id": alert.soc.system.id,
            "timestamp": alert.timestamp.isoformat(),
            "checklist": alert.checklist,
            "acknowledge_url": link,
            "escalation_step": step,
        }
        if overdue_s is not None:
            data["overdue_s"] = overdue_s
        return self._message(key, "escalation" if step else "alert", recipient, written, (alert.id,), data)

    def _digest(self, d: Digest) -> Message:
        written = digest(d.alerts, d.total, DIGEST_REASON_VI[d.reason], self.settings.console_url)
        ids = tuple(a.id for a in d.alerts)
        key = message_key("digest", d.recipient, d.reason.value, *ids, str(d.total))
        data = {"reason": d.reason.value, "total": d.total, "alert_ids": list(ids)}
        return self._message(key, "digest", d.recipient, written, ids, data)

    @staticmethod
    def _message(
        key: str,
        kind: Any,
        recipient: Recipient,
        written: Written,
        alert_ids: tuple[str, ...],
        data: dict[str, Any],
    ) -> Message:
        return Message(
            key=key,
            kind=kind,
            recipient=recipient,
            subject=written.subject,
            text=written.text,
            html=written.html,
            alert_ids=alert_ids,
            data={"kind": kind, **data},
        )
