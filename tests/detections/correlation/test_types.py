"""Every correlation type, in event time: arrival order within the lateness changes nothing,
window edges are inclusive, missing group-by fields form a `null` group."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.detections.correlation.conftest import (
    BASE_RULES,
    FAILED,
    SUCCESS,
    T0,
    Run,
    correlation,
    shuffled_within,
    win,
)

BRUTE_FORCE = correlation(
    """
type: event_count
rules: failed_logon
group-by: [IpAddress]
timespan: 5m
condition:
    gte: 5
"""
)


def test_event_count_fires_once_per_group_and_window_and_repeats_after(make_engine: Any) -> None:
    events = [win(4625, 10 * i, IpAddress="10.0.0.1", TargetUserName="a") for i in range(7)]
    events += [win(4625, 10 * i, IpAddress="10.0.0.2") for i in range(4)]  # one short
    run = Run(make_engine(*BASE_RULES, BRUTE_FORCE)).feed(events).flush()
    (alert,) = run.alerts
    assert alert.rule.id == "00000000-0000-4000-8000-00000000c001"
    assert alert.rule.name == "test correlation" and alert.severity.value == "high"
    assert alert.first_seen == T0 and alert.timestamp == T0
    assert alert.count == 5 and len(alert.event_ids) == 5
    assert alert.host_name == "dc01" and alert.soc.unit.id == "unit-a"
    assert alert.threat and alert.threat[0].technique is not None
    assert [r.count for r in run.repeats] == [6, 7]
    assert {r.alert_id for r in run.repeats} == {alert.id}
    assert run.summary()[0][3] == 7


@pytest.mark.parametrize("seed", range(5))
def test_arrival_order_within_the_lateness_does_not_change_the_result(make_engine: Any, seed: int) -> None:
    engine = make_engine(*BASE_RULES, BRUTE_FORCE)
    events = [
        win(4625, s, IpAddress=ip)
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3")
        for s in (0, 40, 80, 130, 200, 290, 301, 420, 430, 460, 500, 610, 640, 650, 700)
    ]
    in_order = Run(engine).feed(sorted(events, key=lambda e: e.timestamp)).flush().summary()
    shuffled = Run(engine).feed(shuffled_within(events, 60, seed)).flush().summary()
    assert shuffled == in_order
    assert len(in_order) == 6  # two windows per source address


@pytest.mark.parametrize(
    ("gap", "fires"),
    [(299, True), (300, True), (301, False)],
    ids=["just-inside", "exactly-timespan-apart", "just-outside"],
)
def test_window_edges_include_exactly_timespan_apart(make_engine: Any, gap: int, fires: bool) -> None:
    two = correlation(
        """
type: event_count
rules: failed_logon
group-by: [IpAddress]
timespan: 5m
condition:
    gte: 2
"""
    )
    events = [win(4625, 0, IpAddress="10.0.0.9"), win(4625, gap, IpAddress="10.0.0.9")]
    run = Run(make_engine(*BASE_RULES, two)).feed(events).flush()
    assert len(run.alerts) == (1 if fires else 0)


def test_a_missing_group_by_field_is_its_own_null_group_not_the_empty_string(make_engine: Any) -> None:
    events = [win(4625, i) for i in range(5)]  # no IpAddress at all
    events += [win(4625, i, IpAddress="") for i in range(4)]  # present but empty: another group
    run = Run(make_engine(*BASE_RULES, BRUTE_FORCE)).feed(events).flush()
    (alert,) = run.alerts
    assert alert.count == 5
    hits = run.stage.evaluate(win(4625, 1))[1] + run.stage.evaluate(win(4625, 1, IpAddress=""))[1]
    assert [h.group for h in hits] == ["[null]", '[""]']


def test_value_count_counts_distinct_values_per_group(make_engine: Any) -> None:
    spraying = correlation(
        """
