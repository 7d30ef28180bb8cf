"""One test per Sigma value modifier and value form: inline rule YAML, exact results."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.detections.conftest import sysmon1

Matches = Callable[[str, dict[str, Any]], bool]


def test_plain_equality_is_case_insensitive(matches: Matches) -> None:
    rule = "sel:\n    Image: 'C:\\Windows\\System32\\cmd.exe'\ncondition: sel"
    assert matches(rule, sysmon1(Image="c:\\windows\\system32\\CMD.EXE"))
    assert not matches(rule, sysmon1(Image="C:\\Windows\\System32\\cmd.exe.bak"))


def test_cased_is_case_sensitive(matches: Matches) -> None:
    rule = "sel:\n    CommandLine|cased: 'Invoke-Mimikatz'\ncondition: sel"
    assert matches(rule, sysmon1(CommandLine="Invoke-Mimikatz"))
    assert not matches(rule, sysmon1(CommandLine="invoke-mimikatz"))


@pytest.mark.parametrize(
    ("modifier", "value", "hit", "miss"),
    [
        ("contains", "whoami", "cmd /c WHOAMI /all", "cmd /c who ami"),
        ("startswith", "C:\\Users\\", "c:\\users\\x\\a.exe", "D:\\c:\\users\\"),
        ("endswith", "\\rundll32.exe", "C:\\Windows\\rundll32.exe", "C:\\rundll32.exe.mui"),
    ],
)
def test_contains_startswith_endswith(
    matches: Matches, modifier: str, value: str, hit: str, miss: str
) -> None:
    rule = f"sel:\n    CommandLine|{modifier}: '{value}'\ncondition: sel"
    assert matches(rule, sysmon1(CommandLine=hit))
    assert not matches(rule, sysmon1(CommandLine=miss))


def test_wildcards_and_escapes(matches: Matches) -> None:
    multi = "sel:\n    CommandLine: 'net* user*'\ncondition: sel"
    assert matches(multi, sysmon1(CommandLine="net.exe localgroup user x"))
    assert not matches(multi, sysmon1(CommandLine="xnet localgroup user"))
    single = "sel:\n    CommandLine: 'a?c'\ncondition: sel"
    assert matches(single, sysmon1(CommandLine="abc"))
    assert not matches(single, sysmon1(CommandLine="abbc"))
    escaped = "sel:\n    CommandLine: 'what\\*ever\\?'\ncondition: sel"
    assert matches(escaped, sysmon1(CommandLine="what*ever?"))
    assert not matches(escaped, sysmon1(CommandLine="whatXeverY"))


def test_value_list_is_or_and_all_is_and(matches: Matches) -> None:
    any_of = "sel:\n    CommandLine|contains:\n        - 'a1'\n        - 'b2'\ncondition: sel"
    assert matches(any_of, sysmon1(CommandLine="x b2"))
    all_of = "sel:\n    CommandLine|contains|all:\n        - 'a1'\n        - 'b2'\ncondition: sel"
    assert matches(all_of, sysmon1(CommandLine="b2 x a1"))
    assert not matches(all_of, sysmon1(CommandLine="x b2"))


def test_windash(matches: Matches) -> None:
    rule = "sel:\n    CommandLine|windash|contains: ' -enc '\ncondition: sel"
    for dash in ("-", "/", "\u2013", "\u2014", "\u2015"):
        assert matches(rule, sysmon1(CommandLine=f"powershell {dash}enc AAAA"))
    assert not matches(rule, sysmon1(CommandLine="powershell enc AAAA"))


def test_windash_with_all_keeps_expansions_or_linked(matches: Matches) -> None:
    rule = "sel:\n    CommandLine|windash|contains|all:\n        - ' -a '\n        - ' -b '\ncondition: sel"
    assert matches(rule, sysmon1(CommandLine="x /a -b y"))
    assert not matches(rule, sysmon1(CommandLine="x /a y"))


def test_re_searches_and_is_case_sensitive(matches: Matches) -> None:
    rule = "sel:\n    CommandLine|re: 'ab+c\\d'\ncondition: sel"
    assert matches(rule, sysmon1(CommandLine="xx abbbc7 yy"))
    assert not matches(rule, sysmon1(CommandLine="xx ABBC7 yy"))


def test_re_flags(matches: Matches) -> None:
    ignorecase = "sel:\n    CommandLine|re|i: '^abc$'\ncondition: sel"
    assert matches(ignorecase, sysmon1(CommandLine="ABC"))
    multiline = "sel:\n    CommandLine|re|m: '^second$'\ncondition: sel"
    assert matches(multiline, sysmon1(CommandLine="first\nsecond\nthird"))
    single_line = "sel:\n    CommandLine|re: '^second$'\ncondition: sel"
    assert not matches(single_line, sysmon1(CommandLine="first\nsecond\nthird"))
    dotall = "sel:\n    CommandLine|re|s: 'a.b'\ncondition: sel"
    assert matches(dotall, sysmon1(CommandLine="a\nb"))
    no_dotall = "sel:\n    CommandLine|re: 'a.b'\ncondition: sel"
    assert not matches(no_dotall, sysmon1(CommandLine="a\nb"))


def test_cidr_v4_and_v6(matches: Matches) -> None:
    rule = "sel:\n    DestinationIp|cidr:\n        - '10.0.0.0/8'\n        - 'fd00::/8'\ncondition: sel"
    assert matches(rule, sysmon1(DestinationIp="10.20.30.40"))
    assert matches(rule, sysmon1(DestinationIp="fd12::1"))
    assert matches(rule, sysmon1(DestinationIp="::ffff:10.1.1.1"))
    assert not matches(rule, sysmon1(DestinationIp="11.0.0.1"))
    assert not matches(rule, sysmon1(DestinationIp="not an ip"))


def test_base64_and_base64offset(matches: Matches) -> None:
    plain = "sel:\n    CommandLine|base64: 'http://'\ncondition: sel"
    assert matches(plain, sysmon1(CommandLine=base64.b64encode(b"http://").decode()))
    offset = "sel:\n    CommandLine|base64offset|contains: 'http://evil'\ncondition: sel"
    for prefix in (b"", b"x", b"xy"):
        encoded = base64.b64encode(prefix + b"http://evil.example").decode()
        assert matches(offset, sysmon1(CommandLine=f"powershell -e {encoded}"))
    assert not matches(offset, sysmon1(CommandLine=base64.b64encode(b"https://good").decode()))


@pytest.mark.parametrize(
    ("modifier", "encoding", "bom"),
    [
        ("wide", "utf-16le", b""),
        ("utf16le", "utf-16le", b""),
        ("utf16be", "utf-16be", b""),
        # pySigma's utf16 prepends U+FEFF as a character, which base64 then sees UTF-8 encoded
        # (EF BB BF); we follow pySigma so that Elasticsearch conversions agree with us.
        ("utf16", "utf-16le", "\ufeff".encode()),
    ],
)
def test_utf16_then_base64offset(matches: Matches, modifier: str, encoding: str, bom: bytes) -> None:
    rule = f"sel:\n    CommandLine|{modifier}|base64offset|contains: 'IEX'\ncondition: sel"
    encoded = base64.b64encode(bom + "IEX (New-Object Net.WebClient)".encode(encoding)).decode()
    assert matches(rule, sysmon1(CommandLine=f"powershell -enc {encoded}"))
    assert not matches(rule, sysmon1(CommandLine="powershell -enc AAAA"))


def test_exists(matches: Matches) -> None:
    present = "sel:\n    ParentImage|exists: true\ncondition: sel"
    assert matches(present, sysmon1(ParentImage="x"))
    assert not matches(present, sysmon1(Image="x"))
    absent = "sel:\n    ParentImage|exists: false\ncondition: sel"
    assert matches(absent, sysmon1(Image="x"))
    assert not matches(absent, sysmon1(ParentImage=""))


@pytest.mark.parametrize(
    ("modifier", "hits", "misses"),
    [
        ("lt", ["9", 9, "0x8"], ["10", "11", "abc"]),
        ("lte", ["10", 10.0], ["11"]),
        ("gt", ["11", 1e3], ["10", "-1"]),
        ("gte", ["10"], ["9"]),
    ],
)
def test_numeric_comparisons(matches: Matches, modifier: str, hits: list[Any], misses: list[Any]) -> None:
    rule = f"sel:\n    LogonType|{modifier}: 10\ncondition: sel"
    for value in hits:
        assert matches(rule, sysmon1(LogonType=value)), value
    for value in misses:
        assert not matches(rule, sysmon1(LogonType=value)), value


def test_fieldref(matches: Matches) -> None:
    equal = "sel:\n    Image|fieldref: ParentImage\ncondition: sel"
    assert matches(equal, sysmon1(Image="C:\\a.exe", ParentImage="c:\\A.EXE"))
    assert not matches(equal, sysmon1(Image="C:\\a.exe", ParentImage="C:\\b.exe"))
    assert not matches(equal, sysmon1(Image="C:\\a.exe"))
    ends = "sel:\n    CommandLine|fieldref|endswith: Image\ncondition: sel"
    assert matches(ends, sysmon1(CommandLine="run C:\\a.exe", Image="C:\\a.exe"))
    assert not matches(ends, sysmon1(CommandLine="C:\\a.exe run", Image="C:\\a.exe"))


def test_null_and_empty(matches: Matches) -> None:
    null = "sel:\n    OriginalFileName: null\ncondition: sel"
    assert matches(null, sysmon1(Image="x"))
    assert matches(null, sysmon1(OriginalFileName=None))
    assert matches(null, sysmon1(OriginalFileName=[]))
    assert not matches(null, sysmon1(OriginalFileName=""))
    empty = "sel:\n    OriginalFileName: ''\ncondition: sel"
    assert matches(empty, sysmon1(OriginalFileName=""))
    assert not matches(empty, sysmon1(Image="x"))
    assert not matches(empty, sysmon1(OriginalFileName="a"))


def test_ecs_array_matches_if_any_element_matches(matches: Matches) -> None:
    rule = "sel:\n    Tags|endswith: '-admin'\ncondition: sel"
    assert matches(rule, sysmon1(Tags=["user", "it-admin"]))
    assert not matches(rule, sysmon1(Tags=["user", "guest"]))
    negated = "sel:\n    Image: 'a'\nflt:\n    Tags: 'x'\ncondition: sel and not flt"
    assert not matches(negated, sysmon1(Image="a", Tags=["y", "x"]))


def test_numbers_match_numeric_strings_and_hex(matches: Matches) -> None:
    rule = "sel:\n    Status: 0xC000006A\ncondition: sel"  # YAML reads 0x... as an integer
    assert matches(rule, sysmon1(Status="0xc000006a"))
    assert matches(rule, sysmon1(Status=3221225578))
    assert not matches(rule, sysmon1(Status="0xc000006b"))
    string_rule = "sel:\n    DestinationPort: '443'\ncondition: sel"
    assert matches(string_rule, sysmon1(DestinationPort=443))


def test_booleans(matches: Matches) -> None:
    rule = "sel:\n    Initiated: true\ncondition: sel"
    assert matches(rule, sysmon1(Initiated="true"))
    assert matches(rule, sysmon1(Initiated=True))
    assert not matches(rule, sysmon1(Initiated="false"))


def test_keywords_search_message_then_original(matches: Matches) -> None:
    rule = "keywords:\n    - 'Accepted password'\n    - 'session opened'\ncondition: keywords"
    assert matches(rule, sysmon1() | {"message": "sshd: ACCEPTED PASSWORD for root"})
    assert matches(rule, sysmon1() | {"event.original": "<13>Jul 1 sshd[1]: session opened for x"})
    assert not matches(rule, sysmon1() | {"message": "Failed password"})
    all_rule = "keywords:\n    '|all':\n        - 'alpha'\n        - 'beta'\ncondition: keywords"
    assert matches(all_rule, sysmon1() | {"message": "beta then alpha"})
    assert not matches(all_rule, sysmon1() | {"message": "alpha only"})


def test_keyword_regex(matches: Matches) -> None:
    rule = "keywords:\n    '|re': 'user=\\w+admin'\ncondition: keywords"
    assert matches(rule, sysmon1() | {"message": "login user=webadmin ok"})
    assert not matches(rule, sysmon1() | {"message": "login user=web ok"})


@pytest.mark.parametrize(
    "odd",
    [{"a": 1}, b"\x00\xff", float("nan"), float("inf"), 10**40, -0.0, ["x", None, {"k": [1]}], object()],
)
def test_odd_values_never_raise(make_engine: Any, odd: Any) -> None:
    from tests.detections.conftest import proc_rule

    detection = """
    sel_a:
        CommandLine|contains: 'x'
    sel_b:
        CommandLine|re: 'x+'
    sel_c:
        CommandLine|cidr: '10.0.0.0/8'
    sel_d:
        CommandLine|gt: 5
    sel_e:
        CommandLine: 5
    sel_f:
        CommandLine|fieldref: Image
    sel_g:
        CommandLine: null
    condition: 1 of sel_*
    """
    engine = make_engine(proc_rule(detection))
    engine.match(sysmon1(CommandLine=odd, Image=odd))
    assert all(s.errors == 0 for s in engine.stats())


def test_timestamp_part_modifiers_quarantine(make_engine: Any) -> None:
    from tests.detections.conftest import proc_rule

    engine = make_engine(proc_rule("sel:\n    CommandLine|hour: 3\ncondition: sel"))
    assert engine.rules == []
    assert "timestamp-part" in engine.quarantined[0].reason
