"""`soc_core.sla`: the one due time escalation and the queue both read."""

from __future__ import annotations

from datetime import timedelta

from notify.escalation import Escalator
from soc_core.alert import AlertStatus, Severity, Triage
from soc_core.notify import Recipient
from soc_core.sla import SlaPolicy, due_at, sla_state
from tests.contract.test_store_triage_contract import T0, triage_alert

POLICY = SlaPolicy({"critical": 900.0, "high": 3600.0})


def test_state_before_at_and_after_the_due_time() -> None:
    alert = triage_alert(1, severity=Severity.HIGH, created_at=T0)
    assert due_at(alert, POLICY) == T0 + timedelta(hours=1)
    before = sla_state(alert, POLICY, T0 + timedelta(minutes=59))
    assert before is not None and not before.breached and before.late_s == 0
    exactly = sla_state(alert, POLICY, T0 + timedelta(hours=1))
    assert exactly is not None and exactly.overdue and exactly.late_s == 0  # when escalation fires
    after = sla_state(alert, POLICY, T0 + timedelta(hours=1, minutes=5))
    assert after is not None and after.breached and after.overdue and after.late_s == 300


def test_an_acknowledgement_stops_the_clock() -> None:
    late = Triage(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=T0 + timedelta(minutes=20))
    alert = triage_alert(1, severity=Severity.CRITICAL, created_at=T0, triage=late)
    state = sla_state(alert, POLICY, T0 + timedelta(days=3))
    assert state is not None and state.breached and not state.overdue and state.late_s == 300
    in_time = alert.model_copy(update={"triage": Triage(acknowledged_at=T0 + timedelta(minutes=10))})
    state = sla_state(in_time, POLICY, T0 + timedelta(days=3))
    assert state is not None and not state.breached
    # moved past "new" by a document older than `acknowledged_at`: no breach is claimed
    legacy = alert.model_copy(update={"triage": Triage(status=AlertStatus.RESOLVED)})
    state = sla_state(legacy, POLICY, T0 + timedelta(days=3))
    assert state is not None and not state.breached


def test_no_sla_for_other_severities_and_evidence() -> None:
    assert sla_state(triage_alert(1, severity=Severity.MEDIUM, created_at=T0), POLICY, T0) is None
    evidence = triage_alert(
        2, severity=Severity.CRITICAL, created_at=T0, soc={"unit": {"id": "u"}, "evidence": {"visit_id": "v"}}
    )
    assert sla_state(evidence, POLICY, T0 + timedelta(days=1)) is None


def test_escalation_falls_due_when_the_queue_says_breached() -> None:
    alert = triage_alert(1, severity=Severity.CRITICAL, created_at=T0)
    escalator = Escalator(dict(POLICY.budgets_s), [Recipient.parse("email:a@b.vn")], lambda _: False, 100)
    escalator.watch(alert)
    due = due_at(alert, POLICY)
    assert due is not None
    before = due - timedelta(seconds=1)
    state = sla_state(alert, POLICY, before)
    assert escalator.due(before) == [] and state is not None and not state.overdue
    state = sla_state(alert, POLICY, due)
    assert state is not None and state.overdue
    assert [e.alert.id for e in escalator.due(due)] == [alert.id]
