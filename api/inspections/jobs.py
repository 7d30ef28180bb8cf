"""Reminders before deadlines, run by the scheduler: `send_reminders(store=..., repo=...)`.

Two deadlines matter to the teams: a finding's remediation (20 days after the minutes) and a unit's
self-assessment report (before the visit). Each run looks `days` ahead; a subject due within that
horizon, or already past it, gets one reminder per kind and deadline (the reminder id is built from
them and written create-only), so running every hour, on two replicas, or after a restart never
repeats one. Each new reminder is also an alert in the queue (rule `socpipe-inspection-deadline`),
attributed to the unit, so the people who watch the queue see it; the dossier and the ad-hoc
suggestions leave that rule out of their counts.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from api.audit import service as audit
from api.inspections.models import FindingStatus, Reminder, ReminderKind, vn_today
from soc_core.alert import Alert, RuleRef, Severity, alert_id
from soc_core.event import Soc, SocUnit
from soc_core.inspections import InspectionRepository
from soc_core.store import Store

log = logging.getLogger(__name__)

REMINDER_RULE = RuleRef(
    id="socpipe-inspection-deadline",
    name="Nhắc hạn kiểm tra (inspection deadline reminder)",
    author="socpipe",
    description="A remediation or self-assessment deadline of an inspection is near or has passed.",
    level="low",
    tags=["socpipe.inspection"],
)
DEFAULT_DAYS = 3


def _message(kind: ReminderKind, subject: str, unit_name: str, due: str, days_left: int) -> str:
    when = f"còn {days_left} ngày" if days_left >= 0 else f"quá hạn {-days_left} ngày"
    if kind in (ReminderKind.FINDING_DUE, ReminderKind.FINDING_OVERDUE):
        return f"Tồn tại {subject} của {unit_name}: hạn khắc phục {due} ({when})."
    return f"Báo cáo tự kiểm tra của {unit_name} ({subject}): hạn {due} ({when})."


def _alert(reminder: Reminder, unit_name: str, now: datetime) -> Alert:
    overdue = reminder.kind in (ReminderKind.FINDING_OVERDUE, ReminderKind.SELF_ASSESSMENT_OVERDUE)
    return Alert.model_validate(
        {
            "id": alert_id(REMINDER_RULE.id, reminder.id),
            "@timestamp": now,
            "severity": Severity.MEDIUM if overdue else Severity.LOW,
            "rule": REMINDER_RULE,
            "soc": Soc(unit=SocUnit(id=reminder.unit_id, name=unit_name)),
            "event": {
                "message": reminder.message,
                "reminder": reminder.model_dump(mode="json", exclude={"alert_id"}),
            },
            "first_seen": now,
            "last_seen": now,
        }
    )


def send_reminders(
    *,
    store: Store,
    repo: InspectionRepository,
    now: datetime | None = None,
    days: int = DEFAULT_DAYS,
    raise_alerts: bool = True,
) -> list[Reminder]:
    """Remind about open findings and missing self-assessment reports due within `days` (or overdue).

    Returns the reminders created by this run (those already sent are not repeated).
    """
    now = now or datetime.now(UTC)
    today = vn_today(now)
    horizon = today + timedelta(days=days)
    names = {u.id: u.name for u in store.load_registry().units}
    candidates: list[Reminder] = []
    for finding in repo.list_findings(status=[FindingStatus.OPEN.value], due_before=horizon):
        left = (finding.remediation_deadline - today).days
        kind = ReminderKind.FINDING_OVERDUE if left < 0 else ReminderKind.FINDING_DUE
        due = finding.remediation_deadline
        candidates.append(
            Reminder(
                id=f"{kind.value}:{finding.id}:{due.isoformat()}",
                kind=kind,
                unit_id=finding.unit_id,
                plan_id=finding.plan_id,
                finding_id=finding.id,
                due=due,
                days_left=left,
                message=_message(
                    kind, finding.id, names.get(finding.unit_id, finding.unit_id), f"{due:%d/%m/%Y}", left
                ),
                created_at=now,
            )
        )
    for plan in repo.list_plans():
        for entry in plan.units:
            report_due = entry.self_assessment_due
            if report_due is None or entry.self_assessment_received_at is not None or report_due > horizon:
                continue
            if entry.visit_date < today:
                continue  # the visit took place: the report is no longer what anyone waits for
            left = (report_due - today).days
            kind = ReminderKind.SELF_ASSESSMENT_OVERDUE if left < 0 else ReminderKind.SELF_ASSESSMENT_DUE
            candidates.append(
                Reminder(
                    id=f"{kind.value}:{plan.id}:{entry.unit_id}:{report_due.isoformat()}",
                    kind=kind,
                    unit_id=entry.unit_id,
                    plan_id=plan.id,
                    due=report_due,
                    days_left=left,
                    message=_message(
                        kind,
                        plan.number or plan.title,
                        names.get(entry.unit_id, entry.unit_id),
                        f"{report_due:%d/%m/%Y}",
                        left,
                    ),
                    created_at=now,
                )
            )
    created: list[Reminder] = []
    for reminder in candidates:
        if raise_alerts:
            reminder = reminder.model_copy(update={"alert_id": alert_id(REMINDER_RULE.id, reminder.id)})
            # The alert first: its id is deterministic, so a crash between the two writes only means
            # the next run finds the alert already there, never a reminder without its alert.
            store.put_alerts([_alert(reminder, names.get(reminder.unit_id, reminder.unit_id), now)])
        if not repo.add_reminder(reminder):
            continue
        created.append(reminder)
        audit.record(
            store=store,
            actor="scheduler",
            action="inspection.reminder",
            target_type="inspection_finding" if reminder.finding_id else "inspection_plan",
            target_id=reminder.finding_id or reminder.plan_id,
            details={
                "reminder_id": reminder.id,
                "kind": reminder.kind.value,
                "due": reminder.due.isoformat(),
            },
            at=now,
        )
    if created:
        log.info("inspection reminders sent count=%d horizon_days=%d", len(created), days)
    return created
