"""Quarantine, skipping, the on-disk cache, reload and enable/disable."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

import pytest

from detections.engine import DetectionEngine
from detections.matchers import EventView, Node
from soc_core.errors import DetectionError
from tests.detections.conftest import SIGMA, proc_rule, sysmon1

GOOD = proc_rule("sel:\n    CommandLine|contains: 'alpha'\ncondition: sel")


def test_bad_rules_are_quarantined_and_never_stop_the_others(make_engine: Any) -> None:
    bad_yaml = "title: broken\n  detection: [unclosed\n"
    bad_regex = proc_rule(
        "sel:\n    CommandLine|re: '(?<=a)b'\ncondition: sel", rule_id="00000000-0000-4000-8000-000000000002"
    )
    bad_modifier = proc_rule(
        "sel:\n    CommandLine|nosuch: 'x'\ncondition: sel", rule_id="00000000-0000-4000-8000-000000000003"
    )
    bad_condition = proc_rule(
        "sel:\n    CommandLine: 'x'\ncondition: sel and missing",
        rule_id="00000000-0000-4000-8000-000000000004",
    )
    engine = make_engine(GOOD, bad_yaml, bad_regex, bad_modifier, bad_condition)
    assert [r.title for r in engine.rules] == ["test rule"]
    assert engine.match(sysmon1(CommandLine="alpha"))
    reasons = {Path(q.path).name: q.reason for q in engine.quarantined}
    assert len(reasons) == 4
    assert "YAML" in reasons["rule1.yml"] or "Error" in reasons["rule1.yml"]
    assert "RE2" in reasons["rule2.yml"] and "(?<=" in reasons["rule2.yml"]
    assert "nosuch" in reasons["rule3.yml"]
    assert "missing" in reasons["rule4.yml"]
    quarantined_regex = next(q for q in engine.quarantined if q.path.endswith("rule2.yml"))
    assert quarantined_regex.rule_id == "00000000-0000-4000-8000-000000000002"
    assert quarantined_regex.title == "test rule"


def test_duplicate_and_missing_ids_are_quarantined(make_engine: Any) -> None:
    no_id = GOOD.replace("id: 00000000-0000-4000-8000-000000000001\n", "")
    engine = make_engine(GOOD, GOOD, no_id)
    assert len(engine.rules) == 1
    reasons = sorted(q.reason for q in engine.quarantined)
    assert any("duplicate rule id" in r for r in reasons)
    assert any("no id" in r for r in reasons)


def test_deprecated_and_unsupported_are_skipped_and_counted_correlations_loaded(make_engine: Any) -> None:
    deprecated = GOOD.replace("status: test", "status: deprecated").replace("0001", "0005")
    unsupported = GOOD.replace("status: test", "status: unsupported").replace("0001", "0006")
    correlation = """\
title: many alphas
id: 00000000-0000-4000-8000-000000000007
correlation:
    type: event_count
    rules:
        - 00000000-0000-4000-8000-000000000001
    group-by:
        - host.name
    timespan: 5m
    condition:
        gte: 10
