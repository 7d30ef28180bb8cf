"""The explorer's API on both stores (issue 15): `q` on /api/v1/events is KQL with 422 problems that
point at the position, the histogram counts every match per bucket, the field sidebar counts values
in a sample of the newest matches, and exports stream CSV (BOM, escaped cells) and NDJSON up to a
setting's limit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import login
from api.events import service
from api.events.params import parse_events, resolve_time
from api.reports import cells
from soc_core.store import Store
from socpipe.app import create_app
from tests.backends import app_context
from tests.conftest import make_event
from tests.problems import problem

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
RANGE = {"start": "2025-07-01T08:00:00Z", "end": "2025-07-01T09:00:00Z"}


@pytest.fixture
def seeded(store: Store) -> Store:
    """20 events a minute apart from 08:00 UTC: odd ones on web01, every third says "Đã xóa"."""
    events = []
    for n in range(20):
        event = make_event(
            n,
            host="web01" if n % 2 else "ws01",
            message=f"Đã xóa nhật ký {n}" if n % 3 == 0 else f"Đăng nhập thành công {n}",
            user={"name": '=HYPERLINK("http://evil")' if n == 7 else f"cán bộ {n % 4}"},
        )
        event.doc["source"] = {"ip": f"10.0.0.{n % 5}"}
        events.append(event)
    store.put_events(events)
    store.refresh()
    return store


def _client(store: Store, **settings: Any) -> Iterator[TestClient]:
    app = create_app(app_context(store, environment="test", **settings))
    with TestClient(app, base_url="https://testserver") as c:
        login(c, store, role=Role.VIEWER)
        yield c


@pytest.fixture
def client(seeded: Store) -> Iterator[TestClient]:
    yield from _client(seeded)


def ids(client: TestClient, **params: Any) -> list[str]:
    resp = client.get("/api/v1/events", params={"size": 100, **params})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == len(body["items"])
    return [e["event"]["id"] for e in body["items"]]


def ev(*numbers: int) -> list[str]:
    return [f"ev-{n:06d}" for n in sorted(numbers, reverse=True)]


def test_q_is_kql_on_events(client: TestClient) -> None:
    assert ids(client, q="host.name:web01 and da xoa") == ev(3, 9, 15)
    assert ids(client, q='"ĐÃ XÓA nhật ký"') == ev(0, 3, 6, 9, 12, 15, 18)
    assert ids(client, q="source.ip:10.0.0.0/30 and not host.name:ws*") == ev(1, 3, 5, 7, 11, 13, 15, 17)
    assert ids(client, q='user.name:"cán bộ 3" or message:"Đã xóa nhật ký 0"') == ev(0, 3, 11, 15, 19)
    # the older exact filters and the time range still apply beside q
    assert ids(client, q="xoa", host="ws01") == ev(0, 6, 12, 18)
    assert ids(client, q="xoa", start="2025-07-01T08:10:00Z", end="2025-07-01T15:13:00+07:00") == ev(12)
    assert ids(client, q="xoa", start="2025-07-01T15:10:00") == ev(12, 15, 18)  # naive: Asia/Ho_Chi_Minh


def test_an_unreadable_query_or_time_is_a_422_that_says_where(client: TestClient) -> None:
    for params, location, says in [
        ({"q": "host.name:(web01 or"}, "query.q", "line 1, column 20"),
        ({"q": "hostname:web01"}, "query.q", "did you mean host.name"),
        ({"q": "source.port:many"}, "query.q", "is not a number"),
        ({"start": "yesterday"}, "query.start", "now-24h"),
        ({"start": "now-999999w"}, "query.start", "dates are between"),
        ({"start": "2025-07-01T09:00Z", "end": "2025-07-01T08:00Z"}, "query.end", "after start"),
    ]:
        for path in (
            "/api/v1/events",
            "/api/v1/events/histogram",
            "/api/v1/events/fields",
            "/api/v1/events/export",
        ):
            body = problem(client.get(path, params=params), 422)
            assert body["errors"][0]["location"] == location, (path, params, body)
            assert says in body["detail"], (path, params, body)


def test_relative_times_count_back_from_now() -> None:
    now = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
    assert resolve_time("now-15m", now) == now - timedelta(minutes=15)
    assert resolve_time("now-24h", now) == now - timedelta(hours=24)
    assert resolve_time("NOW - 7d", now) == now - timedelta(days=7)
    assert resolve_time("now", now) == now
    # a link's unencoded `+07:00` arrives as a space: still the same instant
    assert (
        resolve_time("2026-12-05T16:30:00 07:00", now)
        == resolve_time("2026-12-05T16:30:00+07:00", now)
        == now
    )
    params = parse_events({"q": "ws01"}, now=now).bounded(now)
    assert (params.start, params.end, params.start_text) == (now - timedelta(hours=24), now, "now-24h")
    assert params.link_params == {"q": "ws01", "start": "now-24h"}  # stays relative in links


def test_the_histogram_counts_every_match_per_bucket(client: TestClient) -> None:
    resp = client.get("/api/v1/events/histogram", params={**RANGE, "q": "host.name:web01", "interval": 600})
    body = resp.json()
    assert resp.status_code == 200, resp.text
    assert body["interval_s"] == 600 and body["total"] == 10
    assert [(b["start"][11:16], b["count"]) for b in body["buckets"]] == [
        ("08:00", 5),
        ("08:10", 5),
        ("08:20", 0),
        ("08:30", 0),
        ("08:40", 0),
        ("08:50", 0),
    ]
    auto = client.get("/api/v1/events/histogram", params=RANGE).json()
    assert auto["interval_s"] == 60 and len(auto["buckets"]) == 60 and auto["total"] == 20
    # days start at midnight in Asia/Ho_Chi_Minh (17:00 UTC)
    week = client.get(
        "/api/v1/events/histogram", params={"start": "2025-06-28T00:00:00", "end": "2025-07-05T00:00:00"}
    ).json()
    assert week["interval_s"] == 3 * 3600
    assert week["buckets"][0]["start"] == "2025-06-27T17:00:00Z"
    assert sum(b["count"] for b in week["buckets"]) == 20
    too_many = client.get("/api/v1/events/histogram", params={**RANGE, "interval": 1})
    assert problem(too_many, 422)["errors"][0]["location"] == "query.interval"


def test_the_field_sidebar_counts_values_in_the_newest_matches(seeded: Store) -> None:
    for client in _client(seeded, explorer_sample_size=6):
        body = client.get("/api/v1/events/fields", params={**RANGE, "q": "not xoa", "top": 2}).json()
        assert body["sample"] == 6  # events 19, 17, 16, 14, 13, 11
        fields = {f["field"]: f for f in body["fields"]}
        assert fields["host.name"]["present"] == 6
        assert fields["host.name"]["top"] == [{"value": "web01", "count": 4}, {"value": "ws01", "count": 2}]
        assert fields["user.name"]["top"] == [
            {"value": "cán bộ 1", "count": 2},
            {"value": "cán bộ 3", "count": 2},
        ]
        assert fields["winlog.event_data.TargetUserName"]["searchable"] is True
        assert "event.original" not in fields
        everything = client.get("/api/v1/events/fields", params=RANGE).json()
        assert everything["sample"] == 6


def _csv(resp: Any) -> list[dict[str, str]]:
    """The export as a spreadsheet reads it: the BOM says UTF-8, a leading `'` is not shown."""
    assert resp.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"), newline="")))
    header = [cells.unescape(c) for c in rows[0]]
    return [dict(zip(header, (cells.unescape(c) for c in row), strict=True)) for row in rows[1:]]


def test_csv_export_is_what_a_spreadsheet_reads_back(client: TestClient) -> None:
    resp = client.get(
        "/api/v1/events/export", params={"q": "host.name:web01", "columns": "host.name,user.name,message"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"].startswith('attachment; filename="events-')
    assert resp.headers["x-total-count"] == resp.headers["x-export-rows"] == "10"
    assert b"'=HYPERLINK" in resp.content  # escaped as written: a formula would run in the spreadsheet
    rows = _csv(resp)
    assert list(rows[0]) == ["@timestamp", "host.name", "user.name", "message"]
    assert [r["message"] for r in rows[:2]] == ["Đăng nhập thành công 19", "Đăng nhập thành công 17"]
    assert {r["user.name"] for r in rows} >= {'=HYPERLINK("http://evil")', "cán bộ 3"}
    assert len(rows) == 10


def test_exports_stream_by_cursor_up_to_the_setting(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "EXPORT_CHUNK", 3)  # several store reads, one cursor after another
    for client in _client(seeded, explorer_export_max_rows=8):
        resp = client.get("/api/v1/events/export", params={"format": "ndjson"})
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/x-ndjson"
        assert (resp.headers["x-total-count"], resp.headers["x-export-rows"]) == ("20", "8")
        docs = [orjson.loads(line) for line in resp.content.splitlines()]
        assert [d["event"]["id"] for d in docs] == ev(*range(12, 20))
        assert docs[0]["winlog"]["event_data"]["TargetUserName"] == "user19"  # whole documents
        rows = _csv(client.get("/api/v1/events/export", params={"q": "ws01"}))
        assert [r["@timestamp"] for r in rows][:2] == ["2025-07-01T08:18:00Z", "2025-07-01T08:16:00Z"]
        assert len(rows) == 8


def test_pick_interval_draws_about_sixty_bars() -> None:
    assert service.pick_interval(3600) == 60
    assert service.pick_interval(24 * 3600) == 30 * 60
    assert service.pick_interval(7 * 86400) == 3 * 3600
    huge = 8000 * 365 * 86400
    assert huge / service.pick_interval(huge) <= service.TARGET_BARS  # never more bars than a store draws


def test_the_page_reads_are_the_same_at_once_or_one_by_one(seeded: Store) -> None:
    now = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    params = parse_events({"q": "not xoa", **RANGE}, now=now).bounded(now)
    one_by_one, at_once = (
        service.explore(store=seeded, params=params, now=now, sample_size=5, parallel=parallel)
        for parallel in (False, True)
    )
    assert (
        [e.id for e in at_once.page.items]
        == [e.id for e in one_by_one.page.items]
        == ev(*(n for n in range(20) if n % 3))
    )
    assert at_once.page.total == one_by_one.page.total == 13
    assert at_once.histogram == one_by_one.histogram and at_once.histogram.total == 13
    assert at_once.fields == one_by_one.fields and at_once.fields.sample == 5
