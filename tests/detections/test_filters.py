"""Sigma filter documents (meta filters) in rule folders, applied to their target rules after a match."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detections.engine import DetectionEngine
from detections.filters import FilterError, compile_filter_yaml
from detections.loader import _pipeline
from tests.detections.conftest import proc_rule, sysmon1

RULE_A = proc_rule("sel:\n    CommandLine|contains: 'alpha'\ncondition: sel")
RULE_B = proc_rule(
    "sel:\n    CommandLine|contains: 'alpha'\ncondition: sel", rule_id="00000000-0000-4000-8000-0000000000b2"
).replace("title: test rule", "title: other rule")
RULE_A_ID = "00000000-0000-4000-8000-000000000001"
FILTER_ID = "00000000-0000-4000-8000-00000000f001"


def filter_doc(
    *,
    rules: str = f"\n    - {RULE_A_ID}",
    selection: str = "Image|endswith: '\\backup.exe'",
    condition: str = "not selection",
    logsource: str = "category: process_creation\n    product: windows",
    extra: str = "",
    filter_id: str = FILTER_ID,
) -> str:
    return f"""\
title: backups are not attacks
id: {filter_id}
logsource:
    {logsource}
filter:
    rules:{rules}
    selection:
        {selection}
    condition: {condition}
{extra}"""


def test_filter_suppresses_its_rule_only_and_counts(make_engine: Any) -> None:
    engine = make_engine(RULE_A, RULE_B, filter_doc())
    backup = sysmon1(CommandLine="run alpha", Image="C:\\Tools\\Backup.exe")
    other = sysmon1(CommandLine="run alpha", Image="C:\\Tools\\evil.exe")
    assert [m.rule.title for m in engine.match(backup)] == ["other rule"]  # B has no filter
    assert sorted(m.rule.title for m in engine.match(other)) == ["other rule", "test rule"]
    assert engine.suppressed_counts() == {FILTER_ID: 1}
    stats = {s.rule_id: s.matches for s in engine.stats()}
    assert stats[RULE_A_ID] == 1  # a suppressed match is not a match of the rule
    [info] = engine.filter_stats()
    assert info["suppressed"] == 1 and info["rules"] == [RULE_A_ID] and info["kind"] == "file"
    assert engine.summary()["filters"] == 1
    assert engine.summary()["filter_unknown_rules"] == []
    assert not any("filter" in reason for reason in engine.skipped)


def test_filter_in_another_folder_than_its_rule(tmp_path: Path) -> None:
    rules, filters = tmp_path / "rules", tmp_path / "filters"
    rules.mkdir()
    filters.mkdir()
    (rules / "a.yml").write_text(RULE_A)
    (filters / "f.yml").write_text(filter_doc())
    engine = DetectionEngine([rules, filters])
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe")) == []
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\other.exe"))


def test_rules_any_applies_within_the_logsource_only(make_engine: Any) -> None:
    linux_rule = """\
title: linux alpha
id: 00000000-0000-4000-8000-0000000000c3
logsource:
    product: linux
    service: sshd
detection:
    keywords:
        - alpha
    condition: keywords
"""
    engine = make_engine(RULE_A, RULE_B, linux_rule, filter_doc(rules=" any"))
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe")) == []
    ssh = {"process.name": "sshd", "message": "alpha from backup.exe"}
    assert [m.rule.title for m in engine.match(ssh)] == ["linux alpha"]
    assert engine.suppressed_counts() == {FILTER_ID: 2}


def test_narrower_logsource_filter_does_not_apply(make_engine: Any) -> None:
    """pySigma's rule: the rule's logsource must lie within the filter's."""
    narrow = filter_doc(logsource="category: process_creation\n    product: windows\n    service: sysmon")
    engine = make_engine(RULE_A, narrow)
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe"))
    [unknown] = engine.summary()["filter_unknown_rules"]
    assert (unknown["rule_id"], unknown["reason"]) == (RULE_A_ID, "rule's logsource outside the filter's")


def test_filter_fields_go_through_the_rules_pipeline(make_engine: Any) -> None:
    """`Image` in a filter means `winlog.event_data.Image`, as in the rule; ECS names stay as they are."""
    ecs = filter_doc(selection="host.name: 'DC01'")
    engine = make_engine(RULE_A, ecs)
    event = sysmon1(CommandLine="alpha")
    assert engine.match({**event, "host.name": "dc01"}) == []
    assert engine.match(event)


