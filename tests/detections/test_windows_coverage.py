"""Windows coverage without Sysmon: Security-log variants, Sigma's `Data`, empty vs absent values.

- Every SigmaHQ `process_creation` rule with a Sysmon regression sample must also fire when the
  sample is rewritten as the Security 4688 event Windows logs for the same process creation
  (`security_rewrite`), except the rules listed in `EXPECTED_4688_MISSES`, each with why. The list
  is exact: a new miss or a miss that starts firing both fail, so it cannot go stale. The same for
  `registry_set` samples rewritten as Security 4657 (`EXPECTED_4657_MISSES`).
- SigmaHQ's `Data` rules fire on the classic-log events of EVTX-ATTACK-SAMPLES that show their
  attack (MSSQL, MSI installer, ESENT), and `Data|contains` filters now exclude (MSSQL's
  "failed logon from external network" no longer fires for a 10.x client).
- `field: ''` matches a present empty EventData value and `field: null` only an absent one (the
  firewall "rule added" rule fires for a rule that allows any application, i.e. an empty path).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from detections.engine import DetectionEngine
from normalizers.evtx_file import ReadStats, iter_records
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from tests.detections.conftest import SIGMA, SYSMON, EngineFactory, proc_rule, sigma_corpus, sysmon1
from tests.detections.evtx_samples import cases
from tests.detections.security_rewrite import (
    is_sysmon_process_creation,
    is_sysmon_registry_set,
    to_security_4657,
    to_security_4688,
)

EVTX = SIGMA.parent / "evtx-attack-samples"

_ORIGINAL_FILE_NAME = "needs OriginalFileName (the PE header's name), which 4688 does not record"
#: SigmaHQ process_creation rules whose Sysmon sample cannot fire as 4688, and why.
EXPECTED_4688_MISSES: dict[str, str] = {
    "7090adee-82e2-4269-bd59-80691e7c6338": (
        "Console CodePage Lookup Via CHCP: needs ParentCommandLine (cmd.exe /c), which 4688 does not record"
    ),
    "271de298-cc0e-4842-acd8-079a0a99ea65": (
        "Suspicious Child Process from Node.js Server: selection_parent needs ParentCommandLine "
        "(the node server's arguments), which 4688 does not record"
    ),
    "36480ae1-a1cb-4eaa-a0d6-29801d7e9142": (
        f"Potential Defense Evasion Via Binary Rename: {_ORIGINAL_FILE_NAME}"
    ),
    "0ba1da6d-b6ce-4366-828c-18826c9de23e": (
        "Potential Defense Evasion Via Rename Of Highly Relevant Binaries: needs Description, Product "
        "or OriginalFileName (PE version info), none of which 4688 records"
    ),
    "7530cd3d-7671-43e3-b209-976966f6ea48": (
        f"Renamed CURL.EXE Execution: {_ORIGINAL_FILE_NAME} (or Description, also absent)"
    ),
    "277a4393-446c-449a-b0ed-7fdc7795244c": f"Renamed FTP.EXE Execution: {_ORIGINAL_FILE_NAME}",
}

_DWORD = "tests Sysmon's `Details: 'DWORD (0x...)'` rendering; 4657 prints DWORD data as a number"
#: SigmaHQ registry_set rules whose Sysmon 13 sample cannot fire as 4657, and why.
EXPECTED_4657_MISSES: dict[str, str] = {
    "37b437cf-3fc5-4c8e-9c94-1d7c9aff842b": f"Allow RDP Remote Assistance Feature: {_DWORD}",
    "aa37cbb0-da36-42cb-a90f-fdf216fc7467": f"AMSI Disabled via Registry Modification: {_DWORD}",
    "73921b9c-cafd-4446-b0c6-fdb0ace42bc0": f"Windows Credential Guard Disabled: {_DWORD}",
    "8b7273a4-ba5d-4d8a-b04f-11f2900d043a": f"Windows Hypervisor Enforced Code Integrity Disabled: {_DWORD}",
    "974515da-6cc5-4c95-ae65-f97f9150ec7f": f"Disable Microsoft Defender Firewall via Registry: {_DWORD}",
    "3ae1a046-f7db-439d-b7ce-b8b366b81fa6": f"Disable Windows Security Center Notifications: {_DWORD}",
    "5de03871-5d46-4539-a82d-3aa992a69a83": f"Registry Disable System Restore: {_DWORD}",
}

#: (sample file, rule id) of every `Data` rule that fires on EVTX-ATTACK-SAMPLES' classic-log events.
EXPECTED_DATA_HITS = {
    ("DE_xp_cmdshell_enabled_MSSQL_EID_15457.evtx", "d08dd86f-681e-4a00-a92c-1db218754417"),  # xp_cmdshell on
    ("LM_xp_cmdshell_MSSQL_Events.evtx", "d08dd86f-681e-4a00-a92c-1db218754417"),
    ("LM_xp_cmdshell_MSSQL_Events.evtx", "7f103213-a04e-4d59-8261-213dddf22314"),  # EXEC xp_cmdshell audit
    ("dc_applog_ntdsutil_dfir_325_326_327.evtx", "e6e88853-5f20-4c4a-8d26-cd469fd8d31f"),  # ntdsutil
    ("dc_applog_ntdsutil_dfir_325_326_327.evtx", "94dc4390-6b7c-4784-8ffc-335334404650"),  # ntds.dit dumped
    ("rogue_msi_url_1040_1042.evtx", "5594e67a-7f92-4a04-b65d-1a42fd824a60"),  # MSI from http://
}
MSSQL_EXTERNAL_LOGON = "ebfe73c2-5bc9-4ed9-aaa8-8b54b2b4777d"
FIREWALL_RULE_ADDED = "cde0a575-7d3d-4a49-9817-b8004a7bf105"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> DetectionEngine:
    return DetectionEngine.from_folders(sigma_corpus(), cache_dir=tmp_path_factory.mktemp("rule-cache"))


def _shapes() -> ModuleType:
    """tests/normalizers/windows/shapes.py: what Winlogbeat and NXLog send for an evtx record."""
    path = Path(__file__).resolve().parents[1] / "normalizers" / "windows" / "shapes.py"
    spec = importlib.util.spec_from_file_location("windows_test_shapes_coverage", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SHAPES = _shapes()


def _in_shape(record: dict[str, Any], fmt: str) -> str:
    """The record as the shipper of `fmt` sends it."""
    if fmt == "winlogbeat":
        return json.dumps(SHAPES.to_winlogbeat(record))
    if fmt == "nxlog_windows":
        return json.dumps(SHAPES.to_nxlog(record))
    return json.dumps(record)


def _flat(payload: str, name: str, fmt: str = "evtx_json") -> dict[str, Any]:
    record = RawRecord(
        id=record_id("coverage", payload, shipper_id=name),
        source_id="coverage",
        format=fmt,
        payload=payload,
    )
    event = NormalizeStage()(record)
    assert isinstance(event, Event), getattr(event, "reason", event)
    return event.flat()


def _fired(engine: DetectionEngine, payload: str, name: str) -> set[str]:
    return {m.rule.id for m in engine.match(_flat(payload, name))}


# ---------------------------------------------------------------- Security 4688 property


def _rewritten_misses(
    engine: DetectionEngine,
    categories: tuple[str, ...],
    is_source: Callable[[dict[str, Any]], bool],
    rewrite: Callable[[dict[str, Any]], dict[str, Any]],
    fmt: str = "evtx_json",
) -> tuple[int, dict[str, str]]:
    """How many rules of `categories` have a sample `is_source` accepts, and which of them do not
    fire on their samples rewritten as the Security event (sent in the shape of `fmt`)."""
    checked = 0
    misses: dict[str, str] = {}
    for rule_id, title, path, records in cases(SIGMA / "regression_data"):
        if engine.rule(rule_id).logsource.get("category") not in categories:
            continue
        sources = [record for record in map(json.loads, records) if is_source(record)]
        if not sources:
            continue
        checked += 1
        fired: set[str] = set()
        for n, record in enumerate(sources):
            flat = _flat(_in_shape(rewrite(record), fmt), f"{path}:{n}", fmt)
            assert flat["winlog.channel"] == "Security", flat
            fired |= {m.rule.id for m in engine.match(flat)}
        if rule_id not in fired:
            misses[rule_id] = title
    return checked, misses


@pytest.mark.parametrize("fmt", ["evtx_json", "winlogbeat", "nxlog_windows"])
def test_process_creation_samples_fire_as_security_4688(engine: DetectionEngine, fmt: str) -> None:
    """The same through each shipper's shape of the 4688 event (`tests/normalizers/windows`)."""
    checked, misses = _rewritten_misses(
        engine, ("process_creation",), is_sysmon_process_creation, to_security_4688, fmt
    )
    rate = (checked - len(misses)) / checked
    print(f"4688 property ({fmt}): {checked - len(misses)}/{checked} = {rate:.1%}")  # `pytest -s`
    assert checked >= 90
    unexpected = {k: v for k, v in misses.items() if k not in EXPECTED_4688_MISSES}
    assert unexpected == {}, f"new misses as 4688 ({rate:.1%} fired): {unexpected}"
    fixed = set(EXPECTED_4688_MISSES) - set(misses)
    assert fixed == set(), f"these now fire as 4688: drop them from EXPECTED_4688_MISSES: {fixed}"


