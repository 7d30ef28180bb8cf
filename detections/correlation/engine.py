"""The correlation engine: rule hits in, correlation alerts and repeats out, by event time.

Example::

    engine = CorrelationEngine(resolution, lateness_s=60)
    for alert in engine.offer(hits):       # hits from DetectStage (`hits_for_event`)
        ...
    engine.flush()                         # end of input: decide every open window

Event time. Hits are buffered and applied in event-time order (`RuleHit.sort_key`) once the
watermark (the latest event time seen minus `lateness_s`) has passed them, so within the lateness
the result does not depend on arrival order. A hit older than the watermark is dropped, counted
(`soc_correlation_late_hits`) and logged. In live mode `idle()` (called on a timer) flushes the
buffer up to the latest event time once no hit has arrived for `lateness_s` of wall-clock time, so
a stream that goes quiet still raises its alert.

Memory. A group's window is dropped once the watermark has passed it; at most `max_groups` groups
are held (beyond, the oldest group of the correlation is dropped and counted,
`soc_correlation_group_overflow`).

Chained correlations (a correlation that references another) get the inner one's alerts as hits,
applied at once (in process) or handed out in `chained_out` (distributed: re-keyed and re-published).

Distributed mode keeps each group's state (window, buffered hits, highest input offset received) in a
changelog: `take_dirty()` gives what changed, `restore()` reads it back, and a hit whose offset the
group already holds is skipped, so a replay after a crash counts nothing twice.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from detections.correlation.alerts import build_alert, build_repeat, correlation_alert_id
from detections.correlation.hits import RuleHit, chained_hits
from detections.correlation.model import Correlation
from detections.correlation.resolve import Resolution
from detections.correlation.windows import ClosingWindow, Fire, Repeat, SlidingWindow
from soc_core.alert import Alert, AlertRepeat
from soc_core.metrics import CORRELATION_GROUP_OVERFLOW, CORRELATION_LATE_HITS, CORRELATION_REPLAYED_HITS

log = logging.getLogger(__name__)

Output = list[Alert | AlertRepeat]
Window = SlidingWindow | ClosingWindow


#: Event ids a group remembers to recognise a re-sent event (a shipper's resend, a detect worker's
#: replay); beyond this many, the oldest are forgotten and a very late resend could count again.
MAX_SEEN_EVENTS = 1024


class GroupState:
    """One group of one correlation: its window, its buffered hits, what it has received."""

    __slots__ = ("max_offset", "max_ts", "pending", "seen", "window")

    def __init__(self) -> None:
        self.window: Window | None = None
        self.pending: list[RuleHit] = []
        self.max_offset = -1
        self.max_ts = -math.inf
        self.seen: dict[str, None] = {}

    def remember(self, event_id: str) -> bool:
        """False when this event was already taken (a duplicate)."""
        if event_id in self.seen:
            return False
        self.seen[event_id] = None
        if len(self.seen) > MAX_SEEN_EVENTS:
            del self.seen[next(iter(self.seen))]
        return True

    @property
    def idle(self) -> bool:
        return self.window is None and not self.pending

    def to_json(self, c: Correlation) -> bytes:
        return orjson.dumps(
            {
                "w": self.window.to_dict(c) if self.window is not None else None,
                "p": [h.to_dict() | {"o": h.offset} for h in self.pending],
                "o": self.max_offset,
                "t": self.max_ts if math.isfinite(self.max_ts) else None,
                "s": list(self.seen),
            }
        )

    @classmethod
    def from_json(cls, c: Correlation, data: bytes) -> GroupState:
        d = orjson.loads(data)
        state = cls()
        w = d.get("w")
        if w is not None:
            state.window = SlidingWindow.from_dict(c, w) if w["k"] == "s" else ClosingWindow.from_dict(c, w)
        state.pending = [RuleHit.from_dict(h, int(h.get("o", -1))) for h in d.get("p") or ()]
        state.max_offset = int(d.get("o", -1))
        t = d.get("t")
        state.max_ts = float(t) if t is not None else -math.inf
        state.seen = dict.fromkeys(d.get("s") or ())
        return state


class CorrelationEngine:
    def __init__(
        self,
        resolution: Resolution,
        *,
        lateness_s: float = 60.0,
        max_groups: int = 200_000,
        chain_inline: bool = True,
        track_changes: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lateness_s < 0:
            raise ValueError("lateness must not be negative")
        self.lateness_s = lateness_s
        self.max_groups = max_groups
        self.chain_inline = chain_inline
        self.track_changes = track_changes  # distributed mode: `take_dirty()` feeds the changelog
        self._clock = clock
        self._by_id = resolution.by_id()
        self._readers = resolution.readers
        self._silent = resolution.silent
        self._groups: dict[str, dict[str, GroupState]] = {cid: {} for cid in self._by_id}
        self._order: dict[str, OrderedDict[str, None]] = {cid: OrderedDict() for cid in self._by_id}
        self._retired: dict[tuple[str, str], GroupState] = {}
        self._heap: list[tuple[tuple[float, str, str], int, RuleHit]] = []
        self._seq = itertools.count()
        self._count = 0
        self.max_seen = -math.inf
        self.watermark = -math.inf
        self._last_arrival = clock()
        self.chained_out: list[RuleHit] = []
        self.dirty: set[tuple[str, str]] = set()
        self.counters: Counter[str] = Counter()

    # ------------------------------------------------------------ input

    @property
    def groups(self) -> int:
        return self._count

    @property
    def correlations(self) -> dict[str, Correlation]:
        return dict(self._by_id)

    def offer(self, hits: Iterable[RuleHit]) -> Output:
        """Take hits (any order within the lateness); return the alerts and repeats they decided."""
        out: Output = []
        for hit in hits:
            self._receive(hit, out)
        self._advance(self.max_seen - self.lateness_s, out)
        return out

    def idle(self) -> Output:
        """Live mode, on a timer: once no hit arrived for `lateness_s`, apply everything buffered."""
        out: Output = []
        quiet = self._clock() - self._last_arrival >= self.lateness_s
        if quiet and (self._heap or self.watermark < self.max_seen):
            self._advance(self.max_seen, out, inclusive=True)
        return out

    def flush(self) -> Output:
        """End of input: apply every buffered hit and decide every open window."""
        out: Output = []
        self._advance(math.inf, out, inclusive=True)
        return out

    def _receive(self, hit: RuleHit, out: Output) -> None:
        c = self._by_id.get(hit.correlation_id)
        if c is None:
            self.counters["unknown_correlation"] += 1
            return
        key = hit.group
        state = self._groups[c.id].get(key) or self._retired.get((c.id, key))
        if state is not None and 0 <= hit.offset <= state.max_offset:
            self.counters["replayed"] += 1
            CORRELATION_REPLAYED_HITS.inc()
            return
        self._last_arrival = self._clock()
        if hit.ts < self.watermark and not hit.chained:
            self.counters["late"] += 1
            CORRELATION_LATE_HITS.labels(c.id).inc()
            log.warning(
                "late rule hit dropped correlation=%s rule=%s event=%s behind_watermark_s=%.1f",
                c.id,
                hit.rule_id,
                hit.event_id,
                self.watermark - hit.ts,
            )
            return
        if state is not None and hit.event_id in state.seen:
            self.counters["duplicate"] += 1
            return
        state = self._state(c, key)
        state.remember(hit.event_id)
        state.max_offset = max(state.max_offset, hit.offset)
        state.max_ts = max(state.max_ts, hit.ts)
        self._touch(c.id, key)
        if hit.ts < self.watermark:  # a chained hit: its order was settled upstream
            self._apply(c, key, state, hit, out)
            return
        state.pending.append(hit)
        heapq.heappush(self._heap, (hit.sort_key(), next(self._seq), hit))
        self.max_seen = max(self.max_seen, hit.ts)

    def _state(self, c: Correlation, key: str) -> GroupState:
        groups = self._groups[c.id]
        state = groups.get(key)
        if state is not None:
            return state
        retired = self._retired.pop((c.id, key), None)
        if self._count >= self.max_groups:
            self._evict(c)
        state = GroupState()
        if retired is not None:
            state.max_offset, state.max_ts, state.seen = retired.max_offset, retired.max_ts, retired.seen
        groups[key] = state
        self._count += 1
        return state

    def _evict(self, c: Correlation) -> None:
        victim = c.id if self._groups[c.id] else max(self._groups, key=lambda cid: len(self._groups[cid]))
        order = self._order[victim]
        key = next(iter(order)) if order else next(iter(self._groups[victim]))
        state = self._groups[victim][key]
        self.counters["overflow"] += 1
        self.counters["overflow_pending_dropped"] += len(state.pending)
        CORRELATION_GROUP_OVERFLOW.labels(victim).inc()
        state.pending.clear()  # their heap entries are skipped on release
        state.window = None
        self._retire(victim, key, state)

    def _retire(self, cid: str, key: str, state: GroupState) -> None:
        self._order[cid].pop(key, None)
        if self._groups[cid].pop(key, None) is not None:
            self._count -= 1
        if state.max_offset >= 0:  # distributed: remember what it received until that is committed
            self._retired[(cid, key)] = state
        self._touch(cid, key)

    def _touch(self, cid: str, key: str) -> None:
        if self.track_changes:
            self.dirty.add((cid, key))

    # ------------------------------------------------------------ event time

    def _advance(self, watermark: float, out: Output, *, inclusive: bool = False) -> None:
        if watermark > self.watermark:
            self.watermark = watermark
        limit = self.watermark
        heap = self._heap
        while heap and (heap[0][0][0] < limit or (inclusive and heap[0][0][0] <= limit)):
            _, _, hit = heapq.heappop(heap)
            c = self._by_id[hit.correlation_id]
            state = self._groups[c.id].get(hit.group)
            if state is None or not _remove(state.pending, hit):
                continue  # its group was dropped by the cap
            self._apply(c, hit.group, state, hit, out)
        self._expire(out, inclusive)

    def _apply(self, c: Correlation, key: str, state: GroupState, hit: RuleHit, out: Output) -> None:
        order = self._order[c.id]
        self._touch(c.id, key)
        if c.eager:
            window = state.window
            if not isinstance(window, SlidingWindow):
                window = state.window = SlidingWindow()
            outcome = window.add(c, hit)
            order[key] = None
            order.move_to_end(key)
            if isinstance(outcome, Fire):
                self._fired(c, key, outcome, out)
            elif isinstance(outcome, Repeat) and c.id not in self._silent:
                out.append(build_repeat(c, key, outcome))
            return
        closing = state.window
        if isinstance(closing, ClosingWindow) and hit.ts > closing.deadline(c):
            self._close(c, key, state, out)
            closing = None
        if not isinstance(closing, ClosingWindow):
            closing = state.window = ClosingWindow(hit.ts)
            order[key] = None
        closing.add(c, hit)

    def _close(self, c: Correlation, key: str, state: GroupState, out: Output) -> None:
        window = state.window
        state.window = None
        self._order[c.id].pop(key, None)
        if isinstance(window, ClosingWindow) and (fire := window.close(c)) is not None:
            self._fired(c, key, fire, out)

    def _expire(self, out: Output, inclusive: bool) -> None:
        limit = self.watermark
        for cid, order in self._order.items():
            c = self._by_id[cid]
            groups = self._groups[cid]
            while order:
                key = next(iter(order))
                state = groups[key]
                window = state.window
                deadline = window.deadline(c) if window is not None else -math.inf
                if deadline > limit or (deadline == limit and not inclusive):
                    break
                self._close(c, key, state, out)
                order.pop(key, None)
                state.window = None
                if state.idle:
                    self._retire(cid, key, state)

    def _fired(self, c: Correlation, key: str, fire: Fire, out: Output) -> None:
        self.counters["fired"] += 1
        if c.id not in self._silent:
            out.append(build_alert(c, key, fire))
        readers = self._readers.get(c.id)
        if not readers:
            return
        hits = chained_hits(
            c, key, fire.last, correlation_alert_id(c.id, key, fire.start), fire.context, readers
        )
        if not self.chain_inline:
            self.chained_out.extend(hits)
            return
        for hit in hits:
            inner = self._by_id[hit.correlation_id]
            self._apply(inner, hit.group, self._state(inner, hit.group), hit, out)

    # ------------------------------------------------------------ distributed state

    def take_dirty(self) -> list[tuple[str, str, bytes]]:
        """(correlation id, group key, state) of every group changed since the last call."""
        out: list[tuple[str, str, bytes]] = []
        for cid, key in sorted(self.dirty):
            state = self._groups[cid].get(key) or self._retired.get((cid, key))
            if state is not None:
                out.append((cid, key, state.to_json(self._by_id[cid])))
        self.dirty.clear()
        return out

    def forget_retired(self, committed_offset: int) -> list[tuple[str, str]]:
        """Retired groups whose every hit is below the committed offset: they can be deleted."""
        done = [k for k, s in self._retired.items() if s.max_offset < committed_offset]
        for k in done:
            del self._retired[k]
        return done

    def restore(self, cid: str, key: str, data: bytes) -> None:
        """Load one group's state from the changelog (before any hit of this partition)."""
        c = self._by_id.get(cid)
        if c is None:
            self.counters["restore_unknown_correlation"] += 1
            return
        try:
            state = GroupState.from_json(c, data)
        except (ValueError, KeyError, TypeError) as exc:  # the rule changed shape since it was saved
            self.counters["restore_failed"] += 1
            log.warning("correlation state not restored correlation=%s group=%s error=%r", cid, key, exc)
            return
        self.max_seen = max(self.max_seen, state.max_ts)
        if state.idle:
            self._retired[(cid, key)] = state
            return
        self._groups[cid][key] = state
        self._count += 1
        for hit in state.pending:
            heapq.heappush(self._heap, (hit.sort_key(), next(self._seq), hit))

    def restored(self) -> None:
        """After `restore()` of a whole partition: windows in deadline order, the watermark back."""
        for cid, groups in self._groups.items():
            c = self._by_id[cid]
            windows = sorted((s.window.deadline(c), k) for k, s in groups.items() if s.window is not None)
            self._order[cid] = OrderedDict((k, None) for _, k in windows)
        self.watermark = max(self.watermark, self.max_seen - self.lateness_s)

    def adopt(self, old: CorrelationEngine) -> None:
        """Take over the groups and buffered hits of correlations whose definition did not change."""
        kept = {cid for cid, c in self._by_id.items() if old._by_id.get(cid) == c}
        for cid in kept:
            self._groups[cid] = old._groups[cid]
            self._order[cid] = old._order[cid]
            self._count += len(self._groups[cid])
        self._retired = {k: s for k, s in old._retired.items() if k[0] in kept}
        for entry in old._heap:
            if entry[2].correlation_id in kept:
                self._heap.append(entry)
        heapq.heapify(self._heap)
        self.max_seen, self.watermark = old.max_seen, old.watermark
        self._last_arrival = old._last_arrival
        self.counters.update(old.counters)

    def stats(self) -> dict[str, Any]:
        return {
            "groups": self._count,
            "buffered": len(self._heap),
            "watermark": self.watermark,
            **self.counters,
        }


def _remove(pending: list[RuleHit], hit: RuleHit) -> bool:
    for i, item in enumerate(pending):
        if item is hit:
            del pending[i]
            return True
    return False


class LiveCorrelation:
    """The engine as the live pipeline uses it: thread-safe, following the rule set's reloads.

    `rules()` returns the current resolution (`DetectionEngine.correlations`); when a reload changed
    it, correlations whose definition is unchanged keep their groups, the others start empty.
    """

    def __init__(self, rules: Callable[[], Resolution], **options: Any) -> None:
        self._rules = rules
        self._options = options
        self._resolution = rules()
        self.engine = CorrelationEngine(self._resolution, **options)
        self._lock = threading.Lock()

    def __call__(self, hits: Sequence[RuleHit]) -> Output:
        with self._lock:
            self._follow()
            return self.engine.offer(hits)

    def idle(self) -> Output:
        with self._lock:
            self._follow()
            return self.engine.idle()

    def flush(self) -> Output:
        with self._lock:
            return self.engine.flush()

    def _follow(self) -> None:
        current = self._rules()
        if current is self._resolution:
            return
        old, self._resolution = self.engine, current
        self.engine = CorrelationEngine(current, **self._options)
        self.engine.adopt(old)
