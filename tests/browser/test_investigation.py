"""An analyst's whole investigation in a real browser (issue 15, "Done when"): from an alert to the
events around it in the explorer, filtered by a field value, saved as a view and reopened, exported
to CSV and read back as a spreadsheet reads it (BOM, escaped cells). Same browser set-up as
`test_console.py` (Debian's Chromium, the app on real uvicorn)."""

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
from tests.browser.test_console import _login
from tests.browser.test_explorer import _events
from tests.conftest import make_alert

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page

# A failed login on the alert's host a few minutes after it, by an account whose name a spreadsheet
# would run as a formula.
FORMULA_USER = "=cmd|' /C calc'!A0"


def _formula_login(now: datetime) -> Event:
    return Event.from_doc(
        {
            "@timestamp": (now - timedelta(minutes=11)).isoformat(),
            "message": f"Đăng nhập thất bại cho {FORMULA_USER} từ 198.51.100.9",
            "event": {"id": "ev-investigation-formula", "action": "logon-failed", "outcome": "failure"},
            "host": {"name": "ketoan-pc2"},
            "user": {"name": FORMULA_USER},
            "source": {"ip": "198.51.100.9"},
            "soc": {"unit": {"id": "so-khcn"}, "source": {"id": "src-ketoan-pc2"}},
        }
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("investigation") / "store.sqlite3")
    store.setup()
    now = datetime.now(UTC).replace(second=0, microsecond=0)  # when the data is written, not imported
    events = [*_events(now), _formula_login(now)]
    store.put_events(events)
    # the alert: admin's failed login on ketoan-pc2, 17 minutes ago (ev-explorer-004)
    event = next(e for e in events if e.id == "ev-explorer-004")
    alert = make_alert("r-brute", event).model_copy(update={"host_name": "ketoan-pc2", "user_name": "admin"})
    store.put_alerts([alert])
    ensure_user(store, "an", Role.ANALYST)
    with serving(app_context(store, environment="dev")) as url:
        yield {"url": url, "store": store, "alert": alert}
    store.close()


def _query(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def _total(page: Any) -> int:
    return int(page.inner_text("#event-total").split()[0])


def test_from_an_alert_to_its_events_filtered_saved_and_exported(
    page: Any, live: dict[str, Any], tmp_path: Path
) -> None:
    url, alert = live["url"], live["alert"]
    _login(page, live)

    # the alert, then "events around it" on the same host: ±15 minutes
    page.goto(f"{url}/alerts/{alert.id}")
    page.click("#pivots a.pivot[data-by=host]")
    page.wait_for_url("**/events?q=*")
    around = _query(page)
    assert around["q"] == 'host.name:"ketoan-pc2"'
    # ketoan-pc2's events 5, 11, 17 and 29 minutes ago are within 15 minutes of the alert's 17
    assert _total(page) == 4
    users = set(page.locator("#event-table td:nth-child(5)").all_inner_texts())
    assert users == {"admin", "vanthu", FORMULA_USER}

    # filter out the ordinary account by its value in the field sidebar
    field = page.locator('details.field[data-field="user.name"]')
    field.locator("summary").click()
    field.locator("li", has_text="vanthu").locator("button.filter-out").click()
    page.wait_for_url("**not+user.name**")
    filtered = _query(page)
    assert filtered["q"] == 'host.name:"ketoan-pc2" and not user.name:"vanthu"'
    assert (filtered["start"], filtered["end"]) == (around["start"], around["end"])
    assert _total(page) == 2

    # save the view, leave, and reopen it from the list
    page.fill("#view-name", "Quanh cảnh báo ketoan-pc2")
    page.click("#save-view-button")
    page.wait_for_url("**/events?*")
    page.goto(f"{url}/events")
    assert _total(page) > 2  # the default view: every event of the last 24 hours
    page.locator("#saved-views a.saved-view-link", has_text="Quanh cảnh báo ketoan-pc2").click()
    page.wait_for_url("**not+user.name**")
    assert _query(page)["q"] == filtered["q"] and _total(page) == 2
    assert page.locator("#saved-views li.saved-view.active").count() == 1

    # export what is shown, and open it as a spreadsheet would
    with page.expect_download() as download:
        page.click("#export-csv")
    path = tmp_path / "investigation.csv"
    download.value.save_as(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: a spreadsheet reads the Vietnamese right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    header = [cells.unescape(c) for c in rows[0]]  # "@timestamp" starts like a formula: escaped too
    assert header == ["@timestamp", "host.name", "event.action", "user.name", "source.ip", "message"]
    by_user = {cells.unescape(r[3]): r for r in rows[1:]}
    assert set(by_user) == {"admin", FORMULA_USER}
    assert by_user[FORMULA_USER][3] == "'" + FORMULA_USER  # shown as text, never run
    assert by_user["admin"][5].startswith("Đăng nhập thất bại cho admin")
    assert {r[1] for r in rows[1:]} == {"ketoan-pc2"}