def test_registry_samples_fire_as_security_4657(engine: DetectionEngine) -> None:
    categories = ("registry_set", "registry_event", "registry_add")
    checked, misses = _rewritten_misses(engine, categories, is_sysmon_registry_set, to_security_4657)
    print(f"4657 property: {checked - len(misses)}/{checked}")  # `pytest -s`
    assert checked >= 15
    assert {k: v for k, v in misses.items() if k not in EXPECTED_4657_MISSES} == {}
    assert set(EXPECTED_4657_MISSES) - set(misses) == set()


def test_fields_without_a_4688_equivalent_are_absent(make_engine: EngineFactory) -> None:
    engine = make_engine(
        proc_rule(
            "sel:\n    OriginalFileName: 'cmd.exe'\ncondition: sel",
            rule_id="00000000-0000-4000-8000-0000000000a1",
        ),
        proc_rule(
            "sel:\n    Image|endswith: '\\cmd.exe'\nfilter:\n    Hashes: null\ncondition: sel and filter",
            rule_id="00000000-0000-4000-8000-0000000000a2",
        ),
        proc_rule(
            "sel:\n    Image|endswith: '\\cmd.exe'\nfilter:\n    User|contains: 'AUTHORI'\n"
            "condition: sel and not filter",
            rule_id="00000000-0000-4000-8000-0000000000a3",
        ),
    )
    security = _security(NewProcessName="C:\\Windows\\System32\\cmd.exe", SubjectUserName="SYSTEM")
    # ProcessName-like fields never stand in for OriginalFileName; Hashes/User are simply missing.
    security["winlog.event_data.OriginalFileName"] = None
    assert {m.rule.id for m in engine.match(security)} == {
        "00000000-0000-4000-8000-0000000000a2",
        "00000000-0000-4000-8000-0000000000a3",
    }
    sysmon = sysmon1(
        Image="C:\\Windows\\System32\\cmd.exe", OriginalFileName="Cmd.Exe", User="NT AUTHORITY\\SYSTEM"
    )
    assert {m.rule.id for m in engine.match(sysmon)} == {
        "00000000-0000-4000-8000-0000000000a1",
        "00000000-0000-4000-8000-0000000000a2",
    }


