"""One group's window of one correlation, fed hits in event-time order.

Two kinds, by what the condition allows (`Correlation.eager`):

- `SlidingWindow` (counts and temporal with `gt`/`gte` or a boolean condition): the hits of the last
  `timespan` seconds are kept; the correlation fires as soon as its condition holds. The firing
  window starts at the earliest contributing hit and lasts `timespan`; later hits inside it repeat
  the alert (`Repeat`), the first hit after it starts afresh (the events of one alert never count
  towards the next one).
- `ClosingWindow` (`lt`/`lte`/`eq`/`neq`, ranges, and the value aggregations, whose result can go
  down as well as up): anchored at its first hit, it covers `[start, start + timespan]` and is
  decided when the watermark passes its end.

Both windows include their end: two events exactly `timespan` apart are within the timespan.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

import orjson

from detections.correlation.hits import RuleHit, Scalar, context_json
from detections.correlation.model import AGGREGATE_TYPES, Correlation, CorrelationType, evaluate

#: Event ids an alert lists (its count goes on beyond).
MAX_EVENT_IDS = 100


@dataclass(frozen=True, slots=True)
class Fire:
    """The condition held: a new alert for this group and window."""

    start: float
    last: float
    count: int
    event_ids: tuple[str, ...]
    rules: tuple[str, ...]
    context: dict[str, Any]
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Repeat:
    """One more hit inside an alert's firing window."""

    start: float
    count: int
    last: float
    event_id: str


def as_number(value: Scalar) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def aggregate(kind: CorrelationType, values: list[float], percentile: int | None) -> float | None:
    if not values:
        return None
    if kind is CorrelationType.VALUE_SUM:
        return math.fsum(values)
    if kind is CorrelationType.VALUE_AVG:
        return math.fsum(values) / len(values)
    if kind is CorrelationType.VALUE_MEDIAN:
        return float(statistics.median(values))
    # value_percentile: linear interpolation between closest ranks (numpy's default)
    ordered = sorted(values)
    pos = (percentile or 0) / 100 * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


#: A hit as a sliding count window keeps it: (event time, event id, rule id, value).
Kept = tuple[float, str, str, Scalar]


