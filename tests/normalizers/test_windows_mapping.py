"""Unit tests of the Windows mapping: the pieces golden files cover only by example.

Inputs written inline here are synthetic (marked so); they exercise rules for which the sample
corpus has no event (Windows Firewall channel, PowerShell 4103, NXLog name collisions, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from normalizers import registry
from normalizers.base import VIETNAM, ParseContext
from normalizers.stage import NormalizeStage
from normalizers.windows_ecs import (
    WinEvent,
    clean_ip,
    data_text,
    keyword_mask,
    keyword_names,
    parse_time,
    registry_value_path,
    split_command_line,
    text,
    to_ecs,
    unnamed_values,
)
from soc_core.errors import NormalizeError
from soc_core.records import DeadLetter, RawRecord

HERE = Path(__file__).parent
CTX = ParseContext(received_at=datetime(2026, 1, 1, tzinfo=UTC))
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"


def _event(event_id: str, channel: str, provider: str, data: dict[str, str], **system: Any) -> dict[str, Any]:
    return to_ecs(
        WinEvent(
            event_id=event_id,
            time=datetime(2026, 3, 1, tzinfo=UTC),
            channel=channel,
            provider=provider,
            computer="WS01.corp.local",
            event_data=data,
            **system,
        )
    )


# ---- command lines: CommandLineToArgvW rules (program name first, then argv[1..]) -------------


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("C:\\a.exe x  y", ["C:\\a.exe", "x", "y"]),
        ('"C:\\Program Files\\a.exe" -x "a b"', ["C:\\Program Files\\a.exe", "-x", "a b"]),
        ('"C:\\Program Files\\a.exe"-x', ["C:\\Program Files\\a.exe", "-x"]),
        ("  prog\tx", ["prog", "x"]),
        ('prog "abc" d e', ["prog", "abc", "d", "e"]),
        ('prog a\\\\b d"e f"g h', ["prog", "a\\\\b", "de fg", "h"]),
        ('prog a\\\\\\"b c d', ["prog", 'a\\"b', "c", "d"]),
        ('prog a\\\\\\\\"b c" d e', ["prog", "a\\\\b c", "d", "e"]),
        ('prog a"b"" c d', ["prog", 'ab"', "c", "d"]),
        ('prog "" x', ["prog", "", "x"]),
        ("prog C:\\dir\\ x", ["prog", "C:\\dir\\", "x"]),
        ('"C:\\unterminated arg', ["C:\\unterminated arg"]),
        ('a"b c', ['a"b', "c"]),
        ("", []),
    ],
)
def test_command_line_splitting(line: str, args: list[str]) -> None:
    assert split_command_line(line) == args


# ---- values and system fields ---------------------------------------------------------------


def test_values_are_rendered_like_the_shippers_do() -> None:
    assert text("a\r\nb\r\n") == "a\nb"
    assert text("") is None and text(None) is None
    assert text(True) == "true" and text(4104) == "4104"
    assert text({"#text": "x"}) == "x"


def test_empty_event_data_is_present_and_null_elements_too() -> None:
    assert data_text("") == "" and data_text(None) == "" and data_text("a\r\n") == "a"
    assert data_text({"#text": ""}) == "" and data_text(7) == "7"
    evtx = {
        "Event": {
            "System": {
                "EventID": 2004,
                "Channel": "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T00:00:00Z"}},
            },
            "EventData": {"RuleName": "x", "ApplicationPath": "", "ServiceName": None},
        }
    }  # synthetic
    doc = registry.get("evtx_json").parse(orjson.dumps(evtx).decode(), CTX)
    assert doc["winlog"]["event_data"] == {"RuleName": "x", "ApplicationPath": "", "ServiceName": ""}
    # a shipper that sent an empty value keeps it too (Winlogbeat itself drops them before sending)
    beat = {
        "@timestamp": "2026-03-01T00:00:00Z",
        "winlog": {"event_id": "2004", "channel": "Security", "event_data": {"A": "", "B": "b"}},
    }  # synthetic
    assert registry.get("winlogbeat").parse(orjson.dumps(beat).decode(), CTX)["winlog"]["event_data"] == {
        "A": "",
        "B": "b",
    }


def test_unnamed_data_is_sigmas_data_field() -> None:
    assert unnamed_values({"param2": "b", "Binary": "", "param10": "j", "param1": "a"}) == ["a", "b", "j"]
    assert unnamed_values({"param": "x", "param0": "y", "param01": "z", "paramx": "w", "Image": "i"}) == []
    evtx = {
        "Event": {
            "System": {
                "EventID": 18456,
                "Provider": {"#attributes": {"Name": "MSSQLSERVER"}},
                "Channel": "Application",
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-01T00:00:00Z"}},
            },
            "EventData": {"Data": {"#text": ["sa", " Reason: x", "", " [CLIENT: 10.0.0.5]"]}, "Binary": None},
        }
    }  # synthetic, laid out as the `evtx` package writes classic events
    data = registry.get("evtx_json").parse(orjson.dumps(evtx).decode(), CTX)["winlog"]["event_data"]
    assert data["param1"] == "sa" and data["param3"] == "" and data["Binary"] == ""
    assert data["Data"] == ["sa", " Reason: x", "", " [CLIENT: 10.0.0.5]"]
    assert (
        "Data"
        not in _event("1", SYSMON_CHANNEL, "Microsoft-Windows-Sysmon", {"Image": "a"})["winlog"]["event_data"]
    )


def test_security_4657_registry_path_is_sysmons_target_object() -> None:
    data = {
        "ObjectName": "\\REGISTRY\\MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
        "ObjectValueName": "evil",
        "OperationType": "%%1905",
    }  # synthetic, field names as Microsoft documents 4657
    doc = _event("4657", "Security", "Microsoft-Windows-Security-Auditing", data)
    assert doc["registry"]["path"] == "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\evil"
    assert doc["registry"]["hive"] == "HKLM" and doc["registry"]["value"] == "evil"
    assert (
        registry_value_path("\\REGISTRY\\USER\\S-1-5-21-1\\Software", "x") == "HKU\\S-1-5-21-1\\Software\\x"
    )
    assert registry_value_path("\\REGISTRY\\MACHINEX\\a", None) == "\\REGISTRY\\MACHINEX\\a"
    assert registry_value_path(None, "x") is None


def test_keywords_from_every_spelling() -> None:
    audit_success = 0x8020000000000000
    assert keyword_mask("0x8020000000000000") == audit_success
    assert keyword_mask(-9214364837600034816) == audit_success  # NXLog CE: signed
    assert keyword_mask("9232379236109516800") == audit_success  # NXLog EE: unsigned decimal
    assert keyword_names(audit_success) == ["Audit Success"]
    assert keyword_names(0x8000000000000000) is None  # a channel bit has no standard name


def test_times_are_utc_milliseconds() -> None:
    assert parse_time("2019-03-19T23:34:25.8943419Z") == datetime(2019, 3, 19, 23, 34, 25, 894000, tzinfo=UTC)
    assert parse_time("2019-03-20 06:35:07", VIETNAM) == datetime(2019, 3, 19, 23, 35, 7, tzinfo=UTC)
    assert parse_time("2021-03-31T12:03:46.974060+03:00") == datetime(
        2021, 3, 31, 9, 3, 46, 974000, tzinfo=UTC
    )
    with pytest.raises(NormalizeError, match="bad time"):
        parse_time("yesterday")
    with pytest.raises(NormalizeError, match="out of range"):
        parse_time("0001-01-01T00:00:00+01:00")


def test_only_literal_addresses_become_ips() -> None:
    assert clean_ip("::ffff:172.16.66.19") == "172.16.66.19"
    assert clean_ip("fe80::1%12") == "fe80::1"
    assert clean_ip("-") is None and clean_ip("WORKSTATION") is None


# ---- Sysmon ---------------------------------------------------------------------------------

SYSMON = "Microsoft-Windows-Sysmon/Operational"


@pytest.mark.parametrize(
    ("details", "data"),
    [
        ("DWORD (0x00001189)", {"strings": ["4489"], "type": "SZ_DWORD"}),
        ("QWORD (0x00000001-0x00000002)", {"strings": [str((1 << 32) | 2)], "type": "SZ_QWORD"}),
        ("Binary Data", {"strings": ["Binary Data"], "type": "REG_BINARY"}),
        ("C:\\evil.exe", {"strings": ["C:\\evil.exe"], "type": "REG_SZ"}),
    ],
)
def test_sysmon_registry_values(details: str, data: dict[str, Any]) -> None:
    doc = _event(
        "13",
        SYSMON,
        "Microsoft-Windows-Sysmon",
        {"TargetObject": "HKEY_USERS\\S-1-5-21-1\\Software\\Run\\x", "Details": details},
    )
    assert doc["registry"] == {
        "path": "HKEY_USERS\\S-1-5-21-1\\Software\\Run\\x",
        "hive": "HKU",
        "key": "S-1-5-21-1\\Software\\Run\\x",
        "value": "x",
        "data": data,
    }


def test_sysmon_dns_answers() -> None:
    results = "type:  5 f2.taboola.map.fastly.net;::ffff:151.101.66.2;2a04:4e42::2;"
    doc = _event(
        "22",
        SYSMON,
        "Microsoft-Windows-Sysmon",
        {"QueryName": "cdn.taboola.com", "QueryStatus": "0", "QueryResults": results},
    )
    assert doc["dns"] == {
        "question": {"name": "cdn.taboola.com"},
        "answers": [
            {"type": "CNAME", "data": "f2.taboola.map.fastly.net"},
            {"type": "A", "data": "151.101.66.2"},
            {"type": "AAAA", "data": "2a04:4e42::2"},
        ],
        "resolved_ip": ["151.101.66.2", "2a04:4e42::2"],
    }
    assert doc["sysmon"] == {"dns": {"status": "0"}}
    assert doc["related"]["hosts"] == ["cdn.taboola.com", "f2.taboola.map.fastly.net"]


def test_sysmon_placeholders_do_not_become_ecs_values() -> None:
    doc = _event(
        "1",
        SYSMON,
        "Microsoft-Windows-Sysmon",
        {
            "Image": "C:\\x.exe",
            "ParentImage": "-",
            "ParentCommandLine": "-",
            "ParentProcessGuid": "{00000000-0000-0000-0000-000000000000}",
            "ParentProcessId": "628",
        },
    )
    assert doc["process"]["parent"] == {"pid": 628}
    assert doc["winlog"]["event_data"]["ParentImage"] == "-"  # but kept for Sigma


# ---- Security -------------------------------------------------------------------------------


def test_security_4624_user_is_the_target_and_logon_is_the_new_session() -> None:
    doc = _event(
        "4624",
        "Security",
        "Microsoft-Windows-Security-Auditing",
        {
            "SubjectUserSid": "S-1-5-18",
            "SubjectUserName": "WS01$",
            "SubjectLogonId": "0x3e7",
            "TargetUserSid": "S-1-5-21-1-1001",
            "TargetUserName": "alice",
            "TargetDomainName": "CORP",
            "TargetLogonId": "0x1a2b",
            "LogonType": "3",
            "IpAddress": "::ffff:10.1.2.3",
            "IpPort": "50123",
        },
        keywords=["Audit Success"],
    )
    assert doc["user"] == {"id": "S-1-5-21-1-1001", "name": "alice", "domain": "CORP"}
    assert doc["winlog"]["logon"] == {"type": "Network", "id": "0x1a2b"}
    assert doc["source"] == {"ip": "10.1.2.3", "port": 50123}
    assert doc["event"]["outcome"] == "success"


def test_security_group_membership() -> None:
    doc = _event(
        "4728",
        "Security",
        "Microsoft-Windows-Security-Auditing",
        {
            "MemberName": "CN=Bob,OU=Staff,DC=corp,DC=local",
            "TargetUserName": "Domain Admins",
            "TargetDomainName": "CORP",
            "TargetSid": "S-1-5-21-1-512",
            "SubjectUserName": "admin",
        },
    )
    assert doc["user"]["name"] == "admin"
    assert doc["user"]["target"]["name"] == "Bob" and doc["user"]["target"]["domain"] == "corp.local"
    assert doc["group"] == {"id": "S-1-5-21-1-512", "name": "Domain Admins", "domain": "CORP"}


def test_security_4688_command_line_and_parent() -> None:
    doc = _event(
        "4688",
        "Security",
        "Microsoft-Windows-Security-Auditing",
        {
            "NewProcessId": "0x1a2c",
            "NewProcessName": "C:\\Windows\\System32\\cmd.exe",
            "ProcessId": "0x278",
            "ParentProcessName": "C:\\Windows\\explorer.exe",
            "CommandLine": 'cmd.exe /c "whoami /all"',
        },
    )
    assert doc["process"]["pid"] == 0x1A2C and doc["process"]["parent"]["pid"] == 0x278
    assert doc["process"]["args"] == ["cmd.exe", "/c", "whoami /all"]
    assert doc["process"]["parent"]["name"] == "explorer.exe"


# ---- PowerShell, Defender, Firewall (synthetic: no such sample in the corpus) ---------------------


def test_powershell_4103_context_info() -> None:
    lines = [
        "Severity = Informational",
        "Host Name = ConsoleHost",
        "Host Version = 5.1.1",
        "Host ID = 1c5d",
        "Host Application = powershell.exe -nop -w hidden -c IEX x",
        "Engine Version = 5.1.1",
        "Command Name = Invoke-Expression",
        "Command Type = Cmdlet",
        "Sequence Number = 16",
        "User = CORP\\alice",
    ]
    context = "".join(f"        {line}\r\n" for line in lines)
    doc = _event(
        "4103",
        "Microsoft-Windows-PowerShell/Operational",
        "Microsoft-Windows-PowerShell",
        {"ContextInfo": text(context) or "", "Payload": "CommandInvocation(Invoke-Expression)"},
    )
    assert doc["process"]["command_line"] == "powershell.exe -nop -w hidden -c IEX x"
    assert doc["process"]["args"][:3] == ["powershell.exe", "-nop", "-w"]
    assert doc["powershell"]["command"] == {"name": "Invoke-Expression", "type": "Cmdlet"}
    assert doc["user"]["name"] == "alice" and doc["event"]["sequence"] == 16


def test_defender_realtime_protection_disabled() -> None:
    doc = _event(
        "5001",
        "Microsoft-Windows-Windows Defender/Operational",
        "Microsoft-Windows-Windows Defender",
        {"Product Name": "Microsoft Defender Antivirus"},
    )
    assert doc["event"]["action"] == "antivirus-realtime-protection-disabled"
    assert doc["event"]["dataset"] == "windows.defender"


def test_firewall_rule_added() -> None:
    doc = _event(
        "2004",
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
        "Microsoft-Windows-Windows Firewall With Advanced Security",
        {
            "RuleId": "{A1B2}",
            "RuleName": "Allow 4444",
            "ModifyingUser": "S-1-5-21-1-500",
            "ModifyingApplication": "C:\\Windows\\System32\\netsh.exe",
        },
    )
    assert doc["event"]["dataset"] == "windows.firewall"
    assert doc["event"]["category"] == ["configuration"] and doc["event"]["type"] == ["creation"]
    assert doc["rule"] == {"name": "Allow 4444", "id": "{A1B2}"}
    assert doc["process"]["name"] == "netsh.exe" and doc["user"] == {"id": "S-1-5-21-1-500"}


# ---- NXLog: its own fields against EventData of the same name ----------------------------------


def _nxlog(**fields: Any) -> dict[str, Any]:
    base = {
        "EventTime": "2026-03-01 10:00:00",
        "Hostname": "WS01",
        "EventID": 4,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": SYSMON,
        "Version": 3,
        "SourceModuleType": "im_msvistalog",
    }
    base.update(fields)
    return registry.get("nxlog_windows").parse(
        orjson.dumps(base).decode(), ParseContext(received_at=CTX.received_at, timezone=VIETNAM)
    )


def test_nxlog_event_data_that_shares_an_nxlog_name() -> None:
    doc = _nxlog(Version="15.14", State="Started")  # Sysmon 4's EventData Version replaced NXLog's
    assert doc["winlog"]["event_data"] == {"Version": "15.14", "State": "Started"}
    assert "version" not in doc["winlog"]
    doc = _nxlog(EventID=13, EventType="SetValue", TargetObject="HKLM\\x\\y")
    assert doc["winlog"]["event_data"]["EventType"] == "SetValue"
    doc = _nxlog(
        EventID=5156,
        SourceName="Microsoft-Windows-Security-Auditing",
        Channel="Security",
        ExecutionProcessID=4,
        ProcessID="820",
        EventType="AUDIT_SUCCESS",
    )
    assert doc["winlog"]["process"] == {"pid": 4} and doc["process"]["pid"] == 820
    doc = _nxlog(
        EventID=7045,
        SourceName="Service Control Manager",
        Channel="System",
        AccountName="LocalSystem",
        ServiceName="evil",
    )
    assert doc["winlog"]["event_data"]["AccountName"] == "LocalSystem"


def test_nxlog_ce_local_time_and_integers() -> None:
    doc = _nxlog(ProcessID=1912, ThreadID=996, Keywords=-9223372036854775808)
    assert doc["@timestamp"] == datetime(2026, 3, 1, 3, 0, tzinfo=UTC)  # 10:00 in Asia/Ho_Chi_Minh
    assert doc["winlog"]["process"] == {"pid": 1912, "thread": {"id": 996}}


# ---- refusals and content sniffing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "payload", "reason"),
    [
        ("evtx_json", "{not json", "not JSON"),
        ("evtx_json", '{"Event": {"EventData": {}}}', "no Event.System"),
        ("evtx_json", '{"Event": {"System": {"EventID": "x"}}}', "EventID missing or not a number"),
        (
            "evtx_json",
            '{"Event": {"System": {"EventID": 1, "TimeCreated": {"#attributes": {"SystemTime": "?"}}}}}',
            "bad Event.System.TimeCreated.SystemTime",
        ),
        ("winlogbeat", '{"@timestamp": "2026-01-01T00:00:00Z", "message": "hi"}', "no winlog object"),
        ("winlogbeat", '{"winlog": {"event_id": "4624"}}', "missing or bad @timestamp"),
        ("nxlog_windows", '{"EventTime": "2026-01-01 00:00:00"}', "EventID missing"),
        ("nxlog_windows", "[1, 2]", "must be a JSON object"),
    ],
)
def test_broken_records_are_dead_letters_with_a_reason(fmt: str, payload: str, reason: str) -> None:
    result = NormalizeStage()(RawRecord(id="x", source_id="s", format=fmt, payload=payload))
    assert isinstance(result, DeadLetter)
    assert reason in result.reason


@pytest.mark.parametrize("fmt", ["winlogbeat", "evtx_json", "nxlog_windows"])
def test_content_sniffing_finds_the_shape(fmt: str) -> None:
    for raw in sorted((HERE / fmt).glob("*.raw")):
        payload = raw.read_text(encoding="utf-8").removesuffix("\n")
        sniffed = registry.sniff(payload)
        assert sniffed is not None and sniffed.name == fmt, raw.name
