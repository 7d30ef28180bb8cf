"""One query language, two stores: every KQL query of the corpus finds the same events on SQLite
(FTS5 + json_each) and on Elasticsearch (search_text + term/wildcard/range), and the ones we say.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from soc_core.alert import AlertStatus
from soc_core.errors import QueryError
from soc_core.event import Event
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, parse_for
from soc_core.store import AlertSearch, EventQuery, Store
from stores.sqlite.store import SqliteStore
from tests.contract.test_store_triage_contract import queue, triage_alert  # noqa: F401 - a fixture

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
    ("source.ip:10.8.0.0/13", {7}),  # not on an octet: 10.0.0.5 shares the first one only
    ("source.ip:192.168.1.20/32", {3}),
    ("source.ip:0.0.0.0/0", {2, 3, 7}),
    ("not source.ip:10.0.0.0/8", {1, 3, 4, 5, 6, 8}),
    ("soc.unit.id:unit-a and not soc.system.id:*", {1, 2, 3, 4, 5, 6, 7, 8}),
    ("soc.source.id:src-*", {1, 2, 3, 4, 5, 6, 7, 8}),
    # `not` keeps the events without the field; a leading wildcard scans the values
    ("not user.name:admin", {2, 3, 4, 5, 6, 7, 8}),
    ("not user.name:a*", {2, 3, 4, 6, 8}),
    ("user.name:*min", {1}),
    ("not source.ip:10.0.0.5", {1, 3, 4, 5, 6, 7, 8}),
    ('not destination.ip:"2001:db8::/32"', {1, 2, 3, 4, 5, 7, 8}),
    ("not (user.name:admin or event.code:4625)", {2, 4, 5, 6, 7, 8}),
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


ALERT_CASES: list[tuple[str, set[int]]] = [
    ("xoa nhat ky", {6}),
    ('"XÓA NHẬT KÝ"', {6}),
    ("usb", {3}),
    ('rule.name:"USB mass storage"', {3}),
    ("rule.name:usb*", set()),
    ("severity:(critical or low)", {2, 4}),
    ("host_name:web0? and not user_name:root", {1, 3, 5, 6}),
    ("checklist:VN-1*", {1, 2, 3, 4, 6}),
    ("threat.technique.id:T15*", {5}),
    ("brute", {1, 2, 4, 5, 6}),
    ("brute and not threat:{ technique.id:T1110 }", {5}),
    ("soc.unit.name:UBND-XA", {4}),
    ('@timestamp >= "2025-07-01T15:03:00+07:00"', {3, 4, 5, 6}),
    ("failed login", {1, 2, 3, 4, 5, 6}),
    ('"login 4"', {4}),
    ("triage.status:new", {1, 2, 3, 4, 5, 6}),
]


@pytest.fixture
def alerts(queue: Store) -> Store:  # noqa: F811 - the triage contract's five alerts, and a sixth
    queue.put_alerts([triage_alert(6, rule="r-clear", rule_name="Xóa nhật ký bảo mật")])
    queue.refresh()
    return queue


def _alert_numbers(store: Store, query: str) -> set[int]:
    page = store.search_alert_queue(AlertSearch(kql=parse_for(query, ALERT_FIELDS), size=100))
    assert page.total == len(page.items)
    return {int(a.event_ids[0][3:]) for a in page.items}


def test_every_alert_query_finds_the_same_alerts_on_both_stores(alerts: Store) -> None:
    wrong = {}
    for query, expected in ALERT_CASES:
        found = _alert_numbers(alerts, query)
        if found != expected:
            wrong[query] = (found, expected)
    assert wrong == {}


def test_an_alerts_free_text_leaves_out_its_events_raw_record_and_schema_version(store: Store) -> None:
    """As for events: the raw record repeats the normalised fields (and was more than half of an
    alert's words), and the schema version's digits would make free text for `9` match every alert."""
    event = {
        "@timestamp": "2025-07-01T23:07:00+00:00",
        "event": {"code": "4688", "original": "<Event>zzrawonly netsh</Event>"},
        "ecs": {"version": "9.4.0"},
        "process": {"name": "netsh.exe"},
    }
    store.put_alerts([triage_alert(7, event=event)])
    store.refresh()
    assert _alert_numbers(store, "netsh") == {7}  # the event's fields are searched
    assert _alert_numbers(store, "zzrawonly") == set()
    assert _alert_numbers(store, "9") == set()


def test_a_triage_change_is_searchable_at_once(alerts: Store) -> None:
    """The words follow the document: SQLite's FTS triggers, Elasticsearch's re-indexed alert."""
    target = triage_alert(1).id
    got = alerts.get_alert_versioned(target)
    assert got is not None
    alert, version = got
    changed = alert.triage.model_copy(update={"status": AlertStatus.ACKNOWLEDGED, "tags": ["đã-xem"]})
    assert alerts.update_alert_triage(target, changed, version=version)
    alerts.refresh()
    assert _alert_numbers(alerts, "triage.status:acknowledged") == {1}
    assert _alert_numbers(alerts, "da xem") == {1}
    assert _alert_numbers(alerts, "triage.tags:đã-xem and brute") == {1}
    assert _alert_numbers(alerts, "not triage.status:new") == {1}
    # facets and groups take the same condition
    search = AlertSearch(kql=parse_for("brute", ALERT_FIELDS))
    facets = alerts.alert_facets(search, ["severity", "checklist"])
    assert sorted((b.value, b.count) for b in facets["severity"]) == [
        ("critical", 1),
        ("high", 3),
        ("low", 1),
    ]
    assert alerts.search_alert_groups(search).total == 5
