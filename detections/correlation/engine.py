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

State. `apply_state(disabled)` (the shared rule state, applied between batches) stops a correlation:
its hits are skipped and counted, and its groups and buffered hits are dropped at once (retired,
so the distributed changelog deletes them), so it starts empty when enabled again. Per correlation,
`correlation_stats()` gives the groups and hits held and the hits, alerts and late hits since
start; the gauges `soc_correlation_groups` and `soc_correlation_buffered_hits` follow the held
counts of every engine of the process (`release()` takes a discarded engine's share back).

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
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson

from detections.correlation.alerts import build_alert, build_repeat, correlation_alert_id
from detections.correlation.hits import RuleHit, chained_hits, context_json
from detections.correlation.model import Correlation
from detections.correlation.resolve import Resolution
from detections.correlation.windows import ClosingWindow, Fire, Repeat, SlidingWindow
from soc_core.alert import Alert, AlertRepeat
from soc_core.metrics import (
    CORRELATION_BUFFERED_HITS,
    CORRELATION_GROUP_OVERFLOW,
    CORRELATION_GROUPS,
    CORRELATION_LATE_HITS,
    CORRELATION_REPLAYED_HITS,
)

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
        return context_json(  # pending hits hold their contexts
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


@dataclass(frozen=True, slots=True)
class CorrelationStats:
    """One correlation in one engine: what it holds now, and what it did since the engine started."""

    correlation_id: str
    groups: int = 0
    buffered: int = 0
    hits: int = 0
    fired: int = 0
    alerts: int = 0
    repeats: int = 0
    late: int = 0
    overflow: int = 0
    skipped_disabled: int = 0

    def __add__(self, other: CorrelationStats) -> CorrelationStats:
        """Two engines' stats of one correlation (a worker runs one engine per partition)."""
        names = [f.name for f in fields(self) if f.name != "correlation_id"]  # compiled: no __slots__
        return CorrelationStats(self.correlation_id, *(getattr(self, n) + getattr(other, n) for n in names))


class CorrelationEngine:
    def __init__(
        self,
        resolution: Resolution,
        *,
        lateness_s: float = 60.0,
        max_groups: int = 200_000,
        chain_inline: bool = True,
        track_changes: bool = False,
        gauges: bool = True,
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
        self._disabled: frozenset[str] = frozenset()
        self._per: dict[str, Counter[str]] = {cid: Counter() for cid in self._by_id}
        self._buffered: Counter[str] = Counter()  # heap entries per correlation
        self.gauges = gauges  # False: a one-off engine (an evidence upload) the gauges leave out
        self._reported: dict[str, tuple[int, int]] = {}  # what this engine added to the gauges
        self._changed: set[str] = set()  # correlations whose held counts moved since `_report`
        self._children: dict[str, tuple[Any, Any]] = {}  # the labelled gauges, looked up once

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
        self._report()
        return out

    def idle(self) -> Output:
        """Live mode, on a timer: once no hit arrived for `lateness_s`, apply everything buffered."""
        out: Output = []
        quiet = self._clock() - self._last_arrival >= self.lateness_s
        if quiet and (self._heap or self.watermark < self.max_seen):
            self._advance(self.max_seen, out, inclusive=True)
        self._report()
        return out

    def flush(self) -> Output:
        """End of input: apply every buffered hit and decide every open window."""
        out: Output = []
        self._advance(math.inf, out, inclusive=True)
        self._report()
        return out

    def _receive(self, hit: RuleHit, out: Output) -> None:
        c = self._by_id.get(hit.correlation_id)
        if c is None:
            self.counters["unknown_correlation"] += 1
            return
        if c.id in self._disabled:
            self.counters["disabled"] += 1
            self._per[c.id]["skipped_disabled"] += 1
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
            self._per[c.id]["late"] += 1
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
        self._per[c.id]["hits"] += 1
        state = self._state(c, key)
        state.remember(hit.event_id)
        state.max_offset = max(state.max_offset, hit.offset)
        state.max_ts = max(state.max_ts, hit.ts)
        self._touch(c.id, key)
        if hit.ts < self.watermark:  # a chained hit: its order was settled upstream
            self._apply(c, key, state, hit, out)
            return
        state.pending.append(hit)
        self._push(hit)
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
        self._changed.add(c.id)
        return state

    def _evict(self, c: Correlation) -> None:
        victim = c.id if self._groups[c.id] else max(self._groups, key=lambda cid: len(self._groups[cid]))
        order = self._order[victim]
        key = next(iter(order)) if order else next(iter(self._groups[victim]))
        state = self._groups[victim][key]
        self.counters["overflow"] += 1
        self._per[victim]["overflow"] += 1
        self.counters["overflow_pending_dropped"] += len(state.pending)
        CORRELATION_GROUP_OVERFLOW.labels(victim).inc()
        state.pending.clear()  # their heap entries are skipped on release
        state.window = None
        self._retire(victim, key, state)

    def _retire(self, cid: str, key: str, state: GroupState) -> None:
        self._order[cid].pop(key, None)
        if self._groups[cid].pop(key, None) is not None:
            self._count -= 1
            self._changed.add(cid)
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
            self._buffered[hit.correlation_id] -= 1
            self._changed.add(hit.correlation_id)
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
                self._per[c.id]["repeats"] += 1
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
        if limit == -math.inf and not inclusive:
            # No window closes before the first watermark (a deadline is a time, or -inf for a
            # state without a window, which only an inclusive advance closes). Offline, with the
            # whole input as lateness, that is every offer until the flush: not a walk over every
            # correlation's windows per event that hits one.
            return
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
        self._per[c.id]["fired"] += 1
        if c.id not in self._silent:
            self._per[c.id]["alerts"] += 1
            out.append(build_alert(c, key, fire))
        readers = [r for r in self._readers.get(c.id, ()) if r.id not in self._disabled]
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
        if cid in self._disabled:  # disabled since it was saved: keep only what it received
            state.window, state.pending = None, []
            self._touch(cid, key)
        if state.idle:
            self._retired[(cid, key)] = state
            return
        self._groups[cid][key] = state
        self._count += 1
        self._changed.add(cid)
        for hit in state.pending:
            self._push(hit)

    def restored(self) -> None:
        """After `restore()` of a whole partition: windows in deadline order, the watermark back."""
        for cid, groups in self._groups.items():
            c = self._by_id[cid]
            windows = sorted((s.window.deadline(c), k) for k, s in groups.items() if s.window is not None)
            self._order[cid] = OrderedDict((k, None) for _, k in windows)
        self.watermark = max(self.watermark, self.max_seen - self.lateness_s)
        self._report()

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
                self._buffered[entry[2].correlation_id] += 1
        heapq.heapify(self._heap)
        self.max_seen, self.watermark = old.max_seen, old.watermark
        self._last_arrival = old._last_arrival
        self.counters.update(old.counters)
        self._disabled = old._disabled
        for cid in self._per:
            self._per[cid].update(old._per.get(cid, ()))
        old.release()
        self._changed.update(self._groups)
        self._report()

    # ------------------------------------------------------------ state, statistics

    @property
    def disabled(self) -> frozenset[str]:
        return self._disabled

    def apply_state(self, disabled: Collection[str]) -> list[str]:
        """Make exactly `disabled` the disabled ids (rules and correlations of the shared state);
        returns the loaded correlations whose state changed. A correlation disabled here loses its
        groups and buffered hits: the hits it skips while disabled would make any kept window wrong."""
        wanted = frozenset(disabled)
        # not `frozenset & dict.keys()`: that is a set at run time, which compiled code refuses
        changed = sorted(cid for cid in wanted ^ self._disabled if cid in self._by_id)
        self._disabled = wanted
        for cid in changed:
            if cid in wanted:
                self._drop(cid)
        if changed:
            log.info(
                "correlation state applied changed=%d disabled=%d",
                len(changed),
                sum(1 for cid in wanted if cid in self._by_id),
            )
            self._report()
        return changed

    def _drop(self, cid: str) -> None:
        for key, state in list(self._groups[cid].items()):
            state.pending.clear()
            state.window = None
            self._retire(cid, key, state)
        self._changed.add(cid)
        if self._buffered.pop(cid, 0):
            self._heap = [e for e in self._heap if e[2].correlation_id != cid]
            heapq.heapify(self._heap)

    def _push(self, hit: RuleHit) -> None:
        heapq.heappush(self._heap, (hit.sort_key(), next(self._seq), hit))
        self._buffered[hit.correlation_id] += 1
        self._changed.add(hit.correlation_id)

    def correlation_stats(self) -> dict[str, CorrelationStats]:
        """Per correlation: groups and hits held now, hits, alerts, repeats, late hits since start."""
        return {
            cid: CorrelationStats(
                cid,
                groups=len(self._groups[cid]),
                buffered=self._buffered[cid],
                hits=per["hits"],
                fired=per["fired"],
                alerts=per["alerts"],
                repeats=per["repeats"],
                late=per["late"],
                overflow=per["overflow"],
                skipped_disabled=per["skipped_disabled"],
            )
            for cid, per in self._per.items()
        }

    def _report(self) -> None:
        """Bring this engine's share of the process gauges to what it holds now."""
        changed, self._changed = self._changed, set()
        if not self.gauges:
            return
        for cid in changed:
            now = (len(self._groups[cid]), self._buffered[cid])
            before = self._reported.get(cid, (0, 0))
            if now != before:
                children = self._children.get(cid)
                if children is None:
                    children = self._children[cid] = (
                        CORRELATION_GROUPS.labels(cid),
                        CORRELATION_BUFFERED_HITS.labels(cid),
                    )
                children[0].inc(now[0] - before[0])
                children[1].inc(now[1] - before[1])
                self._reported[cid] = now

    def release(self) -> None:
        """This engine is discarded (a reload replaced it, its partition was revoked): take its
        share out of the gauges."""
        for cid, (groups, buffered) in self._reported.items():
            CORRELATION_GROUPS.labels(cid).dec(groups)
            CORRELATION_BUFFERED_HITS.labels(cid).dec(buffered)
        self._reported = {}

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

    def __init__(
        self,
        rules: Callable[[], Resolution],
        *,
        disabled: Callable[[], Collection[str]] | None = None,
        **options: Any,
    ) -> None:
        self._rules = rules
        self._disabled = disabled
        self._options = options
        self._resolution = rules()
        self.engine = CorrelationEngine(self._resolution, **options)
        self._lock = threading.Lock()
        if disabled is not None:
            self.engine.apply_state(disabled())

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

    def stats(self) -> dict[str, CorrelationStats]:
        with self._lock:
            return self.engine.correlation_stats()

    def _follow(self) -> None:
        """Between batches: a new rule set (reload), then the shared state (`RuleWatcher` keeps the
        detection engine's disabled ids current; `disabled` reads them)."""
        current = self._rules()
        if current is not self._resolution:
            old, self._resolution = self.engine, current
            self.engine = CorrelationEngine(current, **self._options)
            self.engine.adopt(old)
        if self._disabled is not None:
            wanted = self._disabled()
            if wanted != self.engine.disabled:
                self.engine.apply_state(wanted)
