"""The port suppression seeds its open groups from, so a detect restart does not split a repeat series.

Suppression (`detections.suppression.Suppressor`) folds repeats of one rule on one host within a
window into the first alert. Its open groups live in memory; after a restart (a deploy, a crash, a
rebalance handing the partition to another replica) the next repeat would open a new alert. So on
start, and on the first sight of a (rule, host) key, the suppressor asks this port for the alert
that series already has in the store and carries on counting from it.

    OpenAlertLookup        find(rule, host key, at, window), recent(since, limit)
    └── StoreOpenAlerts    over any `AlertStore` (SQLite embedded, Elasticsearch distributed)

The detect stage stays pure: it is handed a lookup; the composition root (`socpipe.runtime`) builds
it over the mode's store. Only live alerts seed: an evidence file's alerts never absorb live repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from soc_core.alert import Alert, repeat_key
from soc_core.store import AlertStore, OpenAlertQuery

#: Candidates read per lookup: the series' alert is the newest one within the window in nearly all
#: cases; a few more cover out-of-order events around a window edge.
CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """What suppression needs of a stored alert to keep counting its series."""

    alert_id: str
    rule_id: str
    host_key: str
    first_seen: datetime
    last_seen: datetime
    count: int
    event_ids: tuple[str, ...]

    @classmethod
    def of(cls, alert: Alert) -> OpenAlert:
        rule_id, host_key = repeat_key(alert)
        first = alert.first_seen or alert.timestamp
        return cls(
            alert_id=alert.id,
            rule_id=rule_id,
            host_key=host_key,
            first_seen=first,
            last_seen=alert.last_seen or first,
            count=alert.count,
            event_ids=tuple(alert.event_ids),
        )


class OpenAlertLookup(Protocol):
    def find(self, rule_id: str, host_key: str, at: datetime, window: timedelta) -> OpenAlert | None:
        """The stored live alert of this rule and host whose series an alert at `at` continues:
        created less than `window` from `at` (the latest one not after `at`, else the earliest)."""

    def find_many(
        self, keys: Sequence[tuple[str, str, datetime]], window: timedelta
    ) -> list[OpenAlert | None]:
        """`find` of each (rule id, host key, at), in order, at once: a batch's new keys."""

    def recent(self, since: datetime, limit: int) -> list[OpenAlert]:
        """Live alerts created since `since`, newest first, at most `limit`: the groups to open on start."""


class StoreOpenAlerts:
    """`OpenAlertLookup` over an alert store, opened on first use (a detect worker starts while the
    store is down; its first lookup then raises `StoreError` and the batch is retried)."""

    def __init__(self, store: Callable[[], AlertStore]) -> None:
        self._store = store

    def find(self, rule_id: str, host_key: str, at: datetime, window: timedelta) -> OpenAlert | None:
        found = self._store().open_alert_candidates(_query(rule_id, host_key, at, window))
        return _series(found, rule_id, host_key, at, window)

    def find_many(
        self, keys: Sequence[tuple[str, str, datetime]], window: timedelta
    ) -> list[OpenAlert | None]:
        answers = self._store().open_alert_candidates_many([_query(*key, window) for key in keys])
        return [_series(found, *key, window) for found, key in zip(answers, keys, strict=True)]

    def recent(self, since: datetime, limit: int) -> list[OpenAlert]:
        far = datetime.max.replace(tzinfo=since.tzinfo)
        query = OpenAlertQuery(start=since, end=far, limit=limit)
        return [OpenAlert.of(a) for a in self._store().open_alert_candidates(query)]


def _query(rule_id: str, host_key: str, at: datetime, window: timedelta) -> OpenAlertQuery:
    """The stored alerts a series at `at` could continue: created less than `window` from `at`."""
    return OpenAlertQuery(
        start=at - window + timedelta(microseconds=1),
        end=at + window,
        rule_id=rule_id,
        host_key=host_key,
        limit=CANDIDATES,
    )


def _series(
    found: Sequence[Alert], rule_id: str, host_key: str, at: datetime, window: timedelta
) -> OpenAlert | None:
    """Of the candidates, the alert whose series `at` continues (see `OpenAlertLookup.find`)."""
    candidates = [OpenAlert.of(a) for a in found if repeat_key(a) == (rule_id, host_key)]
    candidates = [c for c in candidates if abs(at - c.first_seen) < window]
    if not candidates:
        return None
    before = [c for c in candidates if c.first_seen <= at]
    if before:
        return max(before, key=lambda c: (c.first_seen, c.alert_id))
    return min(candidates, key=lambda c: (c.first_seen, c.alert_id))
