"""Unit tests of the shared text-format helpers: year inference, syslog headers, auditd grouping,
key=value and CEF escapes, epoch units, IP checks, access-log unescaping."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from normalizers._text_common import clean_ip, epoch_to_datetime, host_fields
from normalizers._text_syslog import infer_year, parse_header
from normalizers._text_web import unescape
from normalizers.auditd import NORMALIZER as AUDITD
from normalizers.auditd import AuditdAssembler
from normalizers.base import VIETNAM, ParseContext
from normalizers.cef import NORMALIZER as CEF
from normalizers.cef import parse_extension
from normalizers.fortigate import parse_pairs
from soc_core.errors import NormalizeError

# --- year inference across New Year --------------------------------------------------------------


def _year(month: int, day: int, received: datetime, hh: int = 12, tz: ZoneInfo = VIETNAM) -> datetime:
    return infer_year(month, day, hh, 0, 0, 0, tz, received)


def test_december_line_received_on_new_years_day_is_last_year() -> None:
    got = infer_year(12, 31, 23, 59, 59, 0, VIETNAM, datetime(2026, 1, 1, 0, 0, 30, tzinfo=VIETNAM))
    assert got == datetime(2025, 12, 31, 23, 59, 59, tzinfo=VIETNAM)


def test_january_line_from_a_clock_running_ahead_is_next_year() -> None:
    got = infer_year(1, 1, 0, 0, 5, 0, VIETNAM, datetime(2025, 12, 31, 23, 59, 0, tzinfo=VIETNAM))
    assert got.year == 2026


def test_a_few_days_ahead_stays_this_year_but_far_ahead_is_last_year() -> None:
    received = datetime(2025, 7, 1, 12, 0, tzinfo=VIETNAM)
    assert _year(7, 4, received).year == 2025  # 3 days of clock skew
    assert _year(7, 10, received).year == 2024  # 9 days "ahead": last year's line
    assert _year(3, 15, datetime(2026, 1, 1, tzinfo=VIETNAM)).year == 2025


def test_new_year_is_judged_in_the_source_zone_not_utc() -> None:
    # 17:30 UTC on 31 December is already 00:30 on 1 January in Vietnam.
    received = datetime(2025, 12, 31, 17, 30, tzinfo=UTC)
    assert infer_year(1, 1, 0, 20, 0, 0, VIETNAM, received).year == 2026
    assert infer_year(12, 31, 23, 50, 0, 0, VIETNAM, received).year == 2025


def test_leap_day_finds_its_leap_year_and_impossible_dates_fail() -> None:
    assert _year(2, 29, datetime(2025, 3, 1, tzinfo=VIETNAM)).year == 2024
    with pytest.raises(NormalizeError, match="invalid date"):
        _year(2, 30, datetime(2025, 3, 1, tzinfo=VIETNAM))


def test_naive_received_at_is_taken_as_utc() -> None:
    assert _year(12, 31, datetime(2026, 1, 1, 0, 0)).year == 2025


# --- syslog headers -------------------------------------------------------------------------------

CTX = ParseContext(received_at=datetime(2026, 1, 1, 0, 10, tzinfo=VIETNAM))


def test_rfc5424_structured_data_escapes_and_bom() -> None:
    header = parse_header(
        '<165>1 2025-12-31T16:20:15Z h app 12 ID [x@1 a="q\\"u\\]o\\\\te" b=""][y c="1"] \ufeffmsg', CTX
    )
    assert header is not None
    assert header.structured_data == {"x@1": {"a": 'q"u]o\\te', "b": ""}, "y": {"c": "1"}}
    assert header.message == "msg"
    assert (header.hostname, header.appname, header.procid, header.msgid) == ("h", "app", "12", "ID")


def test_rfc5424_nil_values() -> None:
    header = parse_header("<14>1 - - - - - - just text", CTX)
    assert header is not None
    assert header.timestamp is None and header.hostname is None and header.appname is None
    assert header.message == "just text"


@pytest.mark.parametrize(
    ("line", "host", "app", "pid", "message"),
    [
        ("<13>Jan  1 00:00:01 web01 sshd[1]: hi", "web01", "sshd", "1", "hi"),
        ("Jan  1 00:00:01 web01 kernel: [1.0] x", "web01", "kernel", None, "[1.0] x"),
        ("Jan  1 00:00:01 sshd[1]: no host", None, "sshd", "1", "no host"),
        ("Jan  1 00:00:01 web01 free text without tag", "web01", None, None, "free text without tag"),
        ("<13>Jan 01 2026 00:00:01: ", None, None, None, ""),
        ("2025-12-31T23:55:01.1+07:00 web01 CRON[9]: x", "web01", "CRON", "9", "x"),
    ],
)
def test_bsd_header_shapes(
    line: str, host: str | None, app: str | None, pid: str | None, message: str
) -> None:
    header = parse_header(line, CTX)
    assert header is not None
    assert (header.hostname, header.appname, header.procid, header.message) == (host, app, pid, message)


def test_bsd_timestamp_with_milliseconds_and_year() -> None:
    header = parse_header("<166>Dec 31 2025 23:20:01.250: %ASA-6-1: x", CTX, split_tag=False)
    assert header is not None and header.timestamp is not None
    assert header.timestamp == datetime(2025, 12, 31, 23, 20, 1, 250000, tzinfo=VIETNAM)


# --- auditd ------------------------------------------------------------------------------------------

_GROUP = [
    "type=SYSCALL msg=audit(1767196862.418:10): arch=c000003e syscall=59 success=yes pid=5 ppid=1 uid=0"
    ' comm="ls"',
    'type=EXECVE msg=audit(1767196862.418:10): argc=2 a0="ls" a1="-la"',
    "type=EOE msg=audit(1767196862.418:10):",
]


def test_assembler_closes_a_group_on_eoe() -> None:
    asm = AuditdAssembler()
    assert asm.push(_GROUP[0]) == []
    assert asm.push(_GROUP[1]) == []
    assert asm.push(_GROUP[2]) == ["\n".join(_GROUP)]
    assert asm.flush() == []


def test_assembler_closes_on_a_new_serial_and_on_flush() -> None:
    asm = AuditdAssembler()
    login = "type=USER_LOGIN msg=audit(1767196862.500:11): pid=9 uid=0 msg='op=login acct=\"a\" res=failed'"
    assert asm.push(_GROUP[0]) == []
    assert asm.push(login) == [_GROUP[0]]
    assert asm.flush() == [login]


def test_assembler_keeps_nodes_apart_and_passes_junk_through() -> None:
    asm = AuditdAssembler()
    a = "node=a type=SYSCALL msg=audit(1767196862.418:10): pid=1"
    b = "node=b type=SYSCALL msg=audit(1767196862.418:99): pid=2"
    assert asm.push(a) == [] and asm.push(b) == []
    assert asm.push("garbage line") == ["garbage line"]
    assert asm.push("node=a type=EOE msg=audit(1767196862.418:10):") == [
        a + "\nnode=a type=EOE msg=audit(1767196862.418:10):"
    ]
    assert asm.flush() == [b]


def test_assembler_bounds_a_runaway_group() -> None:
    asm = AuditdAssembler(max_lines=3)
    line = "type=PATH msg=audit(1767196862.418:10): item=0"
    out = [group for _ in range(7) for group in asm.push(line)]
    assert [g.count("\n") + 1 for g in out] == [3, 3]
    assert asm.flush() == [line]


def test_split_execve_arguments_and_hex_fields_are_decoded() -> None:
    raw = "\n".join(
        [
            "type=SYSCALL msg=audit(1767196862.418:10): arch=c00000b7 syscall=221 success=yes pid=5"
            ' ppid=1 uid=0 comm=6D7920636D64 exe="/usr/bin/python3" key=(null)',
            'type=EXECVE msg=audit(1767196862.418:10): argc=2 a0="python3"'
            ' a1_len=10 a1[0]=2D6320 a1[1]="print"',
            "type=CWD msg=audit(1767196862.418:10): cwd=2F746D702F6120622063",
        ]
    )
    doc = AUDITD.parse(raw, CTX)
    assert doc["process"]["args"] == ["python3", "-c print"]
    assert doc["process"]["name"] == "my cmd"
    assert doc["process"]["working_directory"] == "/tmp/a b c"
    assert doc["auditd"]["data"]["SYSCALL"] == "execve" and doc["auditd"]["data"]["ARCH"] == "aarch64"
    assert doc["auditd"]["data"]["key"] == "(null)"
    assert doc["event"]["action"] == "executed"


def test_quoted_values_that_look_like_hex_stay_as_written() -> None:
    raw = 'type=SYSCALL msg=audit(1767196862.418:10): arch=c000003e syscall=2 comm="CAFE" exe="/x"'
    assert AUDITD.parse(raw, CTX)["auditd"]["data"]["comm"] == "CAFE"


# --- key=value, CEF ------------------------------------------------------------------------------------


def test_fortigate_pairs_with_quotes_escapes_and_empty_values() -> None:
    pairs = parse_pairs('a=1 msg="User \\"x\\" said = hi" empty="" bare= b=2 a=3')
    assert pairs == {"a": "1", "msg": 'User "x" said = hi', "empty": "", "bare": "", "b": "2"}


def test_cef_extension_escapes_and_spaces() -> None:
    ext = parse_extension("msg=a\\=b c\\\\d\\ne  spt=80 request=http://x/?q\\=1 cs1Label=Rule Name")
    assert ext == {"msg": "a=b c\\d\ne", "spt": "80", "request": "http://x/?q=1", "cs1Label": "Rule Name"}


def test_cef_header_pipes_and_backslashes() -> None:
    doc = CEF.parse("CEF:0|V\\|endor|Pro\\\\duct|1.0|sig\\|1|Name|Very-High|src=10.0.0.1", CTX)
    assert doc["cef"]["device"] == {
        "vendor": "V|endor",
        "product": "Pro\\duct",
        "version": "1.0",
        "event_class_id": "sig|1",
    }
    assert doc["event"]["severity"] == 10
    assert doc["source"]["ip"] == "10.0.0.1"


def test_cef_sniff_needs_seven_pipes() -> None:
    assert CEF.sniff("<134>Jan  1 00:00:00 h CEF:0|a|b|c|d|e|5|")
    assert not CEF.sniff("the CEF:0 format is described elsewhere")


# --- common helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1767197662", datetime(2025, 12, 31, 16, 14, 22, tzinfo=UTC)),
        ("1767197662123", datetime(2025, 12, 31, 16, 14, 22, 123000, tzinfo=UTC)),
        ("1767197662123456", datetime(2025, 12, 31, 16, 14, 22, 123456, tzinfo=UTC)),
        ("1767197662123456789", datetime(2025, 12, 31, 16, 14, 22, 123456, tzinfo=UTC)),
        (1767197662.5, datetime(2025, 12, 31, 16, 14, 22, 500000, tzinfo=UTC)),
    ],
)
def test_epoch_units_are_told_apart_by_magnitude(value: str | float, expected: datetime) -> None:
    assert epoch_to_datetime(value) == expected


@pytest.mark.parametrize("value", ["0", "-5", "abc", "99999999999999999999999", "nan", float("inf")])
def test_bad_epochs_are_refused(value: str | float) -> None:
    with pytest.raises(NormalizeError):
        epoch_to_datetime(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("999.1.1.1", None),
        ("web01", None),
        ("-", None),
    ],
)
def test_only_literal_addresses_become_ips(value: str, expected: str | None) -> None:
    assert clean_ip(value) == expected


def test_host_name_is_the_lower_case_short_name() -> None:
    assert host_fields("WEB01.sotttt.gov.vn") == {"name": "web01", "hostname": "WEB01.sotttt.gov.vn"}
    assert host_fields("10.20.0.254") == {
        "name": "10.20.0.254",
        "hostname": "10.20.0.254",
        "ip": "10.20.0.254",
    }


def test_access_log_escapes_become_utf8_text() -> None:
    assert unescape('\\xc4\\x91\\xe1\\xbb\\x93ng \\"x\\"') == 'đồng "x"'
    assert unescape("no escapes") == "no escapes"