def _security(**event_data: Any) -> dict[str, Any]:
    flat: dict[str, Any] = {"winlog.channel": "Security", "event.code": "4688", "host.name": "ws01"}
    flat.update({f"winlog.event_data.{k}": v for k, v in event_data.items()})
    return flat


def test_4688_equivalents_and_their_value_forms(make_engine: EngineFactory) -> None:
    engine = make_engine(
        proc_rule(
            """
            sel:
                ParentImage|endswith: '\\winword.exe'
                IntegrityLevel: 'High'
                ParentProcessId: 4660
                LogonId: '0x3e7'
            condition: sel
            """
        )
    )
    event = _security(
        ParentProcessName="C:\\Program Files\\Office\\WINWORD.EXE",
        MandatoryLabel="S-1-16-12288",
        ProcessId="0x1234",
        SubjectLogonId="0x3e7",
    )
    (match,) = engine.match(event)
    assert match.selections == ("sel",)
    assert engine.match({**event, "winlog.event_data.MandatoryLabel": "S-1-16-8192"}) == []
    # the 4688 names mean nothing on a Sysmon event, and the Sysmon names nothing on a 4688 event
    assert engine.match({**event, "winlog.channel": SYSMON, "event.code": "1"}) == []
    assert (
        engine.match(
            _security(ParentImage="C:\\x\\winword.exe", IntegrityLevel="High", ParentProcessId="4660")
        )
        == []
    )


