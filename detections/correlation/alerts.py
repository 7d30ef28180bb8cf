"""Correlation alerts: ordinary `soc_core.alert.Alert`s whose rule is the correlation rule.

The id is `alert_id(correlation id, "<group key>|<window start ISO>")`: one alert per correlation,
group and window whatever process raises it and however often, so a replay re-sends the same id
(the store keeps the first). Later hits in the window are `AlertRepeat`s with absolute counts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from detections.correlation.hits import event_document
from detections.correlation.model import Correlation
from detections.correlation.windows import Fire, Repeat
from detections.loader import RuleInfo
from detections.stage import rule_ref
from detections.tags import checklist_codes, threats
from soc_core.alert import Alert, AlertRepeat, Severity, alert_id


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def correlation_alert_id(correlation_id: str, group: str, start: float) -> str:
    return alert_id(correlation_id, f"{group}|{at(start).isoformat()}")


def build_alert(c: Correlation, group: str, fire: Fire) -> Alert:
    tags = list(c.tags)
    context = fire.context
    start = at(fire.start)
    return Alert.model_validate(
        {
            "id": correlation_alert_id(c.id, group, fire.start),
            "@timestamp": start,
            "severity": Severity.from_sigma_level(c.level),
            "rule": rule_ref(_info(c)),
            "threat": threats(tags),
            "checklist": checklist_codes(tags),
            "soc": context.get("soc") or {},
            "host_name": context.get("host_name"),
            "user_name": context.get("user_name"),
            "event_ids": list(fire.event_ids),
            "event": event_document(context),
            "matched": list(fire.rules),
            "count": fire.count,
            "first_seen": start,
            "last_seen": at(fire.last),
        }
    )


def _info(c: Correlation) -> RuleInfo:
    return RuleInfo(
        id=c.id,
        title=c.title,
        level=c.level,
        status=None,
        author=c.author,
        description=c.description,
        references=list(c.references),
        tags=list(c.tags),
        logsource={},
        path=c.path,
        ruleset=c.ruleset,
    )


def build_repeat(c: Correlation, group: str, repeat: Repeat) -> AlertRepeat:
    return AlertRepeat(
        alert_id=correlation_alert_id(c.id, group, repeat.start),
        first_seen=at(repeat.start),
        count=repeat.count,
        last_seen=at(repeat.last),
        event_id=repeat.event_id,
    )