class SlidingWindow:
    __slots__ = ("data", "fired_count", "fired_last", "fired_start", "head", "last_ts", "values")

    def __init__(self) -> None:
        # per type: a list of `Kept` read from `head` on, {position: (ts, event id)}, or chains
        self.data: Any = None
        self.head = 0
        self.values: dict[Scalar, int] | None = None  # value_count: hits per distinct value
        self.fired_start: float | None = None
        self.fired_count = 0
        self.fired_last = 0.0
        self.last_ts = -math.inf

    def deadline(self, c: Correlation) -> float:
        return self.last_ts + c.timespan_s

    def add(self, c: Correlation, hit: RuleHit) -> Fire | Repeat | None:
        t = hit.ts
        self.last_ts = max(self.last_ts, t)
        if self.fired_start is not None:
            if t - self.fired_start <= c.timespan_s:
                self.fired_count += 1
                self.fired_last = max(self.fired_last, t)
                return Repeat(self.fired_start, self.fired_count, self.fired_last, hit.event_id)
            self.fired_start = None
            self._reset()
        kind = c.type
        if kind is CorrelationType.TEMPORAL_ORDERED:
            fire = self._ordered(c, hit)
        elif kind is CorrelationType.TEMPORAL:
            fire = self._temporal(c, hit)
        else:
            fire = self._count(c, hit)
        if fire is not None:
            self.fired_start, self.fired_count, self.fired_last = fire.start, fire.count, fire.last
            self._reset()
        return fire

    def _reset(self) -> None:
        self.data = None
        self.head = 0
        self.values = None

    def _count(self, c: Correlation, hit: RuleHit) -> Fire | None:
        hits: list[Kept] = self.data if self.data is not None else []
        self.data = hits
        horizon = hit.ts - c.timespan_s
        values = self.values
        if c.type is CorrelationType.VALUE_COUNT and values is None:
            values = self.values = {}
        head = self.head
        while head < len(hits) and hits[head][0] < horizon:
            old = hits[head][3]
            head += 1
            if values is not None and old is not None:
                left = values[old] - 1
                if left:
                    values[old] = left
                else:
                    del values[old]
        if head > 16 and head * 2 > len(hits):  # compact now and then: amortised O(1) per hit
            del hits[:head]
            head = 0
        self.head = head
        hits.append((hit.ts, hit.event_id, hit.rule_id, hit.value))
        if values is not None and hit.value is not None:
            values[hit.value] = values.get(hit.value, 0) + 1
        metric = len(values) if values is not None else len(hits) - head
        if not c.condition.holds(metric):
            return None
        window = hits[head:]
        return Fire(
            start=window[0][0],
            last=hit.ts,
            count=len(window),
            event_ids=tuple(h[1] for h in window[:MAX_EVENT_IDS]),
            rules=tuple(dict.fromkeys(h[2] for h in window)),
            context=hit.context,
            value=float(metric),
        )

    def _temporal(self, c: Correlation, hit: RuleHit) -> Fire | None:
        last: dict[int, tuple[float, str]] = self.data if self.data is not None else {}
        self.data = last
        horizon = hit.ts - c.timespan_s
        for pos in [p for p, (ts, _) in last.items() if ts < horizon]:
            del last[pos]
        for pos in c.positions.get(hit.rule_id, ()):
            last[pos] = (hit.ts, hit.event_id)
        present = {c.sources[p].rule_id for p in last}
        if c.expression is not None:
            held = evaluate(c.expression, lambda p: c.sources[p].rule_id in present)
        else:
            held = c.condition.holds(len(present))
        if not held:
            return None
        ordered = sorted(last.values())
        return Fire(
            start=ordered[0][0],
            last=hit.ts,
            count=len(ordered),
            event_ids=tuple(dict.fromkeys(eid for _, eid in ordered)),
            rules=tuple(sorted(present)),
            context=hit.context,
            value=float(len(present)),
        )

    def _ordered(self, c: Correlation, hit: RuleHit) -> Fire | None:
        n = len(c.sources)
        chains: list[tuple[float, tuple[str, ...]] | None] = (
            self.data if self.data is not None else [None] * n
        )
        self.data = chains
        horizon = hit.ts - c.timespan_s
        for i, chain in enumerate(chains):
            if chain is not None and chain[0] < horizon:
                chains[i] = None
        # Later positions first, so one event never fills two consecutive positions.
        for pos in sorted(c.positions.get(hit.rule_id, ()), reverse=True):
            if pos == 0:
                chains[0] = (hit.ts, (hit.event_id,))
            elif (prefix := chains[pos - 1]) is not None:
                chains[pos] = (prefix[0], (*prefix[1], hit.event_id))
        done = chains[n - 1]
        if done is None:
            return None
        return Fire(
            start=done[0],
            last=hit.ts,
            count=len(done[1]),
            event_ids=done[1][:MAX_EVENT_IDS],
            rules=tuple(s.rule_id for s in c.sources),
            context=hit.context,
            value=float(n),
        )

    # -- persistence (distributed mode's changelog) ----------------------------------------

    def to_dict(self, c: Correlation) -> dict[str, Any]:
        data: Any = None
        if self.data is not None:
            if c.type is CorrelationType.TEMPORAL:
                data = [[p, ts, eid] for p, (ts, eid) in self.data.items()]
            elif c.type is CorrelationType.TEMPORAL_ORDERED:
                data = [None if ch is None else [ch[0], list(ch[1])] for ch in self.data]
            else:
                data = [list(h) for h in self.data[self.head :]]
        return {
            "k": "s",
            "d": data,
            "fs": self.fired_start,
            "fc": self.fired_count,
            "fl": self.fired_last,
            "lt": self.last_ts if math.isfinite(self.last_ts) else None,
        }

    @classmethod
    def from_dict(cls, c: Correlation, d: dict[str, Any]) -> SlidingWindow:
        w = cls()
        data = d.get("d")
        if data is not None:
            if c.type is CorrelationType.TEMPORAL:
                w.data = {int(p): (float(ts), eid) for p, ts, eid in data}
            elif c.type is CorrelationType.TEMPORAL_ORDERED:
                w.data = [None if ch is None else (float(ch[0]), tuple(ch[1])) for ch in data]
            else:
                w.data = [(float(ts), e, r, v) for ts, e, r, v in data]
                if c.type is CorrelationType.VALUE_COUNT:
                    w.values = {}
                    for h in w.data:
                        if h[3] is not None:
                            w.values[h[3]] = w.values.get(h[3], 0) + 1
        w.fired_start = d.get("fs")
        w.fired_count = int(d.get("fc") or 0)
        w.fired_last = float(d.get("fl") or 0.0)
        lt = d.get("lt")
        w.last_ts = float(lt) if lt is not None else -math.inf
        return w


