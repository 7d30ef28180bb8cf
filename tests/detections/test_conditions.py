"""Condition forms: `1 of`/`all of` patterns and `them`, not/and/or precedence, parentheses."""

from __future__ import annotations

from typing import Any

import pytest

from tests.detections.conftest import proc_rule, sysmon1

DETECTIONS = """
selection_a:
    CommandLine|contains: 'alpha'
selection_b:
    CommandLine|contains: 'beta'
filter_x:
    CommandLine|contains: 'xray'
condition: {condition}
"""

EVENTS = {
    "a": sysmon1(CommandLine="alpha"),
    "b": sysmon1(CommandLine="beta"),
    "ab": sysmon1(CommandLine="alpha beta"),
    "ax": sysmon1(CommandLine="alpha xray"),
    "abx": sysmon1(CommandLine="alpha beta xray"),
    "x": sysmon1(CommandLine="xray"),
    "none": sysmon1(CommandLine="nothing"),
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("selection_a", {"a", "ab", "ax", "abx"}),
        ("1 of selection_*", {"a", "b", "ab", "ax", "abx"}),
        ("any of selection_*", {"a", "b", "ab", "ax", "abx"}),
        ("all of selection_*", {"ab", "abx"}),
        ("1 of them", {"a", "b", "ab", "ax", "abx", "x"}),
        ("all of them", {"abx"}),
        ("not selection_a", {"b", "x", "none"}),
        ("selection_a and not filter_x", {"a", "ab"}),
        ("selection_a or selection_b and filter_x", {"a", "ab", "ax", "abx"}),
        ("(selection_a or selection_b) and filter_x", {"ax", "abx"}),
        ("not (selection_a or selection_b)", {"x", "none"}),
        ("1 of selection_* and not 1 of filter_*", {"a", "b", "ab"}),
        ("all of selection_* or filter_x", {"ab", "abx", "ax", "x"}),
    ],
)
def test_condition_forms(make_engine: Any, condition: str, expected: set[str]) -> None:
    engine = make_engine(proc_rule(DETECTIONS.format(condition=condition)))
    assert not engine.quarantined, engine.quarantined
    fired = {name for name, event in EVENTS.items() if engine.match(event)}
    assert fired == expected


def test_match_reports_matched_selections(make_engine: Any) -> None:
    engine = make_engine(proc_rule(DETECTIONS.format(condition="1 of selection_* and not filter_x")))
    (match,) = engine.match(EVENTS["ab"])
    assert match.selections == ("selection_a", "selection_b")
    assert match.rule.title == "test rule"


def test_selection_map_is_and_and_list_of_maps_is_or(make_engine: Any) -> None:
    detection = """
    sel_map:
        Image|endswith: '\\net.exe'
        CommandLine|contains: 'user'
    sel_list:
        - Image|endswith: '\\a.exe'
        - CommandLine|contains: 'zzz'
    condition: sel_map or sel_list
    """
    engine = make_engine(proc_rule(detection))
    assert engine.match(sysmon1(Image="C:\\net.exe", CommandLine="net user"))
    assert not engine.match(sysmon1(Image="C:\\net.exe", CommandLine="net view"))
    assert engine.match(sysmon1(Image="C:\\b.exe", CommandLine="zzz"))
    assert engine.match(sysmon1(Image="C:\\a.exe"))


def test_logsource_dispatch(make_engine: Any) -> None:
    """A process_creation rule never sees Security events or other Sysmon event ids."""
    engine = make_engine(proc_rule("sel:\n    CommandLine|contains: 'alpha'\ncondition: sel"))
    assert engine.match(sysmon1(CommandLine="alpha"))
    assert not engine.match(sysmon1(CommandLine="alpha") | {"event.code": "3"})
    assert not engine.match(sysmon1(CommandLine="alpha") | {"winlog.channel": "Security"})
    assert engine.match(
        sysmon1(CommandLine="alpha") | {"winlog.channel": "microsoft-windows-sysmon/operational"}
    )


def test_explain_lists_selections_without_prefilter(make_engine: Any) -> None:
    engine = make_engine(proc_rule(DETECTIONS.format(condition="all of selection_*")))
    explanation = engine.explain(EVENTS["a"])
    assert explanation.dispatched == 1
    (result,) = explanation.results
    assert result.matched is False
    assert result.selections == {"selection_a": True, "selection_b": False, "filter_x": False}
    assert engine.explain(EVENTS["none"]).results == []
    assert len(engine.explain(EVENTS["none"], include_unmatched=True).results) == 1
