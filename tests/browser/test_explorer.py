"""The event explorer in a real browser (issue 15): an analyst queries, keeps a query history, filters
by a field value in and out, zooms the time range, opens an event's whole document, exports CSV and
reads it back as a spreadsheet would (BOM, escaped cells); hostile log content stays text; each
language shows only its own words. The screenshot docs/screenshots/explorer.png is taken here (with
SOCPIPE_UPDATE_DOCS=1, like `test_console.py`). Same browser set-up as `test_console.py`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from api.reports import cells
from soc_core.event import Event
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import INJECTED, _login, _shot, foreign_ui_texts

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page

HOSTILE_MESSAGE = "<script>alert('msg')</script>\x1b[2J\u202egnp.exe"
FORMULA = '=HYPERLINK("http://evil.example","bấm vào đây")'


def _events(now: datetime) -> list[Event]:
    """45 logins over the 3 hours before `now` on three hosts, one carrying hostile content."""
    events = []
    for n in range(45):
        host = ("web01", "ketoan-pc2", "motcua-pc03")[n % 3]
        failed = n % 4 == 0
        events.append(
            Event.from_doc(
                {
                    "@timestamp": (now - timedelta(minutes=4 * n + 1)).isoformat(),
                    "message": (
                        f"Đăng nhập thất bại cho {'admin' if failed else 'vanthu'} từ 203.0.113.{n % 7}"
                    ),
                    "event": {
                        "id": f"ev-explorer-{n:03d}",
                        "action": "logon-failed" if failed else "logged-in",
                        "code": "4625" if failed else "4624",
                        "outcome": "failure" if failed else "success",
                        "original": f"<86>sshd[{2000 + n}]: Failed password for admin",
                    },
                    "host": {"name": host},
                    "user": {"name": "admin" if failed else "vanthu"},
                    "source": {"ip": f"203.0.113.{n % 7}"},
                    "soc": {"unit": {"id": "so-khcn"}, "source": {"id": f"src-{host}"}},
                }
            )
        )
    events.append(
        Event.from_doc(
            {
                "@timestamp": (now - timedelta(minutes=2)).isoformat(),
                "message": HOSTILE_MESSAGE,
                "event": {"id": "ev-explorer-hostile", "original": "<img src=x onerror=\"alert('orig')\">"},
                "host": {"name": "<img src=x onerror=alert('host')>"},
                "user": {"name": FORMULA},
                "url": {"original": "javascript:alert('url')"},
            }
        )
    )
    return events


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("explorer") / "store.sqlite3")
    store.setup()
    # now, not when the module was imported: a long suite runs this many minutes after collection,
    # and the relative ranges below ("the last hour") would lose the oldest events
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    store.put_events(_events(now))
    ensure_user(store, "an", Role.ANALYST)
    with serving(app_context(store, environment="dev")) as url:
        yield {"url": url, "store": store, "now": now}
    store.close()


def _query(page: Any) -> str:
    return parse_qs(urlsplit(page.url).query).get("q", [""])[0]


def _rows(page: Any) -> Any:
    return page.locator("#event-table tr.event-row")


def test_an_analyst_queries_filters_expands_and_exports(
    page: Any, live: dict[str, Any], tmp_path: Path
) -> None:
    url = live["url"]
    _login(page, live)
    page.click("#nav-events")
    page.wait_for_url("**/events")
    assert page.inner_text("h1").startswith("Trình khám phá sự kiện")
    assert page.inner_text("#event-total").startswith("46")
    assert page.locator("#histogram rect.bar").count() >= 6  # 30-minute bars over the last 3 hours

    # a query, kept in the history
    page.keyboard.press("/")  # the console's shortcut to the search box
    page.keyboard.type("host.name:web01 and dang nhap")
    page.keyboard.press("Enter")
    page.wait_for_url("**/events?q=host.name*")
    assert page.inner_text("#event-total").startswith("15")
    assert _rows(page).count() == 15
    assert page.locator("#event-table mark", has_text="Đăng").count() == 15  # diacritics-insensitive marks
    page.goto(f"{url}/events")
    options = page.eval_on_selector_all("#query-history option", "os => os.map(o => o.value)")
    assert options[0] == "host.name:web01 and dang nhap"
    page.goto(f"{url}/events?q=dang nhap and not event.outcome:success")
    for name in ("host.name", "source.ip"):
        page.locator(f'details.field[data-field="{name}"] summary').click()
    _shot(page, "explorer")

    # filter in by a value of the sidebar, then out
    page.goto(f"{url}/events?q=host.name:web01")
    field = page.locator('details.field[data-field="user.name"]')
    field.locator("summary").click()
    field.locator("li", has_text="admin").locator("button.filter-in").click()
    page.wait_for_url("**user.name**")
    assert _query(page) == 'host.name:web01 and user.name:"admin"'
    assert page.inner_text("#event-total").startswith("4")
    assert set(page.locator("#event-table td:nth-child(5)").all_inner_texts()) == {"admin"}
    field = page.locator('details.field[data-field="user.name"]')
    field.locator("summary").click()
    field.locator("li", has_text="admin").locator("button.filter-out").click()
    page.wait_for_url("**not+user.name**")
    assert _query(page) == 'host.name:web01 and user.name:"admin" and not user.name:"admin"'
    assert _rows(page).count() == 0

    # the time range: a quick range, then an absolute one from the picker (Asia/Ho_Chi_Minh)
    page.goto(f"{url}/events?q=host.name:web01")
    page.click("#range-picker summary")
    page.click('a[data-range="now-1h"]')
    page.wait_for_url("**start=now-1h**")
    assert _rows(page).count() == 5  # minutes 1, 13, 25, 37, 49 ago: 49 is out
    page.click("#range-picker summary")
    local = (live["now"] + timedelta(hours=7)).replace(tzinfo=None)
    page.fill("#range-start", (local - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#range-end", local.strftime("%Y-%m-%dT%H:%M"))
    page.click("#absolute-range button")
    page.wait_for_url("**end=*")
    assert _rows(page).count() == 3  # minutes 1, 13, 25 ago
    assert "→" in page.inner_text("#range-label")

    # a bar of the histogram zooms into its own range
    page.goto(f"{url}/events")
    before = page.inner_text("#event-total")
    page.locator("#histogram a.bar-link").first.click()
    page.wait_for_url("**end=*")
    assert int(page.inner_text("#event-total").split()[0]) < int(before.split()[0])

    # a row's whole document, opened under it; "search this everywhere" from one of its values
    page.goto(f"{url}/events?q=host.name:web01")
    _rows(page).first.locator("a.expand").click()
    document = page.locator("tr.doc-row:not([hidden]) .event-document")
    document.wait_for()
    assert "203.0.113." in document.locator('tr[data-field="source.ip"]').inner_text()
    assert "sshd[" in document.locator("pre.original").first.inner_text()
    document.locator('tr[data-field="source.ip"] button.everywhere').click()
    page.wait_for_url("**q=%22203.0.113*")
    assert _query(page).startswith('"203.0.113.')

    # export CSV with the progress indicator, read back as a spreadsheet reads it
    page.goto(f"{url}/events?q=not host.name:web01")
    with page.expect_download() as download:
        page.click("#export-csv")
    path = tmp_path / "export.csv"
    download.value.save_as(path)
    page.wait_for_selector("#export-progress:not([hidden])")
    assert page.eval_on_selector("#export-progress progress", "p => p.value === p.max")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    header = [cells.unescape(c) for c in rows[0]]
    assert header == ["@timestamp", "host.name", "event.action", "user.name", "source.ip", "message"]
    assert len(rows) - 1 == int(page.inner_text("#event-total").split()[0]) == 31
    hostile = next(r for r in rows[1:] if "onerror" in r[1])
    assert hostile[3] == "'" + FORMULA  # a spreadsheet shows it as text and does not run it
    assert cells.unescape(hostile[3]) == FORMULA
    assert any("Đăng nhập thất bại cho admin" in r[5] for r in rows[1:])

    # a query that cannot be read says where
    page.goto(f"{url}/events?q=host.name:(web01 or")
    assert "column 20" in page.inner_text("#query-error")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_hostile_events_stay_text_in_the_explorer(page: Any, live: dict[str, Any]) -> None:
    url = live["url"]
    _login(page, live)
    page.goto(f"{url}/events?q=script or alert")
    assert _rows(page).count() == 1
    row = _rows(page).first
    assert "<script>alert('msg')</script>" in row.inner_text()
    assert row.locator("mark").count() >= 2  # the query's words marked, in escaped text
    row.locator("a.expand").click()
    page.wait_for_selector("tr.doc-row:not([hidden]) .event-document")
    for where in (f"{url}/events?q=script or alert", f"{url}/events/ev-explorer-hostile?q=alert"):
        if where != page.url:
            page.goto(where)
        injected = page.evaluate(INJECTED)
        assert injected["images"] == 0 and injected["jsLinks"] == 0 and injected["handlers"] == 0, where
        assert set(injected["scripts"]) <= {"/static/console.js", "/static/explorer.js"}, where
    body = page.inner_text("body")
    assert "<img src=x onerror=alert('host')>" in body
    assert "javascript:alert('url')" in body
    assert "␛[2J<U+202E>gnp.exe" in body
    page.wait_for_timeout(300)
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_the_explorer_speaks_one_language(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    paths = ["/events", "/events?q=host.name:(", "/events/ev-explorer-001?q=web01"]
    wrong = foreign_ui_texts(page, live["url"], paths)
    assert not wrong, "\n".join(f"{where}: {texts}" for where, texts in wrong.items())