type: value_count
rules: failed_logon
group-by: [IpAddress]
timespan: 10m
condition:
    field: TargetUserName
    gte: 4
"""
    )
    same_user = [win(4625, i, IpAddress="10.0.0.1", TargetUserName="admin") for i in range(20)]
    sprayed = [win(4625, 30 * i, IpAddress="10.0.0.2", TargetUserName=f"user{i % 5}") for i in range(10)]
    run = Run(make_engine(*BASE_RULES, spraying)).feed(shuffled_within(same_user + sprayed, 60, 1)).flush()
    (alert,) = run.alerts
    assert alert.event["winlog"]["event_data"]["IpAddress"] == "10.0.0.2"
    assert alert.first_seen == T0 and alert.count == 4  # user0..user3 at 0, 30, 60, 90 s


def test_value_count_hits_out_of_the_window_are_forgotten(make_engine: Any) -> None:
    spraying = correlation(
        """
type: value_count
rules: failed_logon
group-by: [IpAddress]
timespan: 1m
condition:
    field: TargetUserName
    gte: 3
"""
    )
    slow = [win(4625, 50 * i, IpAddress="10.0.0.3", TargetUserName=f"u{i}") for i in range(6)]
    assert Run(make_engine(*BASE_RULES, spraying)).feed(slow).flush().alerts == []


TEMPORAL = correlation(
    """
type: temporal
rules:
    - failed_logon
    - successful_logon
group-by: [TargetUserName]
timespan: 2m
"""
)


@pytest.mark.parametrize("order", ["success-first", "failure-first"])
def test_temporal_needs_every_rule_in_any_order(make_engine: Any, order: str) -> None:
    first, second = (4624, 4625) if order == "success-first" else (4625, 4624)
    events = [win(first, 0, TargetUserName="bob"), win(second, 100, TargetUserName="bob")]
    events += [win(4625, 0, TargetUserName="eve"), win(4625, 50, TargetUserName="eve")]  # one rule only
    events += [win(4625, 0, TargetUserName="ann"), win(4624, 121, TargetUserName="ann")]  # too far apart
    run = Run(make_engine(*BASE_RULES, TEMPORAL), lateness_s=200).feed(reversed(events)).flush()
    (alert,) = run.alerts
    assert alert.user_name is None and alert.count == 2
    assert set(alert.matched) == {FAILED, SUCCESS}
    assert alert.event["winlog"]["event_data"]["TargetUserName"] == "bob"


ORDERED = correlation(
    """
type: temporal_ordered
rules:
    - failed_logon
    - successful_logon
group-by: [TargetUserName]
timespan: 2m
"""
)


def test_temporal_ordered_needs_the_listed_order_in_event_time(make_engine: Any) -> None:
    events = [win(4625, 10, TargetUserName="bob"), win(4624, 20, TargetUserName="bob")]
    events += [win(4624, 10, TargetUserName="eve"), win(4625, 20, TargetUserName="eve")]  # wrong order
    # arrives success-first, but in event time the failure came first: fires
    events += [win(4624, 40, TargetUserName="ann"), win(4625, 30, TargetUserName="ann")]
    run = Run(make_engine(*BASE_RULES, ORDERED)).feed(events).flush()
    users = sorted(a.event["winlog"]["event_data"]["TargetUserName"] for a in run.alerts)
    assert users == ["ann", "bob"]


def test_failures_followed_by_success_chains_an_event_count_into_temporal_ordered(make_engine: Any) -> None:
    """The specification's example: a correlation of a correlation, by `name`."""
    many_failed = correlation(
        """
type: event_count
rules: failed_logon
group-by: [TargetUserName]
timespan: 10m
condition:
    gte: 3
""",
        rule_id="00000000-0000-4000-8000-00000000c002",
        name="many_failed",
    )
    then_success = correlation(
        """
type: temporal_ordered
rules:
    - many_failed
    - successful_logon
group-by: [TargetUserName]
timespan: 10m
"""
    )
    bob = [win(4625, 10 * i, TargetUserName="bob") for i in range(3)] + [win(4624, 60, TargetUserName="bob")]
    eve = [win(4624, 0, TargetUserName="eve")] + [win(4625, 10 + i, TargetUserName="eve") for i in range(3)]
    run = Run(make_engine(*BASE_RULES, many_failed, then_success)).feed(bob + eve).flush()
    (alert,) = run.alerts  # the inner correlation has generate: false (default): it raises nothing
    assert alert.rule.id == "00000000-0000-4000-8000-00000000c001"
    assert alert.event["winlog"]["event_data"]["TargetUserName"] == "bob"
    assert run.base_alerts == []  # neither base rule generates: both are only referenced


