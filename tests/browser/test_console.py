"""The console in a real browser: Debian's Chromium driven by Playwright, the app on real uvicorn.

Flows: sign in, filter the queue, open an alert from the keyboard, acknowledge, close as false
positive, group two alerts into an incident, switch the language; and hostile log content (script
tags, onerror images, javascript: links, control characters) shown as text with nothing run or
injected. Screenshots of the main pages go to docs/screenshots/.

Chromium comes from Debian (`chromium` in deploy/local/debian-packages.txt); `playwright install` is
never run. Without Chromium these tests skip on a developer machine and fail in CI.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.app import create_app
from api.auth.deps import Role
from api.auth.testing import TEST_PASSWORD, ensure_user
from soc_core.alert import Severity
from soc_core.event import Event
from soc_core.registry import InformationSystem, Registry, Unit
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.contract.test_store_triage_contract import triage_alert
from tests.servers import in_ci

CHROMIUM = os.environ.get("SOC_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots land in docs/screenshots/ (shown in the README) only when SOCPIPE_UPDATE_DOCS=1, so a
# test run never changes the checkout; otherwise they go to a temporary folder.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("SOCPIPE_UPDATE_DOCS") == "1"
    else Path(tempfile.gettempdir()) / "socpipe-screenshots"
)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(store: SqliteStore) -> None:
    store.save_registry(
        Registry(
            units=[
                Unit(id="so-khcn", name="Sở Khoa học và Công nghệ"),
                Unit(id="ubnd-xa", name="UBND xã Gia Viễn"),
            ],
            systems=[
                InformationSystem(
                    id="portal", name="Cổng TTĐT tỉnh", unit_id="so-khcn", level=3, important=True
                ),
                InformationSystem(id="mot-cua", name="Một cửa điện tử", unit_id="ubnd-xa", level=2),
            ],
        )
    )
    base = NOW - timedelta(hours=3)
    alerts = [
        triage_alert(1, minutes=0),
        triage_alert(2, minutes=5, severity=Severity.CRITICAL, host="web02", user="root"),
        triage_alert(
            3,
            minutes=9,
            rule="r-usb",
            rule_name="Thiết bị USB lưu trữ",
            checklist=["VN-10"],
            technique="T1091",
            unit="ubnd-xa",
            system="mot-cua",
            host="motcua-pc03",
            user="vanthu",
        ),
        triage_alert(
            4,
            minutes=14,
            rule="r-fw",
            rule_name="Tắt Windows Firewall",
            checklist=["VN-02"],
            technique="T1562",
            severity=Severity.MEDIUM,
            unit="ubnd-xa",
            system="mot-cua",
            host="motcua-pc01",
        ),
        triage_alert(
            5,
            minutes=20,
            rule="r-kms",
            rule_name="Chạy công cụ bẻ khóa KMS",
            checklist=["VN-01"],
            technique="T1204",
            severity=Severity.LOW,
            host="ketoan-pc2",
            user="ketoan",
        ),
        triage_alert(
            6,
            minutes=25,
            rule="r-hostile",
            rule_name="<script>alert('rule')</script>",
            host="<img src=x onerror=alert('host')>",
            user="javascript:alert('user')",
            severity=Severity.HIGH,
        ),
    ]
    for a in alerts:  # recent, so the console's relative views have something to show
        a.timestamp = base + (a.timestamp - datetime(2025, 7, 1, 8, 0, tzinfo=UTC))
    store.put_alerts(alerts)
    store.put_events(
        [
            Event.from_doc(
                {
                    "@timestamp": (base + timedelta(minutes=1)).isoformat(),
                    "message": "Failed password for admin from 203.0.113.9 port 52144 ssh2",
                    "event": {
                        "id": "ev-000001",
                        "original": "<86>sshd[2211]: Failed password for admin from 203.0.113.9",
                    },
                    "host": {"name": "web01"},
                    "source": {"ip": "203.0.113.9"},
                    "user": {"name": "admin"},
                }
            ),
            Event.from_doc(
                {
                    "@timestamp": (base + timedelta(minutes=25)).isoformat(),
                    "message": "<script>alert('msg')</script>\x1b[2J\x07\u202egnp.exe",
                    "event": {
                        "id": "ev-000006",
                        "original": "<img src=x onerror=\"alert('orig')\">"
                        + '<a href="javascript:alert(1)">x</a>',
                    },
                    "url": {"original": "javascript:alert('url')"},
                    "host": {"name": "<img src=x onerror=alert('host')>"},
                }
            ),
        ]
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"Chromium missing at {CHROMIUM}: install Debian's `chromium` (make system-deps)")
        pytest.skip(f"Chromium missing at {CHROMIUM}")
    store = SqliteStore(tmp_path_factory.mktemp("browser") / "store.sqlite3")
    store.setup()
    _seed(store)
    ensure_user(store, "an", Role.ANALYST)
    ensure_user(store, "quantri", Role.ADMIN)
    ctx = app_context(store, environment="dev")
    ctx.registry.reload()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "store": store}
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


@pytest.fixture(scope="module")
def browser(live: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser: Any, live: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1366, "height": 860}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
    )
    p = context.new_page()
    p.set_default_timeout(15_000)
    p.dialogs = []  # type: ignore[attr-defined]
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))  # type: ignore[attr-defined]
    yield p
    context.close()


def _login(page: Any, live: dict[str, Any], username: str = "an") -> None:
    page.goto(f"{live['url']}/alerts")
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def test_triage_flow_in_the_browser(page: Any, live: dict[str, Any]) -> None:
    page.goto(f"{live['url']}/login")
    _shot(page, "login")
    _login(page, live)
    rows = page.locator("tr.alert-row")
    assert rows.count() == 6
    assert page.locator("h1").first.inner_text().startswith("Hàng đợi cảnh báo")
    _shot(page, "alert-queue")

    # filter: critical only
    page.select_option("#filter-severity", "critical")
    page.click("#apply-filters")
    page.wait_for_url("**severity=critical**")
    assert rows.count() == 1 and "web02" in rows.first.inner_text()

    # a facet link narrows by unit
    page.goto(f"{live['url']}/alerts")
    page.locator("section.facet[data-facet=unit] a", has_text="UBND xã Gia Viễn").click()
    page.wait_for_url("**unit=ubnd-xa**")
    assert rows.count() == 2

    # keyboard: j selects the first row, Enter opens it
    page.goto(f"{live['url']}/alerts?sort=severity")
    page.keyboard.press("j")
    assert "current" in (rows.first.get_attribute("class") or "")
    page.keyboard.press("Enter")
    page.wait_for_url("**/alerts/*")
    assert "web02" in page.inner_text("p.meta")
    # a: acknowledge
    page.keyboard.press("a")
    page.wait_for_load_state()
    page.wait_for_selector("p.meta .status-acknowledged")
    assert page.inner_text("#assignee") == "an"
    # close as false positive
    page.click("#false-positive")
    page.wait_for_selector("p.meta .status-false_positive")
    history = page.inner_text("table.history")
    assert "Cảnh báo nhầm" in history and "Đã tiếp nhận" in history and "an" in history
    _shot(page, "alert-detail")

    # group two alerts into an incident from the queue
    page.goto(f"{live['url']}/alerts")
    page.locator("tr.alert-row", has_text="motcua-pc03").locator("input.pick").check()
    page.locator("tr.alert-row", has_text="motcua-pc01").locator("input.pick").check()
    assert page.inner_text("#selected-count") == "2"
    page.fill("#incident-title", "Vi phạm tại UBND xã Gia Viễn")
    page.click("#bulk-incident")
    page.wait_for_url("**/incidents/INC-*")
    assert "Vi phạm tại UBND xã Gia Viễn" in page.inner_text("h1")
    timeline = page.inner_text("#timeline")
    assert "Thiết bị USB lưu trữ" in timeline and "Tắt Windows Firewall" in timeline
    page.fill("#note", "Đã liên hệ cán bộ phụ trách CNTT của xã.")
    page.get_by_role("button", name="Thêm ghi chú").click()
    page.wait_for_selector("li.tl-note")
    _shot(page, "incident-detail")
    page.goto(f"{live['url']}/incidents")
    _shot(page, "incidents")

    # switch the language
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    assert "Incidents" in page.inner_text("h1")
    page.goto(f"{live['url']}/alerts")
    assert page.locator("h1").first.inner_text().startswith("Alert queue")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=vi]")

    # help overlay
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_admin_pages(page: Any, live: dict[str, Any]) -> None:
    _login(page, live, "quantri")
    page.goto(f"{live['url']}/audit")
    assert page.locator("#audit-table tr.audit-login").count() >= 1
    _shot(page, "audit")
    page.goto(f"{live['url']}/")
    assert "Tổng quan" in page.title()
    _shot(page, "overview")


def test_hostile_log_content_is_text_and_runs_nothing(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    hostile = (
        live["store"]
        .search_alert_queue(
            __import__("soc_core.store", fromlist=["AlertSearch"]).AlertSearch(rule_id="r-hostile")
        )
        .items[0]
    )
    for url in (
        f"{live['url']}/alerts?q=script&status=all",
        f"{live['url']}/alerts/{hostile.id}?q=alert",
        f"{live['url']}/",
    ):
        page.goto(url)
        page.wait_for_load_state("load")
        injected = page.evaluate(
            """() => ({
                scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
                images: document.images.length,
                jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
                handlers: Array.from(document.querySelectorAll('*')).filter(
                    el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
            })"""
        )
        assert injected == {"scripts": ["/static/console.js"], "images": 0, "jsLinks": 0, "handlers": 0}, url
    body = page.goto(f"{live['url']}/alerts/{hostile.id}") and page.inner_text("body")
    assert "<script>alert('rule')</script>" in body
    assert "<img src=x onerror=alert('host')>" in body
    assert "javascript:alert('url')" in body
    assert "␛[2J␇<U+202E>gnp.exe" in body
    original = page.inner_text("#original")
    assert original.startswith("<img src=x onerror=\"alert('orig')\">")
    page.wait_for_timeout(300)
    assert page.dialogs == []  # type: ignore[attr-defined]
    _shot(page, "hostile-content")
