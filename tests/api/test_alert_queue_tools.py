"""The queue's tools on both stores: status tabs with their counts, the new-alerts poll, the CSV export
(read back as a spreadsheet reads it), and the alert page's pivots to the event explorer and its
related alerts by host, user, source IP and rule."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.alerts.pivots import kql_phrase
from api.auth.deps import Role
from api.auth.testing import login
from soc_core.alert import Severity
from soc_core.kql import EVENT_FIELDS, Match, parse_for
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.contract.test_store_triage_contract import T0, triage_alert

HOSTILE = '=HYPERLINK("http://evil","Đã xóa")'


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test", alert_export_max_rows=4)
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        yield c


def _event(ip: str, message: str = "") -> dict[str, object]:
    return {
        "@timestamp": T0.isoformat(),
        "message": message or f"failed login from {ip}",
        "source": {"ip": ip},
    }


@pytest.fixture
def seeded(store: Store) -> Store:
    alerts = [
        triage_alert(1, event=_event("203.0.113.9")),
        triage_alert(2, severity=Severity.CRITICAL, host="web02", user="root", event=_event("203.0.113.9")),
        triage_alert(3, rule="r-usb", rule_name="USB lưu trữ", user=None, technique=None),
        triage_alert(4, rule="r-fw", rule_name=HOSTILE, host="-cmd", user="+sum", severity=Severity.LOW),
        triage_alert(  # mentions the address, but its source is another one
            5,
            rule="r-dns",
            rule_name="DNS",
            host="dns1",
            user="svc",
            event=_event("198.51.100.7", "query 203.0.113.9"),
        ),
        triage_alert(
            6, rule="r-far", rule_name="Far", host="far", user="far", minutes=300, event=_event("203.0.113.9")
        ),
    ]
    alerts[1].triage.status = alerts[2].triage.status = alerts[2].triage.status.__class__("resolved")
    alerts[3].triage.status = alerts[3].triage.status.__class__("false_positive")
    store.put_alerts(alerts)
    store.refresh()
    return store


def test_status_tabs_count_every_status_under_the_other_filters(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    page = client.get("/alerts").text
    assert 'id="filter-status"' not in page  # tabs, not a dropdown
    counts = dict(re.findall(r'data-count="(\w+)">([\d.,]+)<', page))
    assert counts == {
        "open": "3",
        "new": "3",
        "acknowledged": "0",
        "in_progress": "0",
        "resolved": "2",
        "false_positive": "1",
        "all": "6",
    }
    assert re.search(r'class="tab active" data-status="open"', page)
    narrowed = client.get("/alerts", params={"status": "resolved", "rule": "r-brute"}).text
    assert dict(re.findall(r'data-count="(\w+)">([\d.,]+)<', narrowed))["resolved"] == "1"
    assert re.search(r'class="tab active" data-status="resolved"', narrowed)
    assert 'href="/alerts?rule=r-brute&amp;status=false_positive"' in narrowed  # a tab keeps the filters
    assert 'href="/alerts?rule=r-brute"' in narrowed  # open, the default
    assert '<input type="hidden" name="status" value="resolved">' in narrowed  # the form keeps the tab
    rows = client.get("/alerts", params={"status": "resolved", "collapse": "none"}).text
    assert rows.count('class="alert-row') == 2


def test_the_poll_counts_alerts_stored_since_the_page_was_shown(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    page = client.get("/alerts", params={"severity": "high"}).text
    poll = re.search(r'data-poll="([^"]+)" data-since="([^"]+)"', page)
    assert poll is not None
    url = f"{poll.group(1).replace('&amp;', '&')}&since={quote(poll.group(2))}"  # as queue.js asks
    first = client.get(url).json()
    assert first["new"] == 0 and first["status_counts"]["open"] == 3  # alerts 1, 5 and 6: high and new
    later = datetime.now(UTC) + timedelta(seconds=1)
    now = later.replace(microsecond=0)
    fresh = [
        triage_alert(20, severity=Severity.HIGH, created_at=later, **{"@timestamp": now}),
        triage_alert(
            21, severity=Severity.LOW, created_at=later, **{"@timestamp": now}
        ),  # not under the filter
        triage_alert(
            22, severity=Severity.HIGH, created_at=later, **{"@timestamp": now - timedelta(hours=20)}
        ),
        triage_alert(
            23, severity=Severity.HIGH, created_at=later, **{"@timestamp": now - timedelta(hours=30)}
        ),
    ]  # 22 is a late event's alert, within the indicator's 24 hours; 23 is older: tabs only
    seeded.put_alerts(fresh)
    seeded.refresh()
    answer = client.get(url).json()
    assert answer["new"] == 2 and answer["status_counts"]["new"] == 6
    assert client.get("/api/v1/alerts/news", params={"since": later.isoformat()}).json()["new"] == 0
    assert client.get("/api/v1/alerts/news").status_code == 422
    assert client.get("/api/v1/alerts/news", params={"since": "yesterday"}).status_code == 422


def _sheet(resp_content: bytes) -> list[list[str]]:
    """What a spreadsheet reads: a BOM says UTF-8 (then dropped), cells split as CSV."""
    assert resp_content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(resp_content.decode("utf-8-sig"), newline="")))


def test_csv_export_is_the_filtered_queue_read_back_as_a_spreadsheet(
    client: TestClient, seeded: Store
) -> None:
    login(client, seeded, role=Role.VIEWER)
    page = client.get("/alerts", params={"status": "all", "sort": "oldest"}).text
    link = re.search(r'href="(/api/v1/alerts/export\.csv\?[^"]+)" id="export-csv"', page)
    assert link is not None
    resp = client.get(link.group(1).replace("&amp;", "&"))
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].startswith('attachment; filename="canh-bao-')
    assert (resp.headers["x-total-count"], resp.headers["x-export-rows"]) == ("6", "4")  # bound: 4 here
    header, *rows = _sheet(resp.content)
    assert header[:5] == ["id", "time_local", "time_utc", "severity", "status"]
    col = {name: n for n, name in enumerate(header)}
    assert [r[col["host"]] for r in rows] == ["web01", "web02", "web01", "'-cmd"]  # oldest first, 4 rows
    hostile = rows[3]
    assert hostile[col["rule_name"]] == "'" + HOSTILE and hostile[col["user"]] == "'+sum"
    assert rows[2][col["rule_name"]] == "USB lưu trữ" and rows[2][col["user"]] == ""
    assert rows[0][col["source_ip"]] == "203.0.113.9" and rows[0][col["time_local"]] == "2025-07-01 15:01:00"
    assert rows[1][col["status"]] == "resolved" and rows[3][col["status"]] == "false_positive"
    only = client.get("/api/v1/alerts/export.csv", params={"severity": "critical"})
    assert [r[col["host"]] for r in _sheet(only.content)[1:]] == ["web02"]
    searched = client.get("/api/v1/alerts/export.csv", params={"q": "host_name:web0* and not user_name:root"})
    assert [r[col["id"]] for r in _sheet(searched.content)[1:]] == [
        triage_alert(3, rule="r-usb").id,
        triage_alert(1).id,
    ]
    by_severity = client.get("/api/v1/alerts/export.csv", params={"sort": "severity", "status": "new"})
    assert [r[col["severity"]] for r in _sheet(by_severity.content)[1:]] == ["high", "high", "high"]
    assert client.get("/api/v1/alerts/export.csv", params={"q": "host_name:("}).status_code == 422


def test_pivots_link_to_the_explorer_url_contract(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    target = triage_alert(1).id
    detail = client.get(f"/api/v1/alerts/{target}").json()
    links = {p["by"]: p for p in detail["pivots"]}
    assert set(links) == {"host", "user", "source_ip"}
    for by, field, value in (
        ("host", "host.name", "web01"),
        ("user", "user.name", "admin"),
        ("source_ip", "source.ip", "203.0.113.9"),
    ):
        url = urlsplit(links[by]["url"])
        assert url.path == "/events"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert set(query) == {"q", "start", "end"}
        assert parse_for(query["q"], EVENT_FIELDS) == Match(field, value)
        start, end = (datetime.fromisoformat(query[k]) for k in ("start", "end"))
        at = T0 + timedelta(minutes=1)
        assert (start, end) == (at - timedelta(minutes=15), at + timedelta(minutes=15))
    page = client.get(f"/alerts/{target}").text
    assert 'id="pivots"' in page and 'href="/events?q=host.name%3A%22web01%22&amp;start=' in page
    wider = client.get(
        f"/alerts/{target}/around", params={"by": "user", "minutes": 90}, follow_redirects=False
    )
    assert wider.status_code == 303
    query = {k: v[0] for k, v in parse_qs(urlsplit(wider.headers["location"]).query).items()}
    assert query["q"] == 'user.name:"admin"' and query["start"] == "2025-07-01T06:31:00Z"
    assert client.get(f"/alerts/{target}/around", params={"minutes": 0}).status_code == 422
    assert client.get(f"/alerts/{target}/around", params={"by": "rule"}).status_code == 422
    no_user = triage_alert(3, rule="r-usb").id
    assert client.get(f"/alerts/{no_user}/around", params={"by": "user"}).status_code == 422


@pytest.mark.parametrize("value", ['a"b', "C:\\Windows\\System32\\netsh.exe", "x\\", '\\"', "đã xóa *?"])
def test_a_value_is_quoted_so_the_parser_reads_it_back_as_itself(value: str) -> None:
    assert parse_for(f"host.name:{kql_phrase(value)}", EVENT_FIELDS) == Match("host.name", value)


def test_related_alerts_by_host_user_source_ip_and_rule(client: TestClient, seeded: Store) -> None:
    login(client, seeded, role=Role.VIEWER)
    detail = client.get(f"/api/v1/alerts/{triage_alert(1).id}").json()
    related = {a["event_ids"][0]: detail["related_by"][a["id"]] for a in detail["related"]}
    assert related == {
        "ev-000002": ["source_ip", "rule"],  # another host and user, the same source and rule
        "ev-000003": ["host"],
    }  # 5 only mentions the address; 6 is five hours later
    page = client.get(f"/alerts/{triage_alert(1).id}").text
    assert 'data-by="source_ip"' in page and 'id="related-alerts"' in page
