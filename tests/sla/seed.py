"""Alerts named by what their SLA says now (default SLAs: critical 15 min, high 1 h); the API, console
and browser tests seed them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from soc_core.alert import Alert, AlertStatus, Severity, Triage
from soc_core.event import Soc, SocUnit
from tests.contract.test_store_triage_contract import triage_alert


def sla_alerts() -> dict[str, Alert]:
    """Named by what their SLA says now, when they are made (default SLAs: critical 15 min, high
    1 h); the tests read them within minutes."""
    now = datetime.now(UTC)
    late_ack = now - timedelta(hours=2) + timedelta(minutes=90)

    def _alert(n: int, severity: Severity, age: timedelta, **extra: Any) -> Alert:
        created = (now - age).isoformat()
        return triage_alert(n, severity=severity, host=f"h{n}", created_at=created, **extra)

    return {
        "critical_overdue": _alert(1, Severity.CRITICAL, timedelta(minutes=20)),
        "high_in_time": _alert(2, Severity.HIGH, timedelta(minutes=20)),
        "high_overdue": _alert(3, Severity.HIGH, timedelta(hours=2)),
        "high_acked_late": _alert(
            4,
            Severity.HIGH,
            timedelta(hours=2),
            triage=Triage(status=AlertStatus.ACKNOWLEDGED, acknowledged_at=late_ack),
        ),
        "low": _alert(5, Severity.LOW, timedelta(days=2)),
        "evidence": _alert(
            6,
            Severity.CRITICAL,
            timedelta(hours=2),
            soc=Soc(unit=SocUnit(id="so-khcn"), evidence={"visit_id": "v1", "file_id": "f1"}),
        ),
        "critical_in_progress": _alert(
            7,
            Severity.CRITICAL,
            timedelta(hours=1),
            triage=Triage(status=AlertStatus.IN_PROGRESS, acknowledged_at=now - timedelta(minutes=55)),
        ),
    }
