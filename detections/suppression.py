"""Alert suppression: repeats of one rule on one host within a window become one alert with a count.

Deterministic by construction: it uses the events' own times (`Alert.timestamp`), never the wall
clock, so a replay of the same events in the same order yields the same alerts and updates. A
group opens on the first alert for (rule id, host) and takes every alert whose time is less than
`window` away from the group's first one; the next one outside opens a new group (a new alert).

Example::

    suppressor = Suppressor(timedelta(minutes=10))
    for alert in stage(event):
        outcome = suppressor.offer(alert)
        if isinstance(outcome, NewAlert):
            store.create_alert(outcome.alert)
        else:
            store.bump_alert(outcome.alert_id, count=outcome.count, last_seen=outcome.last_seen)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc_core.alert import Alert


@dataclass(frozen=True, slots=True)
class NewAlert:
    """Store this alert (its id is deterministic, so a replay's create is a no-op)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """Alert `alert_id` was seen again: set its count and last_seen, append the event id."""

    alert_id: str
    rule_id: str
    host_name: str | None
    count: int
    first_seen: datetime
    last_seen: datetime
    event_id: str | None


@dataclass(slots=True)
class _Group:
    alert_id: str
    first_seen: datetime
    last_seen: datetime
    count: int
    events: set[str]


class Suppressor:
    """Groups alerts by (rule id, host). Keeps at most `max_groups` open groups (oldest dropped)."""

    #: Event ids remembered per group to make replays idempotent (beyond it, replays may recount).
    MAX_EVENT_IDS = 1024

    def __init__(self, window: timedelta, *, max_groups: int = 100_000) -> None:
        if window < timedelta(0):
            raise ValueError("suppression window must not be negative")
        self.window = window
        self.max_groups = max_groups
        self._groups: OrderedDict[tuple[str, str], _Group] = OrderedDict()

    @staticmethod
    def key(alert: Alert) -> tuple[str, str]:
        host = alert.host_name or alert.soc.source.id or ""
        return (alert.rule.id, host.lower())

    def offer(self, alert: Alert) -> NewAlert | AlertUpdate:
        if self.window == timedelta(0):
            return NewAlert(alert)
        key = self.key(alert)
        at = alert.timestamp
        event_id = alert.event_ids[0] if alert.event_ids else None
        group = self._groups.get(key)
        if group is not None and alert.id == group.alert_id:
            return NewAlert(alert)  # the group's own first event again (a replay): same create
        if group is not None and abs(at - group.first_seen) < self.window:
            if event_id is None or event_id not in group.events:  # a replayed event counts once
                group.count += 1
                group.last_seen = max(group.last_seen, at)
                if event_id is not None and len(group.events) < self.MAX_EVENT_IDS:
                    group.events.add(event_id)
            return AlertUpdate(
                alert_id=group.alert_id,
                rule_id=alert.rule.id,
                host_name=alert.host_name,
                count=group.count,
                first_seen=group.first_seen,
                last_seen=group.last_seen,
                event_id=event_id,
            )
        self._groups[key] = _Group(alert.id, at, at, 1, {event_id} if event_id else set())
        self._groups.move_to_end(key)
        while len(self._groups) > self.max_groups:
            self._groups.popitem(last=False)
        return NewAlert(alert)

    def __len__(self) -> int:
        return len(self._groups)