"""
    engine = make_engine(GOOD, deprecated, unsupported, correlation)
    assert len(engine.rules) == 1
    assert engine.skipped["status deprecated"] == 1
    assert engine.skipped["status unsupported"] == 1
    assert [c.id for c in engine.correlations.correlations] == ["00000000-0000-4000-8000-000000000007"]
    assert engine.quarantined == []


def test_unmapped_logsource_is_dormant(make_engine: Any) -> None:
    cloud = GOOD.replace(
        "    category: process_creation\n    product: windows", "    product: aws\n    service: cloudtrail"
    )
    engine = make_engine(cloud)
    (info,) = engine.rules
    assert info.dormant is not None and "aws" in info.dormant
    assert engine.summary()["dormant"] == 1
    assert not engine.match(sysmon1(CommandLine="alpha"))


def test_cache_round_trip(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(GOOD)
    cache = tmp_path / "cache"
    first = DetectionEngine.from_folders([rules], cache_dir=cache)
    assert first.last_reload.recompiled_files == 1
    assert list(cache.glob("rules-*.pickle"))
    second = DetectionEngine.from_folders([rules], cache_dir=cache)
    assert second.last_reload.recompiled_files == 0
    assert [r.to_dict() for r in second.rules] == [r.to_dict() for r in first.rules]
    assert second.match(sysmon1(CommandLine="alpha"))[0].selections == ("sel",)
    assert not second.match(sysmon1(CommandLine="beta"))


def test_cache_is_keyed_by_content_not_path_spelling(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(GOOD)
    (rules / "broken.yml").write_text("title: [unclosed")
    (tmp_path / "sub").mkdir()
    cache = tmp_path / "cache"
    first = DetectionEngine.from_folders([rules], cache_dir=cache)
    assert first.last_reload.recompiled_files == 2
    other_spelling = tmp_path / "sub" / ".." / "rules"  # as `../shared/data/sigma` vs an absolute path
    second = DetectionEngine.from_folders([other_spelling], cache_dir=cache)
    assert second.last_reload.recompiled_files == 0
    assert second.rules[0].path == str(other_spelling / "a.yml")
    assert [q.path for q in second.quarantined] == [str(other_spelling / "broken.yml")]
    copy = tmp_path / "elsewhere"  # the same content in another folder: also warm, its own paths
    copy.mkdir()
    (copy / "a.yml").write_text(GOOD)
    third = DetectionEngine.from_folders([copy], cache_dir=cache)
    assert third.last_reload.recompiled_files == 0
    assert (third.rules[0].path, third.rules[0].ruleset) == (str(copy / "a.yml"), "elsewhere")
    assert first.rules[0].path == str(rules / "a.yml")  # the cached entry itself is not rewritten
    back = DetectionEngine.from_folders([rules], cache_dir=cache)  # the set before is kept too
    assert back.last_reload.recompiled_files == 0
    (rules / "a.yml").write_text(GOOD.replace("alpha", "gamma"))
    assert DetectionEngine.from_folders([rules], cache_dir=cache).last_reload.recompiled_files == 1


def test_cache_keeps_the_last_two_rule_sets(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folders = {}
    for name in ("a", "b", "c"):
        folders[name] = tmp_path / name
        folders[name].mkdir()
        (folders[name] / f"{name}.yml").write_text(GOOD.replace("alpha", name + "x"))

    def recompiled(name: str) -> int:
        return DetectionEngine.from_folders([folders[name]], cache_dir=cache).last_reload.recompiled_files

    assert [recompiled(n) for n in ("a", "b", "a", "b", "c", "b", "a")] == [1, 1, 0, 0, 1, 0, 1]


def test_two_copies_of_one_file_are_still_two_files(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.yml").write_text(GOOD)
    engine = DetectionEngine.from_folders([tmp_path / "one", tmp_path / "two"])
    assert [r.path for r in engine.rules] == [str(tmp_path / "one" / "a.yml")]
    (dup,) = engine.quarantined
    assert dup.path == str(tmp_path / "two" / "a.yml") and "duplicate rule id" in dup.reason


EVERY_NODE = proc_rule(
    """
    needles:
        CommandLine|contains: [n1x, n2x, n3x, n4x, n5x, n6x, n7x, n8x]
    shapes:
        CommandLine|re: 'evil[0-9]+'
        Image: ['*\\to?l.exe', '*\\a*b*.exe']
    net:
        SourceIp|cidr: 10.0.0.0/8
    numbers:
        ProcessId|gt: 100
    condition: needles or (shapes and not net and numbers)
    """
)


def test_every_node_kind_survives_the_cache(tmp_path: Path) -> None:
    """Nodes pickle as constructor calls: regexes, the automaton and networks are rebuilt on load."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(EVERY_NODE)
    events = [
        sysmon1(CommandLine="run n7x now"),
        sysmon1(CommandLine="evil42", Image="C:\\t\\tool.exe", SourceIp="192.0.2.1", ProcessId="4242"),
        sysmon1(CommandLine="evil42", Image="C:\\t\\axxb.exe", SourceIp="192.0.2.1", ProcessId="4242"),
        sysmon1(CommandLine="evil42", Image="C:\\t\\tool.exe", SourceIp="10.1.2.3", ProcessId="4242"),
        sysmon1(CommandLine="evil42", Image="C:\\t\\tool.exe", SourceIp="192.0.2.1", ProcessId="7"),
        sysmon1(CommandLine="good", Image="C:\\t\\tool.exe", SourceIp="192.0.2.1", ProcessId="4242"),
    ]
    fresh = DetectionEngine.from_folders([rules], cache_dir=tmp_path / "cache")
    cached = DetectionEngine.from_folders([rules], cache_dir=tmp_path / "cache")
    assert cached.last_reload.recompiled_files == 0
    expected = [True, True, True, False, False, False]
    assert [bool(fresh.match(e)) for e in events] == expected
    assert [bool(cached.match(e)) for e in events] == expected


def test_corrupted_cache_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(GOOD)
    cache = tmp_path / "cache"
    DetectionEngine.from_folders([rules], cache_dir=cache)
    (cache_file,) = cache.glob("rules-*.pickle")
    cache_file.write_bytes(b"\x80\x05garbage")
    with caplog.at_level(logging.WARNING):
        engine = DetectionEngine.from_folders([rules], cache_dir=cache)
    assert "rule cache corrupt" in caplog.text
    assert engine.last_reload.recompiled_files == 1
    assert engine.match(sysmon1(CommandLine="alpha"))
    assert DetectionEngine.from_folders([rules], cache_dir=cache).last_reload.recompiled_files == 0