def test_unknown_target_is_reported_not_fatal(make_engine: Any) -> None:
    missing = "00000000-0000-4000-8000-00000000dead"
    engine = make_engine(RULE_A, filter_doc(rules=f"\n    - {missing}\n    - {RULE_A_ID}"))
    assert engine.summary()["filter_unknown_rules"] == [
        {
            "filter_id": FILTER_ID,
            "path": engine.filter_stats()[0]["path"],
            "rule_id": missing,
            "reason": "rule not loaded",
        }
    ]
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe")) == []


def test_bad_filters_are_quarantined(make_engine: Any) -> None:
    no_id = filter_doc().replace(f"id: {FILTER_ID}\n", "")
    bad_regex = filter_doc(selection="Image|re: '(?<=a)b'", filter_id="00000000-0000-4000-8000-00000000f002")
    no_rules = filter_doc(rules="", filter_id="00000000-0000-4000-8000-00000000f003").replace(
        "    rules:\n", ""
    )
    engine = make_engine(RULE_A, no_id, bad_regex, no_rules)
    reasons = sorted(q.reason for q in engine.quarantined)
    assert len(reasons) == 3, reasons
    assert all(r.startswith("filter: ") or "rules" in r for r in reasons), reasons
    assert any("no id" in r for r in reasons)
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe"))  # nothing applied


def test_expired_filter_stops_applying(make_engine: Any) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    event = sysmon1(CommandLine="alpha", Image="C:\\backup.exe")
    assert make_engine(RULE_A, filter_doc(extra=f"expires: '{past}'\n")).match(event)
    assert make_engine(RULE_A, filter_doc(extra=f"expires: '{future}'\n")).match(event) == []
    assert make_engine(RULE_A, filter_doc(extra="expires: 2000-01-01\n")).match(event)


def test_filters_survive_the_rule_cache(tmp_path: Path) -> None:
    rules, cache = tmp_path / "rules", tmp_path / "cache"
    rules.mkdir()
    (rules / "a.yml").write_text(RULE_A)
    (rules / "f.yml").write_text(filter_doc())
    DetectionEngine([rules], cache_dir=cache)
    engine = DetectionEngine([rules], cache_dir=cache)
    assert engine.last_reload.recompiled_files == 0
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe")) == []


def test_exceptions_are_installed_beside_file_filters(make_engine: Any) -> None:
    engine = make_engine(RULE_A, filter_doc())
    exception = compile_filter_yaml(
        filter_doc(selection="host.name: ws02", filter_id="00000000-0000-4000-8000-00000000e001"),
        _pipeline(),
        path="exception:e001",
    )
    engine.set_exceptions([exception])
    assert engine.match({**sysmon1(CommandLine="alpha"), "host.name": "WS02"}) == []
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\backup.exe")) == []
    assert engine.suppressed_counts() == {FILTER_ID: 1, "00000000-0000-4000-8000-00000000e001": 1}
    engine.set_exceptions([])
    assert engine.match({**sysmon1(CommandLine="alpha"), "host.name": "WS02"})
    engine.reload()  # counts carry over reloads and exception swaps
    assert engine.suppressed_counts()[FILTER_ID] == 1


def test_compile_filter_yaml_refuses_what_is_not_one_filter() -> None:
    with pytest.raises(FilterError):
        compile_filter_yaml(RULE_A, _pipeline(), path="x")
    with pytest.raises(FilterError):
        compile_filter_yaml(filter_doc(selection="Image|nosuch: x"), _pipeline(), path="x")


def test_explain_names_the_filters_that_drop_a_match(make_engine: Any) -> None:
    engine = make_engine(RULE_A, RULE_B, filter_doc())
    backup = sysmon1(CommandLine="run alpha", Image="C:\\Tools\\Backup.exe")
    found = {r.rule.title: r for r in engine.explain(backup).results}
    assert found["test rule"].matched and found["test rule"].filtered_by == (FILTER_ID,)
    assert found["other rule"].filtered_by == ()
    assert engine.suppressed_counts() == {}  # explaining counts nothing


def test_a_cached_filter_reached_by_another_path_names_that_path(tmp_path: Path) -> None:
    """The cache is keyed by content: a filter file copied elsewhere reuses the compiled filter but
    reports where this copy lives."""
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        (folder / "a.yml").write_text(RULE_A)
        (folder / "f.yml").write_text(filter_doc())
    cache = tmp_path / "cache"
    DetectionEngine([first], cache_dir=cache)
    engine = DetectionEngine([second], cache_dir=cache)
    assert engine.last_reload.recompiled_files == 0
    assert [f["path"] for f in engine.filter_stats()] == [str(second / "f.yml")]