def test_a_rule_with_two_variants_fires_once_and_reports_the_selections_of_its_variant(
    make_engine: EngineFactory, tmp_path: Path
) -> None:
    text = proc_rule(
        """
        sel:
            CommandLine|contains: 'whoami'
        cmd:
            Image|endswith: '\\cmd.exe'
        condition: sel or cmd
        """
    )
    engine = make_engine(text, cache_dir=tmp_path / "cache")
    security = _security(CommandLine="whoami /all", NewProcessName="C:\\Windows\\System32\\cmd.exe")
    assert [m.selections for m in engine.match(security)] == [("sel", "cmd")]
    # a Sysmon field name on a 4688 event is not what the Security variant reads
    odd = _security(CommandLine="whoami", NewProcessName="C:\\x\\whoami.exe", Image="C:\\x\\cmd.exe")
    assert [m.selections for m in engine.match(odd)] == [("sel",)]
    sysmon = sysmon1(CommandLine="whoami", Image="C:\\x\\cmd.exe", NewProcessName="C:\\x\\a.exe")
    assert [m.selections for m in engine.match(sysmon)] == [("sel", "cmd")]
    explained = engine.explain(odd, include_unmatched=True)
    assert explained.dispatched == 1 and explained.matched[0].selections == {"sel": True, "cmd": False}
    # the compiled form (two routes) survives the rule cache
    again = DetectionEngine.from_folders(engine.folders, cache_dir=tmp_path / "cache")
    assert again.last_reload.recompiled_files == 0
    assert [m.selections for m in again.match(odd)] == [("sel",)]


def test_registry_rules_get_the_4657_variant(make_engine: EngineFactory) -> None:
    rule = """\
title: run key
id: 00000000-0000-4000-8000-0000000000b1
status: test
level: high
logsource: {category: registry_set, product: windows}
detection:
    sel:
        TargetObject|endswith: '\\CurrentVersion\\Run\\evil'
        Image|endswith: '\\reg.exe'
    filter:
        User|contains: 'AUTHORI'
    condition: sel and not filter
"""
    engine = make_engine(rule)
    event = {
        "winlog.channel": "Security",
        "event.code": "4657",
        # as the normalizer derives it from ObjectName and ObjectValueName (test below)
        "registry.path": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\evil",
        "winlog.event_data.ObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\"
        "Run",
        "winlog.event_data.ObjectValueName": "evil",
        "winlog.event_data.ProcessName": "C:\\Windows\\System32\\reg.exe",
        "winlog.event_data.OperationType": "%%1905",
    }
    assert [m.rule.id for m in engine.match(event)] == ["00000000-0000-4000-8000-0000000000b1"]
    assert engine.match({**event, "winlog.event_data.OperationType": "Existing registry value modified"})
    assert (
        engine.match({**event, "winlog.event_data.OperationType": "%%1904"}) == []
    )  # a new value: registry_add
    sysmon = {
        "winlog.channel": SYSMON,
        "event.code": "13",
        "winlog.event_data.TargetObject": "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\evil",
        "winlog.event_data.Image": "C:\\Windows\\System32\\reg.exe",
        "winlog.event_data.EventType": "SetValue",
    }
    assert [m.rule.id for m in engine.match(sysmon)] == ["00000000-0000-4000-8000-0000000000b1"]
    # ObjectName alone (pySigma's mapping of TargetObject) never names the value
    assert engine.match({k: v for k, v in event.items() if k != "registry.path"}) == []


