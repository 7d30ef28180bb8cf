"""The engine's event-time machinery: lateness, eviction, the group cap, idle flush, chained
correlations, and the state a distributed worker persists (replays count nothing twice)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from detections.correlation.engine import CorrelationEngine, CorrelationStats, LiveCorrelation
from detections.correlation.hits import (
    EventJSON,
    RuleHit,
    context_json,
    event_context,
    event_document,
    hits_for_event,
)
from tests.detections.correlation.conftest import BASE_RULES, FAILED, Run, correlation, win

CID = "00000000-0000-4000-8000-00000000c001"
BRUTE_FORCE = correlation(
    "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\ncondition:\n    gte: 3"
)


def _metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_a_hit_later_than_the_lateness_is_dropped_counted_and_logged(
    make_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    before = _metric("soc_correlation_late_hits_total", {"correlation": CID})
    run = Run(make_engine(*BASE_RULES, BRUTE_FORCE), lateness_s=60)
    run.feed([win(4625, 1000, IpAddress="a"), win(4625, 1001, IpAddress="a")])
    run.feed([win(4625, 939, IpAddress="a")])  # 61 s behind the newest: beyond the lateness
    run.feed([win(4625, 941, IpAddress="a")])  # 59 s behind: still counts
    run.flush()
    assert run.engine.counters["late"] == 1
    assert _metric("soc_correlation_late_hits_total", {"correlation": CID}) == before + 1
    assert "late rule hit dropped" in caplog.text
    (alert,) = run.alerts
    assert alert.count == 3 and alert.first_seen is not None and alert.first_seen.second == 41


def test_expired_windows_are_evicted_as_the_watermark_passes_them(make_engine: Any) -> None:
    run = Run(make_engine(*BASE_RULES, BRUTE_FORCE), lateness_s=10)
    run.feed(win(4625, i, IpAddress=f"10.0.{i}.1") for i in range(100))
    assert run.engine.groups == 100
    run.feed([win(4625, 99 + 300 + 11, IpAddress="late-comer")])  # watermark past every window
    assert run.engine.groups == 1
    run.flush()
    assert run.engine.groups == 0
    assert run.engine.dirty == set()  # in process nothing is kept for a changelog


def test_the_group_cap_drops_the_oldest_group_and_counts_it(make_engine: Any) -> None:
    before = _metric("soc_correlation_group_overflow_total", {"correlation": CID})
    run = Run(make_engine(*BASE_RULES, BRUTE_FORCE), lateness_s=0, max_groups=10)
    run.feed(win(4625, i, IpAddress=f"10.0.{i}.1") for i in range(15))
    assert run.engine.groups == 10
    assert run.engine.counters["overflow"] == 5
    assert _metric("soc_correlation_group_overflow_total", {"correlation": CID}) == before + 5
    # the newest groups are kept: they still reach their threshold
    run.feed([win(4625, 20, IpAddress="10.0.14.1"), win(4625, 21, IpAddress="10.0.14.1")]).flush()
    assert len(run.alerts) == 1


def test_idle_flush_raises_the_alert_of_a_stream_that_went_quiet(make_engine: Any) -> None:
    now = [0.0]
    engine = make_engine(*BASE_RULES, BRUTE_FORCE)
    live = LiveCorrelation(lambda: engine.correlations, lateness_s=60, clock=lambda: now[0])
    run = Run(engine)
    hits = [h for e in (win(4625, i, IpAddress="a") for i in range(3)) for h in run.stage.evaluate(e)[1]]
    assert live(hits) == []  # buffered: the watermark is 60 s behind
    now[0] = 30.0
    assert live.idle() == []  # not idle long enough
    now[0] = 61.0
    (alert,) = live.idle()
    assert alert.count == 3  # type: ignore[union-attr]


def test_a_rule_reload_keeps_the_state_of_unchanged_correlations(make_engine: Any) -> None:
    engine = make_engine(*BASE_RULES, BRUTE_FORCE)
    live = LiveCorrelation(lambda: engine.correlations, lateness_s=0)
    run = Run(engine)
    first = [h for e in (win(4625, i, IpAddress="a") for i in range(2)) for h in run.stage.evaluate(e)[1]]
    live(first)
    engine.reload()  # nothing changed on disk, but a new resolution object
    third = run.stage.evaluate(win(4625, 3, IpAddress="a"))[1]
    (alert,) = [a for a in live(third) + live.engine.flush()]
    assert alert.count == 3  # type: ignore[union-attr]


def _hits(run: Run, n: int, start: int = 0, ip: str = "a") -> list[RuleHit]:
    out: list[RuleHit] = []
    for i in range(start, start + n):
        for hit in run.stage.evaluate(win(4625, 10 * i, IpAddress=ip, TargetUserName=f"u{i % 4}"))[1]:
            hit.offset = i
            out.append(hit)
    return out


RESTORED = {
    "sliding-count": BRUTE_FORCE,
    "sliding-distinct": correlation(
        "type: value_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\n"
        "condition:\n    field: TargetUserName\n    gte: 3"
    ),
    "closing-range": correlation(
        "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\n"
        "condition:\n    gt: 2\n    lt: 10"
    ),
    "closing-aggregate": correlation(
        "type: value_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\n"
        "condition:\n    field: TargetUserName\n    lte: 4"
    ),
}


@pytest.mark.parametrize("rule", RESTORED.values(), ids=RESTORED.keys())
def test_state_round_trip_and_replayed_offsets_are_skipped(make_engine: Any, rule: str) -> None:
    """What the correlate worker does after a crash: restore the changelog, replay the input."""
    rules = make_engine(*BASE_RULES, rule)
    run = Run(rules, lateness_s=15)
    hits = _hits(run, 6)
    whole = CorrelationEngine(rules.correlations, lateness_s=15, track_changes=True)
    expected = whole.offer(hits) + whole.flush()
    assert expected

    crashed = CorrelationEngine(rules.correlations, lateness_s=15, track_changes=True)
    out = crashed.offer(hits[:4])
    saved = crashed.take_dirty()
    assert saved and all(cid == CID for cid, _, _ in saved)
    restored = CorrelationEngine(rules.correlations, lateness_s=15, track_changes=True)
    for cid, key, data in saved:
        restored.restore(cid, key, data)
    restored.restored()
    out += restored.offer(hits)  # the uncommitted batch comes again, from its start
    out += restored.flush()
    assert restored.counters["replayed"] == 4
    assert [a.model_dump(exclude={"created_at"}) for a in out] == [
        a.model_dump(exclude={"created_at"}) for a in expected
    ]


def test_retired_groups_are_kept_until_their_offsets_are_committed(make_engine: Any) -> None:
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    run = Run(rules)
    engine = CorrelationEngine(rules.correlations, lateness_s=0, track_changes=True)
    engine.offer(_hits(run, 1, ip="a"))
    engine.take_dirty()
    engine.offer(_hits(run, 1, start=100, ip="b"))  # 1000 s later: group a's window expired
    assert engine.groups == 1
    (retired,) = [d for cid, key, d in engine.take_dirty() if key == '["a"]']
    assert b'"w":null' in retired and b'"o":0' in retired  # a marker: what it received, no window
    engine.offer(_hits(run, 1, start=0, ip="a"))  # a replay of offset 0 is still recognised
    assert engine.counters["replayed"] == 1
    assert engine.forget_retired(0) == []
    assert engine.forget_retired(1) == [(CID, '["a"]')]


def test_a_hits_event_document_stays_json_text_and_reads_as_before(make_engine: Any) -> None:
    """A hit from the detect stage keeps its event as the JSON text the stage made: written as it
    is (on `soc.rulehits`, into a closing window), read only for an alert, and either way the same
    document as a parsed copy gives."""
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    event = win(4625, 0, IpAddress="10.0.0.9", TargetUserName="bob")
    text = event.to_json()
    [hit] = hits_for_event(event, event.flat(), FAILED, rules.correlations.readers[FAILED], text)
    parsed = event_context(event)  # the document as a dict (no JSON text at hand)
    assert isinstance(hit.context["event"], EventJSON)
    assert event_document(hit.context) == orjson.loads(text) == parsed["event"]
    assert context_json(hit.context) == orjson.dumps(parsed)
    assert RuleHit.from_json(hit.to_json()).context == parsed


def test_the_stats_of_two_engines_add_up_field_by_field() -> None:
    """A worker runs one engine per partition and reports their sum (the class may be compiled,
    which has no `__slots__` to walk)."""
    one = CorrelationStats(
        "c", groups=1, buffered=2, hits=3, fired=4, alerts=5, repeats=6, late=7, overflow=8
    )
    two = CorrelationStats("c", groups=10, hits=30, skipped_disabled=9)
    assert one + two == CorrelationStats(
        "c",
        groups=11,
        buffered=2,
        hits=33,
        fired=4,
        alerts=5,
        repeats=6,
        late=7,
        overflow=8,
        skipped_disabled=9,
    )
