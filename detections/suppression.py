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

Restarts. The open groups live in memory, so a restarted detect stage would open a new alert for
the next repeat of a series. Given a `soc_core.open_alerts.OpenAlertLookup`, the suppressor seeds
groups from the store instead: `seed_recent()` on start (the live alerts of the last window), and
lazily on the first sight of a (rule, host) key it holds no group for (`lookup.find`; for a
whole batch's new keys at once, `prefetch` and `lookup.find_many`). A seeded group
carries the stored alert's id, first/last seen, count and event ids, so a replay of events already
counted (the uncommitted tail of a Kafka partition) still counts once, up to the event ids the
store keeps per alert (`AlertRepeat.apply`, 100). In distributed mode the store lags the detect
stage by the indexer's latency (about a second): repeats published in that last second before a
restart are not seen by the seed, and a series may split there.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc_core.alert import Alert, AlertRepeat, repeat_key
from soc_core.errors import StoreError
from soc_core.open_alerts import OpenAlert, OpenAlertLookup

log = logging.getLogger(__name__)


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

    def as_repeat(self) -> AlertRepeat:
        """What the stages publish and the stores fold into the open alert."""
        return AlertRepeat(
            alert_id=self.alert_id,
            first_seen=self.first_seen,
            count=self.count,
            last_seen=self.last_seen,
            event_id=self.event_id,
        )


@dataclass(frozen=True, slots=True)
class Offer:
    """What suppression decides an alert by, known before the alert is built (the detect stage
    builds only the alerts that are new: two in three of this corpus's are repeats)."""

    alert_id: str
    key: tuple[str, str]
    at: datetime
    event_id: str | None
    rule_id: str
    host_name: str | None

    @classmethod
    def of(cls, alert: Alert) -> Offer:
        return cls(
            alert_id=alert.id,
            key=repeat_key(alert),
            at=alert.timestamp,
            event_id=alert.event_ids[0] if alert.event_ids else None,
            rule_id=alert.rule.id,
            host_name=alert.host_name,
        )


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

    def __init__(
        self, window: timedelta, *, max_groups: int = 100_000, lookup: OpenAlertLookup | None = None
    ) -> None:
        if window < timedelta(0):
            raise ValueError("suppression window must not be negative")
        self.window = window
        self.max_groups = max_groups
        self.lookup = lookup
        self._groups: OrderedDict[tuple[str, str], _Group] = OrderedDict()
        #: Keys `prefetch` asked the store about and found no alert for: their next offer opens a
        #: group without asking again (once; then the group exists).
        self._absent: set[tuple[str, str]] = set()
        self.counters: Counter[str] = Counter()

    key = staticmethod(repeat_key)

    def seed(self, alerts: Iterable[OpenAlert]) -> int:
        """Open groups from stored alerts (newest first: the first one per key wins); returns how many."""
        seeded = 0
        for open_alert in alerts:
            key = (open_alert.rule_id, open_alert.host_key)
            if key not in self._groups:
                self._open(key, open_alert)
                seeded += 1
        self.counters["seeded"] += seeded
        return seeded

    def seed_recent(self, now: datetime, *, limit: int) -> int:
        """On start: open the groups of the live alerts created within the last window before `now`.

        Best effort by design: a store that cannot be read now is logged and the lazy lookups (which
        do raise) take over, so a detect worker starts while its store is down."""
        if self.lookup is None or self.window == timedelta(0) or limit <= 0:
            return 0
        try:
            found = self.lookup.recent(now - self.window, min(limit, self.max_groups))
        except StoreError as exc:
            self.counters["seed_errors"] += 1
            log.warning("suppression not seeded on start, seeding lazily instead error=%s", exc)
            return 0
        return self.seed(found)

    def _open(self, key: tuple[str, str], seed: OpenAlert) -> None:
        events = set(seed.event_ids[: self.MAX_EVENT_IDS])
        self._groups[key] = _Group(seed.alert_id, seed.first_seen, seed.last_seen, seed.count, events)
        self._groups.move_to_end(key)
        while len(self._groups) > self.max_groups:
            self._groups.popitem(last=False)

    def _seeded(self, key: tuple[str, str], at: datetime) -> _Group | None:
        """The group the store holds for a key seen for the first time (raises StoreError)."""
        if self.lookup is None:
            return None
        self.counters["lookups"] += 1
        found = self.lookup.find(key[0], key[1], at, self.window)
        if found is None:
            return None
        self.counters["seeded"] += 1
        self._open(key, found)
        return self._groups[key]

    def prefetch(self, alerts: Sequence[Alert]) -> int:
        """Look up at once every key of `alerts` (a batch's, in order) this suppressor holds no group
        for: one request for the batch (`OpenAlertLookup.find_many`) where `offer` would ask one
        per key, which after a restart is every key. Each key is looked up at its first alert's
        time, as `offer` would; raises `StoreError` like `offer`. Returns the keys looked up."""
        return self.prefetch_offers([Offer.of(alert) for alert in alerts])

    def prefetch_offers(self, offers: Sequence[Offer]) -> int:
        """`prefetch` for alerts not built yet."""
        if self.lookup is None or self.window == timedelta(0):
            return 0
        self._absent.clear()
        wanted: dict[tuple[str, str], datetime] = {}
        for offer in offers:
            key = offer.key
            if key not in self._groups and key not in wanted:
                wanted[key] = offer.at
        if not wanted:
            return 0
        self.counters["lookups"] += len(wanted)
        found = self.lookup.find_many([(rule, host, at) for (rule, host), at in wanted.items()], self.window)
        for key, seed in zip(wanted, found, strict=True):
            if seed is None:
                self._absent.add(key)
            else:
                self.counters["seeded"] += 1
                self._open(key, seed)
        return len(wanted)

    def offer(self, alert: Alert) -> NewAlert | AlertUpdate:
        update = self.decide(Offer.of(alert))
        return NewAlert(alert) if update is None else update

    def decide(self, offer: Offer) -> AlertUpdate | None:
        """The update of the open alert `offer` repeats, or None: the alert is new (or the group's
        own first one again, a replay), to be created."""
        if self.window == timedelta(0):
            return None
        key, at, event_id = offer.key, offer.at, offer.event_id
        group = self._groups.get(key)
        if group is None:
            if key in self._absent:  # prefetched: the store has no alert for it
                self._absent.discard(key)
            else:
                group = self._seeded(key, at)
        if group is not None and offer.alert_id == group.alert_id:
            return None  # the group's own first event again (a replay): same create
        if group is not None and abs(at - group.first_seen) < self.window:
            if event_id is None or event_id not in group.events:  # a replayed event counts once
                group.count += 1
                group.last_seen = max(group.last_seen, at)
                if event_id is not None and len(group.events) < self.MAX_EVENT_IDS:
                    group.events.add(event_id)
            return AlertUpdate(
                alert_id=group.alert_id,
                rule_id=offer.rule_id,
                host_name=offer.host_name,
                count=group.count,
                first_seen=group.first_seen,
                last_seen=group.last_seen,
                event_id=event_id,
            )
        self._open(key, OpenAlert(offer.alert_id, key[0], key[1], at, at, 1, (event_id,) if event_id else ()))
        return None

    def withdraw(self, offer: Offer) -> None:
        """Forget the group `decide` just opened for `offer`, whose alert could not be built after all
        (its repeats must not fold into an alert that was never stored)."""
        group = self._groups.get(offer.key)
        if group is not None and group.alert_id == offer.alert_id and group.count == 1:
            del self._groups[offer.key]

    def __len__(self) -> int:
        return len(self._groups)