# ---------------------------------------------------------------- Data on classic logs


def _classic_events() -> list[tuple[str, dict[str, Any], str]]:
    """(file name, flat event, payload) of every attack-sample event with unnamed `<Data>`."""
    paths = sorted(EVTX.rglob("*.evtx"))
    if not paths:
        pytest.fail(f"EVTX-ATTACK-SAMPLES missing: no .evtx under {EVTX}")
    out: list[tuple[str, dict[str, Any], str]] = []
    for path in paths:
        for n, payload in enumerate(iter_records(path, ReadStats())):
            if '"Data"' not in payload:
                continue
            flat = _flat(payload, f"{path.name}:{n}")
            if "winlog.event_data.Data" in flat:
                out.append((path.name, flat, payload))
    return out


def _uses_data(path: str) -> bool:
    detection = Path(path).read_text(encoding="utf-8").split("\ndetection:", 1)[1]
    return any(line.strip().startswith(("Data:", "Data|")) for line in detection.splitlines())


def test_data_rules_fire_on_the_classic_log_samples(engine: DetectionEngine) -> None:
    data_rules = {info.id for info in engine.rules if _uses_data(info.path)}
    assert len(data_rules) >= 30
    events = _classic_events()
    assert {flat["event.code"] for _, flat, _ in events} >= {"15457", "33205", "18456", "325", "1040", "800"}
    hits = {
        (name, m.rule.id) for name, flat, _ in events for m in engine.match(flat) if m.rule.id in data_rules
    }
    assert hits == EXPECTED_DATA_HITS
    # Winlogbeat sends the same values as param1..N: the same rules fire (NXLog has no such shape)
    beat: set[tuple[str, str]] = set()
    for n, (name, _, payload) in enumerate(events):
        flat = _flat(_in_shape(json.loads(payload), "winlogbeat"), f"beat:{n}", "winlogbeat")
        beat |= {(name, m.rule.id) for m in engine.match(flat) if m.rule.id in data_rules}
    assert beat == EXPECTED_DATA_HITS


def test_mssql_data_filter_excludes_internal_clients(engine: DetectionEngine) -> None:
    failed = [(flat, payload) for _, flat, payload in _classic_events() if flat["event.code"] == "18456"]
    assert len(failed) == 10 and all(
        "[CLIENT: 10.0.2.17]" in str(flat["winlog.event_data.Data"]) for flat, _ in failed
    )
    for flat, payload in failed:
        rules = {m.rule.id for m in engine.match(flat)}
        assert MSSQL_EXTERNAL_LOGON not in rules  # the filter applies: 10.0.0.0/8 is internal
        external = payload.replace("CLIENT: 10.0.2.17", "CLIENT: 203.0.113.7")
        assert MSSQL_EXTERNAL_LOGON in _fired(engine, external, "external")


# ---------------------------------------------------------------- empty vs absent


FIREWALL_CHANNEL = "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"


