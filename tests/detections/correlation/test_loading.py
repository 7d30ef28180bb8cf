"""Correlation documents: parsed per file and cached, resolved over the whole rule set, field names
through the base rule's pipeline, bad ones quarantined with the reason, `generate` honoured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detections.engine import DetectionEngine
from tests.detections.correlation.conftest import BASE_RULES, FAILED, SHARE, SUCCESS, Run, correlation, win

#: The start of an event_count body over failed logons, per source address, five minutes.
COUNT = "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 5m\n"
TWO_RULES = "rules: [failed_logon, successful_logon]\ngroup-by: [X]\ntimespan: 5m\n"


def _only(engine: DetectionEngine) -> Any:
    (c,) = engine.correlations.correlations
    return c


def test_references_by_id_and_name_across_files_and_fields_mapped_like_the_base_rule(
    make_engine: Any,
) -> None:
    rule = correlation(
        f"""
type: value_count
rules:
    - {FAILED}
    - successful_logon
group-by: [IpAddress, source.ip]
timespan: 1h
condition:
    field: TargetUserName
    gte: 10
"""
    )
    engine = make_engine(*BASE_RULES, rule)
    c = _only(engine)
    assert [s.rule_id for s in c.sources] == [FAILED, SUCCESS]
    assert c.sources[0].group_fields == (("winlog.event_data.IpAddress",), ("source.ip",))
    assert c.sources[0].value_fields == ("winlog.event_data.TargetUserName",)
    assert engine.quarantined == [] and engine.summary()["correlations"] == 1


def test_aliases_map_each_rule_to_its_own_field(make_engine: Any) -> None:
    rule = correlation(
        """
type: temporal
rules: [failed_logon, share_access]
group-by: [address]
timespan: 5m
aliases:
    address:
        failed_logon: IpAddress
        share_access: source.ip
"""
    )
    engine = make_engine(*BASE_RULES, rule)
    c = _only(engine)
    assert [s.group_fields for s in c.sources] == [(("winlog.event_data.IpAddress",),), (("source.ip",),)]
    events = [win(4625, 0, IpAddress="10.1.1.1"), win(5140, 10, IpAddress="x")]
    share = events[1].to_doc() | {"source": {"ip": "10.1.1.1"}}
    from soc_core.event import Event

    events[1] = Event.from_doc(share)
    run = Run(engine).feed(events).flush()
    (alert,) = run.alerts
    assert set(alert.matched) == {FAILED, SHARE}


def test_a_range_condition_is_kept_whole(make_engine: Any) -> None:
    rule = correlation(COUNT + "condition:\n    gt: 100\n    lte: 200")
    c = _only(make_engine(*BASE_RULES, rule))
    assert c.condition.bounds == (("gt", 100), ("lte", 200))
    assert not c.eager


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            COUNT.replace("failed_logon", "no_such_rule") + "condition:\n    gte: 3",
            "no_such_rule",
        ),
        (
            "type: temporal\n" + TWO_RULES + "condition: failed_logon and not successful_logon",
            "`not`",
        ),
        (
            "type: temporal_ordered\n" + TWO_RULES + "condition:\n    gte: 1",
            "default condition",
        ),
        (
            COUNT.replace("event_count", "value_percentile")
            + "condition:\n    field: Size\n    gte: 1\n    percentile: 120",
            "percentile",
        ),
    ],
    ids=["unresolvable", "temporal-not", "partial-ordered", "bad-percentile"],
)
def test_unsupported_correlations_are_quarantined_with_the_reason(
    make_engine: Any, body: str, reason: str
) -> None:
    engine = make_engine(*BASE_RULES, correlation(body))
    assert engine.correlations.correlations == []
    (q,) = engine.quarantined
    assert q.rule_id == "00000000-0000-4000-8000-00000000c001" and reason in q.reason
    assert q.reason.startswith("correlation: ")
    assert len(engine.rules) == 3  # the base rules load regardless, and generate again
    assert engine.correlations.silent == frozenset()


def test_a_correlation_of_a_quarantined_correlation_is_quarantined_too(make_engine: Any) -> None:
    inner = correlation(
        COUNT.replace("failed_logon", "missing") + "condition:\n    gte: 3",
        rule_id="00000000-0000-4000-8000-00000000c002",
        name="inner",
    )
    outer = correlation("type: temporal\nrules: [inner, failed_logon]\ngroup-by: [X]\ntimespan: 5m")
    engine = make_engine(*BASE_RULES, inner, outer)
    assert sorted(q.rule_id or "" for q in engine.quarantined) == [
        "00000000-0000-4000-8000-00000000c001",
        "00000000-0000-4000-8000-00000000c002",
    ]


def test_generate_false_silences_the_base_rule_and_generate_true_keeps_it(make_engine: Any) -> None:
    quiet = correlation(COUNT + "condition:\n    gte: 2")
    loud = correlation(
        COUNT.replace("failed_logon", "successful_logon") + "condition:\n    gte: 2\ngenerate: true",
        rule_id="00000000-0000-4000-8000-00000000c002",
    )
    engine = make_engine(*BASE_RULES, quiet, loud)
    assert engine.correlations.silent == frozenset({FAILED})
    run = Run(engine).feed([win(4625, 0, IpAddress="a"), win(4624, 0, IpAddress="a"), win(5140, 0)])
    assert sorted(a.rule.id for a in run.base_alerts) == [SUCCESS, SHARE]


def test_correlations_are_cached_with_their_file(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    for i, text in enumerate(
        (
            *BASE_RULES,
            correlation(COUNT + "condition:\n    gte: 2"),
        )
    ):
        (folder / f"r{i}.yml").write_text(text)
    first = DetectionEngine.from_folders([folder], cache_dir=tmp_path / "cache")
    second = DetectionEngine.from_folders([folder], cache_dir=tmp_path / "cache")
    assert second.last_reload.recompiled_files == 0
    assert second.correlations.correlations == first.correlations.correlations != []


def test_one_file_with_the_correlation_and_its_rules_as_in_the_specification(make_engine: Any) -> None:
    text = "---\n".join(
        (
            correlation(COUNT + "condition:\n    gte: 2"),
            *BASE_RULES,
        )
    )
    engine = make_engine(text)
    assert len(engine.rules) == 3 and len(engine.correlations.correlations) == 1
