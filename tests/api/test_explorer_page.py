"""The explorer page (`/events`) on both stores, without a browser: one request renders the page of
matches, the histogram and the field sidebar; the value buttons lead to the URL contract; a query
that cannot be read is shown where it went wrong; documents and highlighted matches stay text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from soc_console.bars import bar_chart
from soc_console.explorer import add_clause, clause, marked, quoted, terms
from soc_core.event import Event
from soc_core.kql import EVENT_FIELDS, Match, Not, parse_for
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.conftest import make_event

RANGE = {"start": "2025-07-01T15:00:00", "end": "2025-07-01T16:00:00"}  # 08:00-09:00 UTC


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    events = [make_event(n, host="web01" if n % 2 else "ws01") for n in range(12)]
    events.append(
        Event.from_doc(
            {
                "@timestamp": "2025-07-01T08:30:00Z",
                "message": "<script>alert('msg')</script> Đã xóa \u202egnp.exe",
                "event": {"id": "ev-hostile", "original": "<img src=x onerror=alert(1)>"},
                "host": {"name": '"><img src=x onerror=alert(2)>'},
            }
        )
    )
    store.put_events(events)
    store.refresh()
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST)
        yield c


def _location(client: TestClient, params: dict[str, str]) -> dict[str, list[str]]:
    """Where a value button's GET leads (the redirect, not followed)."""
    resp = client.get("/events", params=params, follow_redirects=False)
    assert resp.status_code == 303, resp.text
    location = resp.headers["location"]
    assert location.startswith("/events?")
    return parse_qs(urlsplit(location).query)