def _firewall_2004(**changes: Any) -> str:
    """A Windows Firewall 2004 ("a rule has been added") record as Windows 10 writes it."""
    data: dict[str, Any] = {
        "RuleId": "{6A1C2E0B-6E0C-4B0D-9F2A-0F4B6A3E9C11}",
        "RuleName": "Allow TCP 4444",
        "Origin": 1,
        "ApplicationPath": "",  # no program: the rule allows any application
        "ServiceName": "",
        "Direction": 1,
        "Protocol": 6,
        "LocalPorts": "4444",
        "RemotePorts": "*",
        "Action": 3,
        "Profiles": 2147483647,
        "LocalAddresses": "*",
        "RemoteAddresses": "*",
        "RemoteMachineAuthorizationList": "",
        "RemoteUserAuthorizationList": "",
        "EmbeddedContext": "",
        "Flags": 1,
        "Active": 1,
        "EdgeTraversal": 0,
        "LooseSourceMapped": 0,
        "SecurityOptions": 0,
        "ModifyingUser": "S-1-5-21-1004336348-1177238915-682003330-500",
        "ModifyingApplication": "C:\\Windows\\System32\\netsh.exe",
        "SchemaVersion": 542,
        "RuleStatus": 65536,
        "LocalOnlyMapped": 0,
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    record = {
        "Event": {
            "System": {
                "Provider": {
                    "#attributes": {
                        "Name": "Microsoft-Windows-Windows Firewall With Advanced Security",
                        "Guid": "{D1BC9AFF-2ABF-4D71-9146-ECB2A986EB85}",
                    }
                },
                "EventID": 2004,
                "Version": 0,
                "Level": 4,
                "Task": 0,
                "Opcode": 0,
                "Keywords": "0x8000020000000000",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T03:04:05.123456Z"}},
                "EventRecordID": 812,
                "Execution": {"#attributes": {"ProcessID": 2948, "ThreadID": 5120}},
                "Channel": FIREWALL_CHANNEL,
                "Computer": "ws01.example.local",
                "Security": {"#attributes": {"UserID": "S-1-5-19"}},
            },
            "EventData": data,
        }
    }
    return json.dumps(record)


def test_firewall_rule_allowing_any_application_fires(engine: DetectionEngine) -> None:
    flat = _flat(_firewall_2004(), "fw")
    assert flat["winlog.event_data.ApplicationPath"] == ""
    assert FIREWALL_RULE_ADDED in {m.rule.id for m in engine.match(flat)}
    # absent path: `ApplicationPath: null` (filter_main_null) excludes it
    assert FIREWALL_RULE_ADDED not in _fired(engine, _firewall_2004(ApplicationPath=None), "fw-absent")
    # empty path from svchost: `ApplicationPath: ''` (filter_optional_no_path) excludes it
    svchost = _firewall_2004(ModifyingApplication="C:\\Windows\\System32\\svchost.exe")
    assert FIREWALL_RULE_ADDED not in _fired(engine, svchost, "fw-svchost")


def test_empty_and_null_are_told_apart(make_engine: EngineFactory) -> None:
    engine = make_engine(
        proc_rule(
            "sel:\n    CurrentDirectory: ''\ncondition: sel", rule_id="00000000-0000-4000-8000-0000000000c1"
        ),
        proc_rule(
            "sel:\n    CurrentDirectory: null\ncondition: sel", rule_id="00000000-0000-4000-8000-0000000000c2"
        ),
    )

    def fired(flat: dict[str, Any]) -> set[str]:
        return {m.rule.id[-2:] for m in engine.match(flat)}

    assert fired(sysmon1(CurrentDirectory="")) == {"c1"}
    assert fired(sysmon1()) == {"c2"}
    assert fired(sysmon1(CurrentDirectory="C:\\")) == set()


def test_a_filter_also_filters_the_security_variant(make_engine: EngineFactory) -> None:
    """A Sigma filter on a process_creation rule gets the same Security variant as the rule."""
    rule = proc_rule("sel:\n    CommandLine|contains: 'whoami'\ncondition: sel")
    sigma_filter = """\
title: whoami from explorer is the helpdesk
id: 00000000-0000-4000-8000-00000000f0f0
logsource: {category: process_creation, product: windows}
filter:
    rules: [00000000-0000-4000-8000-000000000001]
    selection:
        ParentImage|endswith: '\\explorer.exe'
    condition: not selection
"""
    engine = make_engine(rule, sigma_filter)
    explorer = "C:\\Windows\\explorer.exe"
    assert engine.match(sysmon1(CommandLine="whoami", ParentImage=explorer)) == []
    assert engine.match(_security(CommandLine="whoami", ParentProcessName=explorer)) == []
    assert engine.match(_security(CommandLine="whoami", ParentProcessName="C:\\x\\cmd.exe"))
    assert engine.match(sysmon1(CommandLine="whoami", ParentImage="C:\\x\\cmd.exe"))