@pytest.mark.parametrize(
    ("kind", "extra", "values", "fires"),
    [
        ("value_sum", "gt: 100", [30, 30, 30, 20], True),
        ("value_sum", "gt: 110", [30, 30, 30, 20], False),
        ("value_avg", "gte: 25", [30, 30, 30, 10], True),
        ("value_avg", "lt: 25", [30, 30, 30, 10], False),
        ("value_median", "eq: 30", [10, 30, 30, 50], True),
        ("value_percentile", "gte: 85\n    percentile: 95", [10, 20, 30, 100], True),
        ("value_percentile", "gte: 85\n    percentile: 50", [10, 20, 30, 100], False),
    ],
)
def test_value_aggregations_are_decided_when_the_window_closes(
    make_engine: Any, kind: str, extra: str, values: list[int], fires: bool
) -> None:
    rule = correlation(
        f"""
type: {kind}
rules: failed_logon
group-by: [IpAddress]
timespan: 5m
condition:
    field: Size
    {extra}
"""
    )
    events = [win(4625, 20 * i, IpAddress="10.0.0.1", Size=v) for i, v in enumerate(values)]
    events.append(win(4625, 30, IpAddress="10.0.0.1", Size="not a number"))  # ignored by the aggregate
    run = Run(make_engine(*BASE_RULES, rule)).feed(events)
    assert run.alerts == []  # undecided while the window is open
    run.flush()
    assert len(run.alerts) == (1 if fires else 0)
    if fires:
        assert run.alerts[0].count == len(values) + 1


def test_lt_and_ranges_are_decided_at_window_close(make_engine: Any) -> None:
    few = correlation(
        """
type: event_count
rules: failed_logon
group-by: [IpAddress]
timespan: 1m
condition:
    gt: 1
    lte: 3
"""
    )
    events = [win(4625, i, IpAddress="10.0.0.1") for i in range(3)]  # 3: in range
    events += [win(4625, i, IpAddress="10.0.0.2") for i in range(5)]  # 5: above
    events += [win(4625, 0, IpAddress="10.0.0.3")]  # 1: below
    events += [win(4625, 200, IpAddress="10.0.0.4")]  # moves the watermark past the first windows
    run = Run(make_engine(*BASE_RULES, few), lateness_s=10).feed(events)
    (alert,) = run.alerts  # decided by the watermark, before any flush
    assert alert.count == 3 and alert.first_seen == T0
    assert alert.last_seen == T0 + timedelta(seconds=2)
    assert run.flush().alerts == [alert]


def test_the_alert_id_is_deterministic_per_rule_group_and_window(make_engine: Any) -> None:
    engine = make_engine(*BASE_RULES, BRUTE_FORCE)
    events = [win(4625, 10 * i, IpAddress="10.0.0.1") for i in range(5)]
    first = Run(engine).feed(events).flush().alerts
    again = Run(engine).feed(events).flush().alerts
    assert [a.id for a in first] == [a.id for a in again] and len(first) == 1
    from soc_core.alert import alert_id

    assert first[0].id == alert_id(first[0].rule.id, f'["10.0.0.1"]|{T0.isoformat()}')