def test_one_request_renders_the_page_the_histogram_and_the_sidebar(client: TestClient) -> None:
    resp = client.get("/events", params={**RANGE, "q": "host.name:web01"})
    assert resp.status_code == 200, resp.text
    html = resp.text
    assert re.search(r'id="event-total">6 ', html)
    assert html.count('class="event-row"') == 6
    assert html.count('class="bar"') == 6  # one-minute bars, one per matching minute
    assert 'data-field="host.name"' in html and 'data-field="winlog.event_data.TargetUserName"' in html
    assert re.search(r'value="host.name:&#34;web01&#34;" class="link filter-in"', html)
    export = unescape(re.search(r'id="export-csv" href="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    assert parse_qs(urlsplit(export).query)["start"] == ["2025-07-01T08:00:00Z"]  # the instants shown
    csv = client.get(export)
    assert csv.status_code == 200 and csv.content.count(b"\r\n") == 7  # the header and the 6 rows


def test_value_buttons_lead_to_the_url_contract(client: TestClient) -> None:
    added = _location(client, {**RANGE, "q": "ws01 or web01", "add": clause("host.name", 'a"b')})
    assert added["q"] == ['(ws01 or web01) and host.name:"a\\"b"'] and added["start"] == [RANGE["start"]]
    pivot = _location(client, {"q": "x", "start": "now-7d", "pivot": quoted("Đã xóa")})
    assert pivot == {"q": ['"Đã xóa"'], "start": ["now-7d"]}
    toggled = _location(client, {"toggle": "process.name"})
    assert toggled["columns"] == ["host.name,event.action,user.name,source.ip,message,process.name"]
    removed = _location(client, {"columns": "host.name,process.name", "toggle": "host.name"})
    assert removed["columns"] == ["process.name"]


def test_a_query_that_cannot_be_read_is_shown_where_it_went_wrong(client: TestClient) -> None:
    resp = client.get("/events", params={"q": "host.name:(web01 or"})
    assert resp.status_code == 422
    assert "line 1, column 20" in resp.text and 'id="query-error"' in resp.text
    assert 'value="host.name:(web01 or"' in resp.text  # kept in the bar to be fixed
    bad_time = client.get("/events", params={"start": "hier"})
    assert bad_time.status_code == 422 and "start:" in bad_time.text


def test_documents_and_marked_matches_stay_text(client: TestClient) -> None:
    page = client.get("/events", params={**RANGE, "q": "da xoa or alert"}).text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert (
        "&lt;script&gt;<mark>alert</mark>(&#39;msg&#39;)&lt;/script&gt; <mark>Đã</mark> <mark>xóa</mark>"
        in page
    )
    assert "&lt;U+202E&gt;gnp.exe" in page and "\u202e" not in page  # the override made visible
    fragment = client.get("/events/ev-hostile", params={"fragment": "1", "q": "alert"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in fragment.text and "<img" not in fragment.text
    assert "&#34;&gt;&lt;img src=x onerror=" in fragment.text
    whole = client.get("/events/ev-hostile", params={"q": "alert", "start": "now-7d"})
    assert whole.status_code == 200 and 'href="/events?q=alert&amp;start=now-7d"' in whole.text
    assert client.get("/events/no-such-event").status_code == 404


def test_inspectors_are_refused_the_explorer(store: Store) -> None:
    with TestClient(create_app(app_context(store, environment="test")), base_url="https://testserver") as c:
        login(c, store, role=Role.INSPECTOR)
        assert c.get("/events", headers={"accept": "text/html"}).status_code == 403
        assert c.get("/api/v1/events/histogram").status_code == 403


@pytest.mark.parametrize("value", ['a"b', "C:\\Windows\\System32\\netsh.exe", "*?:()", "not", "Đã xóa"])
def test_a_clicked_value_is_read_back_as_exactly_that_value(value: str) -> None:
    assert parse_for(clause("host.name", value), EVENT_FIELDS) == Match("host.name", value)
    assert parse_for(clause("host.name", value, exclude=True), EVENT_FIELDS) == Not(Match("host.name", value))


def test_clauses_keep_the_query_meaning() -> None:
    for q, expected in [
        ("", "x:1"),
        ("a b", "a b and x:1"),
        ("a or b", "(a or b) and x:1"),
        ("not a", "not a and x:1"),
    ]:
        node = parse_for(q, EVENT_FIELDS) if q else None
        assert add_clause(q, node, "x:1") == expected


def test_marks_ignore_case_and_diacritics_and_escape_first() -> None:
    found = terms(parse_for("da xoa and host.name:web* and not user.name:admin and netsh*", EVENT_FIELDS))
    assert (
        str(marked("message", "Đã XÓA <b>đăng</b>", found))
        == "<mark>Đã</mark> <mark>XÓA</mark> &lt;b&gt;đăng&lt;/b&gt;"
    )
    assert str(marked("process.executable", "C:\\netsh.exe", found)) == "C:\\<mark>netsh</mark>.exe"
    assert str(marked("host.name", "web01 webby", found)) == "<mark>web01</mark> <mark>webby</mark>"
    assert str(marked("url.original", "web01", found)) == "web01"  # another field's value: not here
    assert "admin" not in str(found)  # what is under a `not` is not marked
    assert str(marked(None, "a\x1bnetsh", found)) == "a␛<mark>netsh</mark>"


def test_the_bar_chart_draws_matches_and_links_their_ranges() -> None:
    t0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
    buckets = [(t0 + timedelta(minutes=m), c) for m, c in enumerate([0, 4, 0, 2])]
    chart = bar_chart(buckets, 60, lambda s, e: f"{s:%H%M}-{e:%H%M}")
    assert [(b.count, b.href) for b in chart.bars] == [(4, "0801-0802"), (2, "0803-0804")]
    assert chart.bars[0].height == 2 * chart.bars[1].height
    assert chart.y_labels[-1][1] == 4 and chart.x_labels[0][1] == "15:00"  # Asia/Ho_Chi_Minh


def test_pages_follow_the_cursor(client: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/events?" + "&".join(f"{k}={v}" for k, v in {**RANGE, "size": "5"}.items())
    while url:
        html = client.get(url).text
        seen += re.findall(r'class="event-row" data-id="([^"]+)"', html)
        found = re.search(r'<a href="([^"]+)" id="next-page"', html)
        url = unescape(found.group(1)) if found else None
    assert len(seen) == len(set(seen)) == 13  # every event once, newest first
    assert seen[:2] == ["ev-hostile", "ev-000011"] and seen[-1] == "ev-000000"
