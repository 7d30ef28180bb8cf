"""Records a text format must refuse become dead letters whose reason tells an operator why."""

from __future__ import annotations

import pytest

from normalizers.stage import NormalizeStage
from soc_core.records import DeadLetter
from tests.normalizers.test_golden import make_record

STAGE = NormalizeStage()

CASES = [
    ("linux_syslog", "", "not a syslog line"),
    ("linux_syslog", "hello world", "not a syslog line"),
    ("linux_syslog", "<999>Jan  1 00:00:00 host app: x", "priority <999> out of range"),
    ("linux_syslog", "Feb 30 10:00:00 host app: x", "invalid date in syslog timestamp"),
    ("linux_syslog", "Jan  1 25:00:00 host app: x", "invalid time 25:00:00"),
    ("linux_syslog", "<13>1 2025-13-45T00:00:00Z host app - - - x", "bad timestamp"),
    ("auditd", "", "empty audit record"),
    ("auditd", "type=SYSCALL arch=c000003e", "not an audit record"),
    ("auditd", "type=SYSCALL msg=audit(0.000:1): arch=c000003e", "epoch timestamp out of range"),
    (
        "auditd",
        "type=SYSCALL msg=audit(1767196862.418:1): a=1\n"
        'type=EXECVE msg=audit(1767196862.418:2): argc=1 a0="x"',
        "holds 2 events",
    ),
    ("journald", "not json", "journald record is not JSON"),
    ("journald", "[1, 2]", "must be a JSON object, got list"),
    ("journald", '{"MESSAGE": "x"}', "no __REALTIME_TIMESTAMP"),
    ("web_access", '1.2.3.4 - - [01/Foo/2025:00:00:00 +0700] "GET / HTTP/1.1" 200 1', "bad month"),
    ("web_access", "GET / HTTP/1.1 200", "not an Apache/nginx combined or common log line"),
    ("web_json", "{", "web JSON log is not JSON"),
    ("web_json", '"just a string"', "must be a JSON object, got str"),
    ("web_json", '{"level": "info", "msg": "started"}', "not an access log"),
    ("web_json", '{"status": 200, "uri": "/", "time": "yesterday"}', "bad timestamp"),
    ("iis_w3c", "#Fields: date time c-ip", "only header lines"),
    ("iis_w3c", "2025-01-01 00:00:00 1.2.3.4", "the #Fields header names 15"),
    (
        "iis_w3c",
        "#Fields: date time c-ip\n2025-01-01 00:00:00 1.2.3.4\n2025-01-01 00:00:01 1.2.3.5",
        "more than one",
    ),
    ("iis_w3c", "#Fields: date time c-ip\n2025-02-30 00:00:00 1.2.3.4", "invalid date/time"),
    ("fortigate", "hello", "no key=value pair"),
    ("fortigate", "a=1 b=2", "without logid/devid"),
    ("fortigate", 'logid="0000000013" devid="FG1" type="traffic"', "no eventtime, no date/time"),
    ("cisco_asa", "<166>Jan 01 2025 00:00:00 asa : hello", "no %ASA-<level>-<id>"),
    ("cef", "CEF:0|a|b", "CEF header needs 7"),
    ("cef", "no cef here", "no 'CEF:'"),
    ("cef", "CEF:0|v|p|1|id|name|5|rt=Foo 99 2025 00:00:00", "bad month"),
    ("bind_query", "zone example.com/IN: loaded serial 1", "not a BIND query log line"),
    ("bind_query", "01-Foo-2025 00:00:00.000 client 1.2.3.4#53 (a): query: a IN A + (5.6.7.8)", "bad month"),
]


@pytest.mark.parametrize(
    ("fmt", "payload", "reason"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_refused_with_a_clear_reason(fmt: str, payload: str, reason: str) -> None:
    result = STAGE(make_record(payload, fmt))
    assert isinstance(result, DeadLetter)
    assert result.format_tried == fmt
    assert result.stage == "normalize"
    assert result.raw == payload
    assert reason in result.reason, result.reason
    assert not result.reason.startswith("parser error")


def test_unrecognised_record_without_a_format() -> None:
    result = STAGE(make_record("\x00\x01 definitely nothing", None))
    assert isinstance(result, DeadLetter)
    assert "none recognised the record" in result.reason


def test_unknown_format_name_is_a_dead_letter_naming_the_known_ones() -> None:
    result = STAGE(make_record("x", "no_such_format"))
    assert isinstance(result, DeadLetter)
    assert "unknown log format 'no_such_format'" in result.reason
    assert "linux_syslog" in result.reason