def test_reload_picks_up_changed_added_and_removed_files(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(GOOD)
    engine = DetectionEngine.from_folders([rules])
    assert engine.match(sysmon1(CommandLine="alpha"))
    (rules / "a.yml").write_text(GOOD.replace("'alpha'", "'gamma'"))
    other = proc_rule(
        "sel:\n    CommandLine|contains: 'delta'\ncondition: sel",
        rule_id="00000000-0000-4000-8000-0000000000d1",
    )
    (rules / "b.yml").write_text(other)
    report = engine.reload()
    assert report.recompiled_files == 2
    assert report.added == ["00000000-0000-4000-8000-0000000000d1"]
    assert not engine.match(sysmon1(CommandLine="alpha"))
    assert engine.match(sysmon1(CommandLine="gamma"))
    assert engine.match(sysmon1(CommandLine="delta"))
    (rules / "b.yml").unlink()
    assert engine.reload().removed == ["00000000-0000-4000-8000-0000000000d1"]
    assert engine.reload().recompiled_files == 0


def test_enable_disable_survives_reload(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(GOOD)
    engine = DetectionEngine.from_folders([rules])
    rule_id = engine.rules[0].id
    engine.disable(rule_id)
    assert not engine.match(sysmon1(CommandLine="alpha"))
    assert engine.rule(rule_id).enabled is False
    engine.reload()
    assert not engine.match(sysmon1(CommandLine="alpha"))
    engine.enable(rule_id)
    assert engine.match(sysmon1(CommandLine="alpha"))
    with pytest.raises(DetectionError) as info:
        engine.disable("no-such-rule")
    assert info.value.context["rule_id"] == "no-such-rule"


def test_missing_folder_is_a_detection_error(tmp_path: Path) -> None:
    with pytest.raises(DetectionError) as info:
        DetectionEngine.from_folders([tmp_path / "nope"])
    assert info.value.context["path"].endswith("nope")


def test_stats_count_matches_and_errors_stay_visible(
    make_engine: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(GOOD)
    engine.match(sysmon1(CommandLine="alpha"))
    engine.match(sysmon1(CommandLine="alpha beta"))
    engine.match(sysmon1(CommandLine="gamma"))
    (stats,) = engine.stats()
    assert (stats.matches, stats.errors) == (2, 0)
    assert stats.evaluations >= 2 and stats.seconds >= 0

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    assert engine.match(sysmon1(CommandLine=Boom())) == []  # odd values are total: no error at all

    class Broken:  # not a Node subclass: the compiled (mypyc) node classes take no Python subclasses
        def match(self, view: EventView) -> bool:
            raise RuntimeError("boom")

    engine._conditions[0] = cast(Node, Broken())  # a matcher bug inside one rule
    with caplog.at_level(logging.WARNING):
        assert engine.match(sysmon1(CommandLine="alpha")) == []
        assert engine.match(sysmon1(CommandLine="alpha")) == []
    (stats,) = engine.stats()
    assert stats.errors == 2 and "boom" in (stats.last_error or "")
    assert caplog.text.count("rule raised while matching") == 1  # logged once per rule, counted always


def test_antivirus_category_routes_to_malware_events() -> None:
    """SigmaHQ's `category: antivirus` rules (Signature = the vendor's threat name) reach Defender,
    Kaspersky and FortiGate detections, normalized from their golden samples, and nothing else."""
    from normalizers.stage import NormalizeStage
    from soc_core.event import Event
    from soc_core.records import RawRecord

    engine = DetectionEngine.from_folders([SIGMA / "rules" / "category" / "antivirus"])
    assert engine.rules and all(r.dormant is None for r in engine.rules)
    golden = Path(__file__).resolve().parents[1] / "normalizers"
    stage = NormalizeStage()

    def fired(sample: str, fmt: str) -> set[str]:
        raw = (golden / f"{sample}.raw").read_text(encoding="utf-8").strip()
        event = stage(RawRecord(id="x", source_id="golden", format=fmt, payload=raw))
        assert isinstance(event, Event)
        return {m.rule.title for m in engine.match(event.flat())}

    # Defender 1116 "Trojan:PowerShell/Powersploit.M": the hack-tool signature rule
    assert "Antivirus - Hacktool Signature" in fired("evtx_json/defender_1116_malware_detected", "evtx_json")
    # not malware events: a Security logon and a FortiGate allowed session
    assert fired("evtx_json/security_4624_remote_interactive", "evtx_json") == set()
    assert fired("fortigate/traffic_forward_accept_eventtime_ns", "fortigate") == set()
