"""The alert queue as a CSV file: every alert the filters select (one row each, groups unrolled),
in the queue's order, at most `SOC_ALERT_EXPORT_MAX_ROWS`.

Times are given twice: `time_local` as `2026-12-05 21:45:00` in Asia/Ho_Chi_Minh (the console's
zone, which spreadsheets read as a date) and `time_utc` in ISO 8601. Codes (severity, status) are
the API's, so a sheet can be filtered and joined without translation. The last columns are the
acknowledgement SLA as of the export (`api.alerts.sla`): due time (UTC), breached, seconds late.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from api.alerts import service
from api.alerts.models import AlertSearchParams
from api.alerts.service import event_value
from api.alerts.sla import DEFAULT_POLICY, sla_fields
from soc_core.alert import Alert
from soc_core.sla import SlaPolicy
from soc_core.store import AlertStore

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PAGE = 500
COLUMNS = (
    "id",
    "time_local",
    "time_utc",
    "severity",
    "status",
    "rule_id",
    "rule_name",
    "host",
    "user",
    "source_ip",
    "unit_id",
    "unit_name",
    "system_id",
    "system_name",
    "checklist",
    "techniques",
    "assignee",
    "tags",
    "incident_id",
    "count",
    "sla_due_utc",
    "sla_breached",
    "sla_late_s",
)


def row(alert: Alert, policy: SlaPolicy, now: datetime) -> list[object]:
    sla = sla_fields(alert, policy, now)
    techniques = [str((t.technique or {}).get("id", "")) for t in alert.threat if t.technique]
    return [
        alert.id,
        alert.timestamp.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        alert.timestamp.isoformat(),
        alert.severity.value,
        alert.triage.status.value,
        alert.rule.id,
        alert.rule.name,
        alert.host_name,
        alert.user_name,
        event_value(alert.event, "source.ip"),
        alert.soc.unit.id,
        alert.soc.unit.name,
        alert.soc.system.id,
        alert.soc.system.name,
        " ".join(alert.checklist),
        " ".join(techniques),
        alert.triage.assignee,
        " ".join(alert.triage.tags),
        alert.triage.incident_id,
        alert.count,
        sla["sla_due_at"],
        "true" if sla["sla_breached"] else "false" if sla["sla_due_at"] else None,
        sla["sla_late_s"],
    ]


def export(
    *, store: AlertStore, params: AlertSearchParams, limit: int, sla: SlaPolicy = DEFAULT_POLICY
) -> tuple[int, Iterator[list[object]]]:
    """How many alerts the filters select, and the rows of the first `limit` of them, read page by
    page (keyset) as the file is written; `sla`: the policy of the SLA columns."""
    now = datetime.now(UTC)
    params = params.model_copy(update={"collapse": "none", "size": min(PAGE, limit), "cursor": None})
    first = service.search(store=store, params=params)

    def rows() -> Iterator[list[object]]:
        page, written = first, 0
        while True:
            for alert in page.items[: limit - written]:
                yield row(alert, sla, now)
                written += 1
            if written >= limit or not page.cursor:
                return
            params.cursor = page.cursor
            page = service.search(store=store, params=params)

    return first.total, rows()
