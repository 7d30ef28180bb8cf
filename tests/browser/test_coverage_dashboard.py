"""The police's coverage dashboard in a real browser (Debian Chromium via Playwright).

Three hours of history are built through the real store and the real coverage job: the demo
province's sources come online one after another (the deliberately silent ones never do), so the
chart rises and the headline shows what the data says; in either language the page shows no word of
the other. The screenshot goes to the README.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from api.auth.deps import Role
from api.auth.testing import TEST_PASSWORD, ensure_user
from api.coverage.jobs import CoverageJob
from soc_core.event import Event
from socpipe.demo.province import SILENT_SOURCES, demo_registry
from stores.sqlite.store import SqliteStore
from tests.backends import app_context, backend_of
from tests.browser.live import CHROMIUM, need_chromium, serving
from tests.browser.test_console import ARGS, SHOTS, foreign_ui_text


def _history(store: SqliteStore, now: datetime) -> None:
    registry, _ = demo_registry()
    store.save_registry(registry)
    repo = backend_of(store).coverage
    job = CoverageJob(store, repo)
    start = now - timedelta(hours=3)
    live = [s.id for s in registry.sources if s.id not in SILENT_SOURCES]
    events = []
    for i, source_id in enumerate(live):
        first = start + timedelta(minutes=7 * i)
        t, n = first, 0
        while t <= now:
            events.append(
                Event.from_doc(
                    {
                        "@timestamp": t,
                        "message": "heartbeat",
                        "event": {"id": f"{source_id}-{n}", "ingested": t},
                        "soc": {"source": {"id": source_id}},
                    }
                )
            )
            t, n = t + timedelta(minutes=5), n + 1
    events.sort(key=lambda e: e.timestamp)
    t, sent = start, 0
    while t <= now:  # the clock advances: each snapshot sees only what had arrived by then
        due = [e for e in events[sent:] if e.timestamp <= t]
        store.put_events(due)
        sent += len(due)
        job.run(now=t)
        t += timedelta(minutes=10)
    store.put_events(events[sent:])
    job.run(now=now)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("coverage") / "store.sqlite3")
    store.setup()
    # now, not when the module was imported: a long suite reaches this test many minutes after
    # collection, and sources silent for that long would no longer count as monitored
    _history(store, datetime.now(UTC).replace(second=0, microsecond=0))
    ensure_user(store, "congan", Role.POLICE)
    with serving(app_context(store, environment="dev")) as url:
        yield url
    store.close()


def test_police_dashboard(live: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(
            viewport={"width": 1366, "height": 1300}, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
        )
        page.goto(f"{live}/coverage")
        page.wait_for_url("**/login?next=*")
        page.fill("input[name=username]", "congan")
        page.fill("input[name=password]", TEST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/coverage")
        headline = page.locator(".headline[data-scope=important_systems] .big").inner_text()
        assert headline == "14/20"
        assert page.locator("svg path.series").count() == 1
        rows = page.locator("table.unmonitored tbody tr")
        assert rows.count() == 7  # 6 important systems + Bình Mỹ (not important) have a silent source
        assert "qlvb-iis" in page.locator("tr[data-system=qlvb]").inner_text()
        assert "Không đạt" in page.locator("table.targets").inner_text()  # the 15/08/2025 deadline passed
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "coverage.png"), full_page=False)
        with page.expect_download() as download:
            page.click("a[href='/api/v1/coverage/export.pdf']")
        assert download.value.suggested_filename.endswith(".pdf")
        assert foreign_ui_text(page, "vi") == []
        page.click("#lang-switch")
        page.wait_for_selector("html[lang=en]")
        assert foreign_ui_text(page, "en") == []
        assert "Missed" in page.locator("table.targets").inner_text()
        browser.close()
