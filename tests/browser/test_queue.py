"""The alert queue's tools in a real browser (issue 15): status tabs with their counts, the new-alerts
indicator that keeps the analyst's place, saving a view and reopening it, the CSV export opened as a
spreadsheet opens it, and the alert page's pivot to the event explorer's URL contract. Same browser
set-up as `test_console.py` (Debian's Chromium, the app on real uvicorn)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.alerts import service as alerts
from api.alerts.models import TriageEdit
from api.auth.deps import Principal, Role
from api.auth.testing import ensure_user
from soc_core.alert import AlertStatus
from soc_core.kql import EVENT_FIELDS, Match, parse_for
from soc_core.store import AlertSearch
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, _seed, _shot, foreign_ui_text
from tests.contract.test_store_triage_contract import triage_alert

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page
ANALYST = Principal(user_id="seed", username="seed", role=Role.ANALYST)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("queue") / "store.sqlite3")
    store.setup()
    _seed(store)
    for rule, status in (("r-usb", AlertStatus.RESOLVED), ("r-kms", AlertStatus.FALSE_POSITIVE)):
        [alert] = store.search_alert_queue(AlertSearch(rule_id=rule)).items
        alerts.update(store=store, alert_id=alert.id, change=TriageEdit(status=status), actor=ANALYST)
    ensure_user(store, "an", Role.ANALYST)
    ctx = app_context(store, environment="dev", queue_poll_s=5)
    ctx.registry.reload()
    with serving(ctx) as url:
        yield {"url": url, "store": store}
    store.close()


def _tab_counts(page: Any) -> dict[str, str]:
    return {
        el.get_attribute("data-count"): el.inner_text()
        for el in page.locator("#status-tabs [data-count]").all()
    }


def test_tabs_count_and_filter_the_queue(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    counts = _tab_counts(page)
    assert counts == {
        "open": "4",
        "new": "4",
        "acknowledged": "0",
        "in_progress": "0",
        "resolved": "1",
        "false_positive": "1",
        "all": "6",
    }
    assert page.locator("#status-tabs a.active").get_attribute("data-status") == "open"
    assert page.locator("tr.alert-row").count() == 4
    page.locator("#status-tabs a[data-status=false_positive]").click()
    page.wait_for_url("**status=false_positive**")
    assert page.locator("#status-tabs a.active").inner_text().startswith("Cảnh báo nhầm")
    assert page.locator("tr.alert-row").count() == 1 and "ketoan-pc2" in page.inner_text("#alert-table")
    page.select_option("#filter-severity", "critical")  # a filter keeps the tab
    page.click("#apply-filters")
    page.wait_for_url("**severity=critical**")
    assert "status=false_positive" in page.url and page.locator("tr.alert-row").count() == 0
    assert _tab_counts(page)["new"] == "1"  # the other tabs count under the same filters
    _shot(page, "alert-queue-tabs")


def test_new_alerts_show_up_without_losing_the_analysts_place(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    page.keyboard.press("j")
    page.keyboard.press("j")
    second = page.locator("tr.alert-row").nth(1)
    second.locator("input.pick").check()
    page.fill("#search", "đang gõ dở")
    assert page.locator("#new-alerts").is_hidden()
    fresh = triage_alert(
        30, rule="r-new", rule_name="Đăng nhập bất thường", host="web09", created_at=datetime.now(UTC)
    )
    fresh.timestamp = datetime.now(UTC) - timedelta(minutes=2)
    live["store"].put_alerts([fresh])
    page.wait_for_selector("#new-alerts:not([hidden])", timeout=20_000)
    assert page.inner_text("#new-alerts-count") == "1"
    assert _tab_counts(page)["new"] == "5" and _tab_counts(page)["open"] == "5"
    assert page.evaluate("window.__stillHere") is True
    assert "current" in (second.get_attribute("class") or "")
    assert second.locator("input.pick").is_checked() and page.inner_text("#selected-count") == "1"
    assert page.input_value("#search") == "đang gõ dở"
    assert page.locator("tr.alert-row", has_text="web09").count() == 0  # shown when asked for
    page.click("#new-alerts-show")
    page.wait_for_selector("tr.alert-row >> text=web09")


def test_save_a_view_and_reopen_it(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    page.select_option("#filter-severity", "critical")
    page.click("#apply-filters")
    page.wait_for_url("**severity=critical**")
    page.fill("#view-name", "Nghiêm trọng đang mở")
    page.click("#save-view-button")
    page.wait_for_selector("#saved-views li.active >> text=Nghiêm trọng đang mở")
    page.goto(f"{live['url']}/alerts?status=all")
    assert page.locator("#saved-views li.active").count() == 0
    page.locator("#saved-views a.saved-view-link", has_text="Nghiêm trọng đang mở").click()
    page.wait_for_url("**/alerts?*severity=critical*")
    assert page.locator("tr.alert-row").count() == 1 and "web02" in page.inner_text("#alert-table")
    assert page.locator("#saved-views li.active").count() == 1
    _shot(page, "alert-queue-saved-view")
    for lang in ("en", "vi"):  # the box speaks the page's language
        if page.get_attribute("html", "lang") != lang:
            page.click("#lang-switch")
            page.wait_for_selector(f"html[lang={lang}]")
        assert foreign_ui_text(page, lang) == []
    page.locator("#saved-views li.active button.delete-view").click()
    page.wait_for_selector("#saved-views >> text=Chưa lưu bộ lọc nào.")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_csv_export_opens_as_a_spreadsheet_reads_it(page: Any, live: dict[str, Any], tmp_path: Path) -> None:
    _login(page, live)
    page.goto(f"{live['url']}/alerts?status=all&sort=oldest")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert re.fullmatch(r"canh-bao-\d{8}-\d{4}\.csv", download.value.suggested_filename)
    saved = tmp_path / "alerts.csv"
    download.value.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 says so: spreadsheets read "Thiết bị" as written
    header, *rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    col = {name: n for n, name in enumerate(header)}
    stored = live["store"].search_alert_queue(AlertSearch(size=100)).items
    assert len(rows) == len(stored) >= 6  # every status (and the poll test's alert when it ran)
    names = [r[col["rule_name"]] for r in rows]
    assert "Thiết bị USB lưu trữ" in names and "Tắt Windows Firewall" in names
    hostile = next(r for r in rows if r[col["rule_name"]].startswith("<script>"))
    assert hostile[col["host"]] == "<img src=x onerror=alert('host')>"
    assert hostile[col["user"]] == "javascript:alert('user')"
    assert {r[col["status"]] for r in rows} >= {"new", "resolved", "false_positive"}


def test_an_alert_pivots_to_its_events_in_the_explorer(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    [alert] = live["store"].search_alert_queue(AlertSearch(host_name="web02")).items
    page.goto(f"{live['url']}/alerts/{alert.id}")
    link = page.locator("#pivots a.pivot[data-by=host]")
    url = urlsplit(link.get_attribute("href"))
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path == "/events" and parse_for(query["q"], EVENT_FIELDS) == Match("host.name", "web02")
    start, end = datetime.fromisoformat(query["start"]), datetime.fromisoformat(query["end"])
    assert end - start == timedelta(minutes=30) and start + timedelta(minutes=15) == alert.timestamp
    page.select_option("#pivot-form select[name=by]", "user")
    page.fill("#pivot-minutes", "60")
    page.click("#pivot-go")
    page.wait_for_url("**/events?q=*")
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    assert parse_for(query["q"], EVENT_FIELDS) == Match("user.name", "root")
    assert datetime.fromisoformat(query["end"]) - datetime.fromisoformat(query["start"]) == timedelta(hours=2)
