"""The rules pages in a real browser: correlation rules beside detection rules, one language per
locale, an analyst disabling a correlation from its page (a reason is required, and the page then
says who, when and why), alerts per day as a sparkline per row and a chart on the rule's page, and
a viewer who sees it all but cannot change it. Same set-up as `test_exceptions.py`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from api.rules.service import day_start
from detections.engine import DetectionEngine
from soc_console.bars import VN
from stores.sqlite.store import SqliteStore
from tests.api.test_rules_api import ACCEPTED, FAILURE_BURST, GUEST, LOGIN_AFTER, PACK
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, foreign_ui_text
from tests.conftest import make_alert, make_event

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    engine = DetectionEngine([PACK])
    store = SqliteStore(tmp_path_factory.mktemp("rules") / "store.sqlite3")
    store.setup()
    ensure_user(store, "an", Role.ANALYST)
    ensure_user(store, "xem", Role.VIEWER)
    today = day_start(datetime.now(UTC))
    times = [today, today - timedelta(hours=1), today - timedelta(days=2, hours=-5)]
    store.put_alerts([make_alert(ACCEPTED, make_event(n, ts=at)) for n, at in enumerate(times)])
    ctx = app_context(store, environment="dev")
    ctx.detect_engine = engine
    with serving(ctx) as url:
        yield {"url": url, "store": store, "engine": engine}
    store.close()


def test_an_analyst_finds_a_correlation_follows_its_rules_and_disables_it(
    page: Any, live: dict[str, Any]
) -> None:
    url, engine = live["url"], live["engine"]
    _login(page, live)
    page.goto(f"{url}/rules")
    page.select_option("#filter-kind", "correlation")
    page.click("#rule-filters button")
    page.wait_for_url("**/rules?*kind=correlation*")
    assert page.locator("#rules-table tbody tr.rule-detection").count() == 0
    page.click(f"#rule-{LOGIN_AFTER} td a >> nth=0")
    page.wait_for_url(f"**/rules/{LOGIN_AFTER}")
    links = page.locator("#correlation-rules a")
    assert [links.nth(i).get_attribute("href") for i in range(links.count())] == [
        f"/rules/{FAILURE_BURST}",
        f"/rules/{ACCEPTED}",
    ]
    page.click("#rule-state-form button")  # no reason: the browser itself refuses (`required`)
    assert page.url.endswith(f"/rules/{LOGIN_AFTER}") and LOGIN_AFTER not in engine.disabled
    page.fill("#rule-state-form input[name=reason]", "   ")  # blank passes `required`: the server refuses
    page.click("#rule-state-form button")
    page.wait_for_selector("#rule-state-error")
    assert LOGIN_AFTER not in engine.disabled
    assert page.get_attribute("#rule-state-reason", "aria-invalid") == "true"
    page.fill("#rule-state-form input[name=reason]", "Đang tinh chỉnh ngưỡng")
    page.click("#rule-state-form button")
    page.wait_for_url(f"**/rules/{LOGIN_AFTER}")
    assert "Đang tinh chỉnh ngưỡng" in page.inner_text("#rule-facts")
    assert LOGIN_AFTER in engine.disabled
    first = page.locator("#rule-changes tbody tr").first.inner_text()
    assert "an" in first.split() and "Đang tinh chỉnh ngưỡng" in first
    page.fill("#rule-state-form input[name=reason]", "Xong")  # enable again
    page.click("#rule-state-form button")
    page.wait_for_url(f"**/rules/{LOGIN_AFTER}")
    assert LOGIN_AFTER not in engine.disabled
    assert page.locator("#rule-changes tbody tr").count() == 2
    assert "Xong" in page.locator("#rule-changes tbody tr").first.inner_text()


def test_alerts_per_day_show_as_a_sparkline_and_a_chart(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    page.goto(f"{live['url']}/rules")
    spark = page.locator(f"#rule-{ACCEPTED} svg.sparkline")
    assert spark.locator("rect").count() == 7
    assert spark.get_attribute("aria-label").endswith(": 0, 0, 0, 0, 1, 1, 1")
    assert page.locator(f"#rule-{GUEST} svg.sparkline rect.zero").count() == 7
    console._shot(page, "rules")
    page.click(f"#rule-{ACCEPTED} td a >> nth=0")
    page.wait_for_url(f"**/rules/{ACCEPTED}")
    bars = page.locator("#rule-chart rect.bar")  # one per day with alerts: today and the two before
    assert bars.count() == 3
    xs = [float(bars.nth(i).get_attribute("x")) for i in range(3)]
    assert xs == sorted(xs) and len({bars.nth(i).get_attribute("height") for i in range(3)}) == 1
    page.click("#chart-days a >> text=7")
    page.wait_for_url(f"**/rules/{ACCEPTED}?days=7")
    assert page.locator("#rule-chart rect.bar").count() == 3
    page.locator("#rule-chart").scroll_into_view_if_needed()
    console._shot(page, "rule")
    today = day_start(datetime.now(UTC)).astimezone(VN).date().isoformat()
    page.locator("#rule-chart a.bar-link").last.click()  # today's bar: the queue, that rule, that day
    page.wait_for_url(f"**/alerts?rule={ACCEPTED}&start={today}&end={today}")


def test_a_viewer_reads_the_rules_pages_but_has_no_form(page: Any, live: dict[str, Any]) -> None:
    _login(page, live, "xem")
    page.goto(f"{live['url']}/rules/{GUEST}")
    assert page.locator("#rule-chart").count() == 1
    assert page.locator("#rule-state-form").count() == 0


def test_rules_pages_speak_one_language(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    found: dict[str, list[str]] = {}
    for lang in ("en", "vi"):
        if page.get_attribute("html", "lang") != lang:
            page.click("#lang-switch")
            page.wait_for_selector(f"html[lang={lang}]")
        for path in ("/rules", "/rules?kind=correlation", f"/rules/{LOGIN_AFTER}", f"/rules/{ACCEPTED}"):
            page.goto(f"{live['url']}{path}")
            found[f"{lang} {path}"] = foreign_ui_text(page, lang)
    wrong = {where: texts for where, texts in found.items() if texts}
    assert not wrong, "\n".join(f"{where}: {texts}" for where, texts in wrong.items())
