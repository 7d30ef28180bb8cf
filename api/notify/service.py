"""Record an acknowledgement that came through an early warning's link.

The link's token (`notify.ack`) names the alert and the recipient it was sent to, and expires; a
valid one moves the alert from "new" to "acknowledged", sets `acknowledged_at` (the time to
acknowledge runs from the alert's creation, what the unit's dossier and the SLA count) and adds a
history entry whose actor is `ack:<recipient>`, under the same optimistic concurrency as triage,
and writes an audit entry. An alert already acknowledged (by an analyst, or an earlier click) is
left as it is and its recorded acknowledgement is answered: clicking twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from api.alerts.errors import Conflict
from api.audit import service as audit
from api.errors import NotFound
from api.notify.models import Acknowledgement
from api.versioned import change_versioned
from notify.ack import verify_ack
from soc_core.alert import Alert, AlertStatus, TriageChange
from soc_core.store import Store


def acknowledge(
    *, store: Store, secret: str, token: str, now: datetime, ip: str | None = None
) -> Acknowledgement:
    """Raises `AckLinkInvalid` for a forged, malformed or expired token, `NotFound` for an alert the
    store does not hold."""
    claim = verify_ack(secret, token, now)
    actor = f"ack:{claim.recipient}"

    def change(alert: Alert, at: datetime) -> tuple[Alert, list[TriageChange]]:
        triage = alert.triage
        if triage.acknowledged_at is not None:
            return alert, []
        new = triage.model_copy(deep=True, update={"acknowledged_at": at, "updated_at": at})
        changes = [TriageChange(at=at, actor=actor, field="acknowledged", old=None, new=claim.recipient)]
        if triage.status is AlertStatus.NEW:
            new.status = AlertStatus.ACKNOWLEDGED
            changes.append(TriageChange(at=at, actor=actor, field="status", old="new", new="acknowledged"))
        new.history.extend(changes)
        return alert.model_copy(update={"triage": new}), changes

    alert, changes = change_versioned(
        lambda: store.get_alert_versioned(claim.alert_id),
        change,
        lambda a, version: store.update_alert_triage(a.id, a.triage, version=version),
        missing=lambda: NotFound("no such alert", alert_id=claim.alert_id),
        conflict=lambda: Conflict("the alert kept changing; try again", alert_id=claim.alert_id),
    )
    acknowledged_at = alert.triage.acknowledged_at
    assert acknowledged_at is not None  # set above, or before
    seconds = (acknowledged_at - alert.created_at).total_seconds()
    if changes:
        audit.record(
            store=store,
            actor=actor,
            action="alert.acknowledge",
            target_type="alert",
            target_id=alert.id,
            ip=ip,
            details={"via": "notification link", "time_to_acknowledge_s": seconds},
        )
    by = next((c.actor for c in alert.triage.history if c.field in ("acknowledged", "status")), actor)
    return Acknowledgement(
        alert_id=alert.id,
        acknowledged_at=acknowledged_at,
        acknowledged_by=by,
        time_to_acknowledge_s=seconds,
        already=not changes,
    )
