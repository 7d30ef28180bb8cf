"""One query language, two stores: every KQL query of the corpus finds the same events on SQLite
(FTS5 + json_each) and on Elasticsearch (search_text + term/wildcard/range), and the ones we say.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc_core.errors import QueryError
from soc_core.event import Event
from soc_core.kql import EVENT_FIELDS, parse_for
from soc_core.store import EventQuery, Store
from stores.sqlite.store import SqliteStore

BASE = datetime(2025, 7, 1, 23, 0, tzinfo=UTC)


def ev(n: int, *, hours: int = 0, **doc: Any) -> Event:
    """Event `q<n>`, `n` minutes (plus `hours`) after BASE: the corpus spans three days (indices)."""
    when = BASE + timedelta(hours=hours, minutes=n)
    body: dict[str, Any] = {
        "@timestamp": when.isoformat(),
        "event": {"id": f"q{n:02d}", "kind": "event", "code": "1"},
        "host": {"name": "ws01"},
        "soc": {"source": {"id": "src-a"}, "unit": {"id": "unit-a"}},
    }
    for key, value in doc.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return Event.from_doc(body)


NETSH = "C:\\Windows\\System32\\netsh.exe"

CORPUS = [
    ev(
        1,
        message="Đã xóa tệp nhật ký bảo mật",
        event={"code": "1102", "category": ["iam"]},
        user={"name": "admin"},
        tags=["windows", "audit"],
    ),
    ev(
        2,
        message="Process created",
        event={"code": "4688", "category": ["process"]},
        process={
            "executable": NETSH,
            "name": "netsh.exe",
            "pid": 4242,
            "command_line": "netsh advfirewall set allprofiles state off",
        },
        source={"ip": "10.0.0.5", "port": 50123},
        tags=["firewall", "windows"],
    ),
    ev(
        3,
        hours=2,
        message="Đăng nhập thất bại",
        event={"code": "4625", "outcome": "failure"},
        host={"name": "WS02"},
        user={"name": "Nguyễn Văn A"},
        source={"ip": "192.168.1.20", "port": 3389},
        winlog={"channel": "Security", "event_data": {"TargetUserName": "Administrator", "LogonType": "10"}},
    ),
    ev(
        4,
        hours=2,
        message="mimikatz sekurlsa::logonpasswords",
        host={"name": "srv-db01"},
        process={"executable": "C:\\Users\\Public\\mimikatz.exe", "name": "mimikatz.exe", "pid": 7},
        user={"name": "svc_backup"},
        winlog={"channel": "Security", "event_data": {"TargetUserName": "svc_backup"}},
        tags=["credential"],
    ),
    ev(
        5,
        hours=26,
        message="<script>alert(1)</script> ' OR 1=1 --",
        host={"name": "web01"},
        url={"original": "/login?user=admin'--"},
        user={"name": "a*b"},
    ),
    ev(
        6,
        hours=26,
        message="powershell -enc SQBFAFgA",
        event={"code": "4104", "category": ["process", "network"]},
        process={"name": "powershell.exe", "pid": 5120},
        destination={"ip": "2001:db8::1", "port": 443},
    ),
    ev(
        7,
        hours=26,
        message="ran netsh.exe twice",
        user={"name": "axb"},
        source={"ip": "10.9.8.7", "port": 80},
    ),
    ev(8, hours=27, message='he said "file moved" then left', user={"name": "ADMIN"}),
]

# query -> the event numbers it must find, on both stores
CASES: list[tuple[str, set[int]]] = [
    ("", {1, 2, 3, 4, 5, 6, 7, 8}),
    ("*", {1, 2, 3, 4, 5, 6, 7, 8}),
    # free text: case and diacritics do not matter, words in any field, quoted phrases in order
    ("da xoa", {1}),
    ("ĐÃ XÓA", {1}),
    ('"xoa da"', set()),
    ('"dang nhap that bai"', {3}),
    ("nguyen", {3}),
    ("mimikatz", {4}),
    ("MIMI*", {4}),
    ("sekurlsa logonpasswords", {4}),
    ("netsh", {2, 7}),
    ("netsh.exe", {2, 7}),
    (NETSH, {2}),
    (f'"{NETSH}"', {2}),
    ("windows system*", {2}),
    ('"file moved"', {8}),
    ("1102", {1}),
    # exact field values, wildcards, escapes
    ("user.name:admin", {1}),
    ("user.name:ADMIN", {8}),
    ("user.name:(admin or ADMIN)", {1, 8}),
    ("user.name:a*b", {5, 7}),
    ("user.name:a\\*b", {5}),
    ("user.name:a?b", {5, 7}),
    ("user.name:*", {1, 3, 4, 5, 7, 8}),
    ("not user.name:*", {2, 6}),
    (f'process.executable:"{NETSH}"', {2}),
    (f"process.executable:{NETSH}", {2}),
    ("process.executable:*netsh*", {2}),
    ("process.name:*.exe and not process.name:mimikatz.exe", {2, 6}),
    ('process.command_line:"netsh advfirewall set allprofiles state off"', {2}),
    ("host.name:ws*", {1, 2, 6, 7, 8}),
    ("host.name:WS*", {3}),
    ("event.code:4625", {3}),
    ("event.category:process", {2, 6}),
    ("event.category:(iam or network)", {1, 6}),
    ("tags:windows and tags:firewall", {2}),
    ("tags:windows and not tags:firewall", {1}),
    ("message:*netsh*", {7}),
    ('message:"ran netsh.exe twice"', {7}),
    ('url.original:"/login?user=admin\'--"', {5}),
    ("winlog.event_data.TargetUserName:Administrator", {3}),
    ("winlog.event_data.TargetUserName:svc*", {4}),
    ("winlog.event_data.LogonType:*", {3}),
    ("winlog:{ event_data.TargetUserName:svc_backup }", {4}),
    ("user:{ name:admin or name:ADMIN }", {1, 8}),
    # numbers, addresses, times
    ("process.pid >= 4242", {2, 6}),
    ("process.pid < 4242", {4}),
    ("process.pid:7", {4}),
    ("source.port > 1024 and source.port <= 50123", {2, 3}),
    ("destination.port:443", {6}),
    ("source.ip:10.0.0.5", {2}),
    ("source.ip:10.0.0.0/8", {2, 7}),
    ("destination.ip:2001:db8::1", {6}),
    ('destination.ip:"2001:db8::/32"', {6}),
    ('@timestamp >= "2025-07-02T01:00:00Z"', {3, 4, 5, 6, 7, 8}),
    ('@timestamp < "2025-07-03"', {1, 2, 3, 4}),
    ('@timestamp >= "2025-07-03T08:00:00+07:00" and @timestamp < "2025-07-03T02:07:30Z"', {5, 6, 7}),
    # boolean structure: not > and > or, parentheses
    ("mimikatz or netsh and user.name:axb", {4, 7}),
    ("(mimikatz or netsh) and host.name:srv*", {4}),
    ("not (netsh or mimikatz) and host.name:ws01", {1, 6, 8}),
    ("netsh not ran", {2}),
    # hostile text is only ever a value
    ("' OR 1=1 --", {5}),  # punctuation is dropped: the words 1 1, in order
    ('"\') OR 1=1; DROP TABLE events; --"', set()),
    ('message:"x\') OR 1=1 --"', set()),
    ("user.name:\"admin' OR '1'='1\"", set()),
    ('"{\\"match_all\\": {}}"', set()),
    ("script alert", {5}),
]


@pytest.fixture
def corpus(store: Store) -> Store:
    result = store.put_events(CORPUS)
    assert result.created == len(CORPUS)
    store.refresh()
    return store


def test_every_query_finds_the_same_events_on_both_stores(corpus: Store) -> None:
    """All cases in one test per store (one Elasticsearch setup), every mismatch listed."""
    wrong: dict[str, tuple[set[int], set[int]]] = {}
    for query, expected in CASES:
        page = corpus.search_events(EventQuery(kql=parse_for(query, EVENT_FIELDS), size=100))
        found = {int(e.id[1:]) for e in page.items}
        if found != expected or page.total != len(expected):
            wrong[query] = (found, expected)
    assert wrong == {}


def test_a_query_combines_with_the_other_filters_and_pages(corpus: Store) -> None:
    node = parse_for("windows or netsh or mimikatz", EVENT_FIELDS)
    first = corpus.search_events(EventQuery(kql=node, size=2, host_name="ws01"))
    assert first.total == 3 and first.cursor is not None
    rest = corpus.search_events(EventQuery(kql=node, size=2, host_name="ws01", cursor=first.cursor))
    assert [e.id for e in first.items + rest.items] == ["q07", "q02", "q01"]


HOSTILE = [
    "'; DROP TABLE events; --",
    'message:"x\'); DELETE FROM events; --"',
    'message:"x"); DELETE FROM events; --"',
    "host.name:*'*",
    'user.name:"\\" OR 1=1"',
    "url.original:\"\\u0027 OR json_extract(doc, '$') --\"",
    "process.executable:C:\\x';--*",
]


def test_hostile_queries_are_values_or_refused_and_leave_the_store_intact(corpus: Store) -> None:
    answered = 0
    for query in HOSTILE:
        try:
            node = parse_for(query, EVENT_FIELDS)
        except QueryError:
            continue
        assert corpus.search_events(EventQuery(kql=node)).total == 0
        answered += 1
    assert answered >= 5
    assert corpus.search_events(EventQuery(size=100)).total == len(CORPUS)
    if isinstance(corpus, SqliteStore):
        with sqlite3.connect(corpus.path) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(CORPUS)
