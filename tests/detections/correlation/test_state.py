"""The shared rule state applied to correlations in process: a disabled correlation skips its hits
and drops its groups, an enabled one starts empty; its statistics and the process gauges follow."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from detections.correlation.engine import LiveCorrelation
from detections.correlation.hits import RuleHit
from detections.engine import DetectionEngine
from detections.state import MemoryRuleStateStore, RuleWatcher
from tests.detections.correlation.conftest import BASE_RULES, Run, correlation, win

CID = "00000000-0000-4000-8000-00000000c001"
BRUTE_FORCE = correlation(
    "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\ncondition:\n    gte: 3"
)


def _gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"correlation": CID}) or 0.0


def _hits(rules: DetectionEngine, seconds: range, ip: str = "a") -> list[RuleHit]:
    run = Run(rules)
    return [h for s in seconds for h in run.stage.evaluate(win(4625, s, IpAddress=ip))[1]]


def _live(
    rules: DetectionEngine, **options: Any
) -> tuple[LiveCorrelation, RuleWatcher, MemoryRuleStateStore]:
    state = MemoryRuleStateStore()
    watcher = RuleWatcher(rules, state, state_every_s=0)
    live = LiveCorrelation(lambda: rules.correlations, disabled=lambda: rules.disabled, **options)
    return live, watcher, state


def test_a_disabled_correlation_drops_its_groups_skips_hits_and_restarts_empty(make_engine: Any) -> None:
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    live, watcher, state = _live(rules, lateness_s=0)
    assert live(_hits(rules, range(0, 2))) == []  # two of three: a group waits
    assert live.stats()[CID].groups == 1

    state.set_enabled(CID, False, actor="analyst", reason="noisy")
    watcher.tick()  # the runner ticks between batches; the next batch applies it
    assert live(_hits(rules, range(2, 5))) == []  # would have fired at the third
    stats = live.stats()[CID]
    assert (stats.groups, stats.buffered, stats.skipped_disabled, stats.hits) == (0, 0, 3, 2)
    assert live.engine.disabled == {CID}

    state.set_enabled(CID, True, actor="analyst")
    watcher.tick()
    assert live(_hits(rules, range(5, 7))) == []  # starts empty: the two before are gone
    assert live(_hits(rules, range(7, 8))) == []  # buffered until the watermark passes it
    (alert,) = live.flush()
    assert alert.count == 3
    stats = live.stats()[CID]
    assert (stats.hits, stats.alerts, stats.fired) == (5, 1, 1)


def test_disabling_the_base_rule_starves_the_correlation_and_state_survives_a_reload(
    make_engine: Any,
) -> None:
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    live, watcher, state = _live(rules, lateness_s=0)
    state.set_enabled(CID, False, actor="analyst")
    watcher.tick()
    rules.reload()  # a new resolution: the new engine keeps the disabled set
    assert live(_hits(rules, range(0, 3))) == []
    assert live.engine.disabled == {CID} and live.stats()[CID].skipped_disabled == 3


def test_gauges_follow_groups_and_buffered_hits_and_a_discarded_engine_gives_its_share_back(
    make_engine: Any,
) -> None:
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    groups, buffered = _gauge("soc_correlation_groups"), _gauge("soc_correlation_buffered_hits")
    live, watcher, state = _live(rules, lateness_s=60)
    live(_hits(rules, range(0, 2), ip="a") + _hits(rules, range(0, 1), ip="b"))
    assert _gauge("soc_correlation_groups") == groups + 2
    assert _gauge("soc_correlation_buffered_hits") == buffered + 3  # the watermark is 60 s behind
    rules.reload()
    live(_hits(rules, range(1, 2), ip="b"))  # the reloaded engine adopts the groups
    assert _gauge("soc_correlation_groups") == groups + 2
    assert _gauge("soc_correlation_buffered_hits") == buffered + 4
    state.set_enabled(CID, False, actor="analyst")
    watcher.tick()
    live([])
    assert _gauge("soc_correlation_groups") == groups
    assert _gauge("soc_correlation_buffered_hits") == buffered


def test_an_evidence_engine_stays_out_of_the_gauges(make_engine: Any) -> None:
    rules = make_engine(*BASE_RULES, BRUTE_FORCE)
    groups = _gauge("soc_correlation_groups")
    live = LiveCorrelation(lambda: rules.correlations, lateness_s=60, gauges=False)
    live(_hits(rules, range(0, 2)))
    assert live.stats()[CID].groups == 1 and _gauge("soc_correlation_groups") == groups


def test_a_disabled_outer_correlation_gets_no_chained_hits_and_the_inner_one_still_fires(
    make_engine: Any,
) -> None:
    inner = correlation(
        "type: event_count\nrules: failed_logon\ngroup-by: [TargetUserName]\ntimespan: 10m\n"
        "condition:\n    gte: 3",
        rule_id="00000000-0000-4000-8000-00000000c002",
        name="many_failed",
    )
    outer = correlation(
        "type: temporal_ordered\nrules: [many_failed, successful_logon]\n"
        "group-by: [TargetUserName]\ntimespan: 10m"
    )
    rules = make_engine(*BASE_RULES, inner, outer)
    events = [win(4625, n, TargetUserName="bob") for n in range(4)] + [win(4624, 30, TargetUserName="bob")]
    enabled = Run(rules, lateness_s=0).feed(events).flush()
    assert {a.rule.id for a in enabled.alerts} == {CID}  # the inner one feeds the outer only
    rules.apply_state({CID})
    live = LiveCorrelation(lambda: rules.correlations, disabled=lambda: rules.disabled, lateness_s=0)
    run = Run(rules)
    out = live([h for e in events for h in run.stage.evaluate(e)[1]]) + live.flush()
    assert out == []  # generate: false keeps the inner one silent; the outer is off
    stats = live.stats()
    assert stats["00000000-0000-4000-8000-00000000c002"].fired == 1
    assert stats[CID].hits == 0 and stats[CID].skipped_disabled == 1  # the success hit, not a chained one