class ClosingWindow:
    __slots__ = ("context", "count", "distinct", "event_ids", "last_ts", "rules", "start", "values")

    def __init__(self, start: float) -> None:
        self.start = start
        self.last_ts = start
        self.count = 0
        self.event_ids: list[str] = []
        self.rules: list[str] = []  # distinct, in order of first hit (a handful at most)
        self.distinct: set[Scalar] | None = None  # value_count only
        self.values: list[float] | None = None  # value aggregations only
        #: the context (event document) of the hit that opened the window, as compact JSON text: the
        #: alert shows it when the window closes, and a dict tree would cost several times more (a
        #: str, not orjson's bytes, which come with a 4 KiB buffer)
        self.context = ""

    def deadline(self, c: Correlation) -> float:
        return self.start + c.timespan_s

    def add(self, c: Correlation, hit: RuleHit) -> None:
        self.count += 1
        self.last_ts = max(self.last_ts, hit.ts)
        if len(self.event_ids) < MAX_EVENT_IDS:
            self.event_ids.append(hit.event_id)
        if hit.rule_id not in self.rules:
            self.rules.append(hit.rule_id)
        if not self.context:
            self.context = context_json(hit.context).decode()
        if c.type is CorrelationType.VALUE_COUNT:
            if hit.value is not None:
                if self.distinct is None:
                    self.distinct = set()
                self.distinct.add(hit.value)
        elif c.type in AGGREGATE_TYPES and (number := as_number(hit.value)) is not None:
            if self.values is None:
                self.values = []
            self.values.append(number)

    def close(self, c: Correlation) -> Fire | None:
        kind = c.type
        metric: float | None
        if kind is CorrelationType.EVENT_COUNT:
            metric = self.count
        elif kind is CorrelationType.VALUE_COUNT:
            metric = len(self.distinct or ())
        elif kind is CorrelationType.TEMPORAL:
            metric = len(self.rules)
        else:
            metric = aggregate(kind, self.values or [], c.percentile)
        if metric is None or not c.condition.holds(metric):
            return None
        return Fire(
            start=self.start,
            last=self.last_ts,
            count=self.count,
            event_ids=tuple(self.event_ids),
            rules=tuple(sorted(self.rules)),
            context=orjson.loads(self.context) if self.context else {},
            value=float(metric),
        )

    def to_dict(self, c: Correlation) -> dict[str, Any]:
        return {
            "k": "c",
            "s": self.start,
            "lt": self.last_ts,
            "n": self.count,
            "e": self.event_ids,
            "d": sorted(self.distinct, key=str) if self.distinct is not None else None,
            "r": self.rules,
            "v": self.values,
            "x": orjson.loads(self.context) if self.context else {},
        }

    @classmethod
    def from_dict(cls, c: Correlation, d: dict[str, Any]) -> ClosingWindow:
        w = cls(float(d["s"]))
        w.last_ts = float(d["lt"])
        w.count = int(d["n"])
        w.event_ids = list(d["e"])
        w.distinct = set(d["d"]) if d.get("d") is not None else None
        w.rules = list(d["r"])
        w.values = [float(v) for v in d["v"]] if d.get("v") is not None else None
        w.context = orjson.dumps(d["x"]).decode() if d.get("x") else ""
        return w
