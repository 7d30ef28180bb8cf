"""SLA breaches in the queue in a real browser: the badge saying how late an unacknowledged high or
critical alert is, the "SLA breached" filter, and the alert page's due time. Same browser set-up
as `test_console.py` (Debian's Chromium, the app on real uvicorn)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from soc_core.alert import Alert
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, _shot
from tests.sla.seed import sla_alerts

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("sla") / "store.sqlite3")
    store.setup()
    alerts = sla_alerts()
    store.put_alerts(list(alerts.values()))
    ensure_user(store, "an", Role.ANALYST)
    ctx = app_context(store, environment="dev")
    with serving(ctx) as url:
        yield {"url": url, "store": store, "alerts": alerts}
    store.close()


def test_sla_badge_and_filter_in_the_queue(page: Any, live: dict[str, Any]) -> None:
    alerts: dict[str, Alert] = live["alerts"]
    _login(page, live)  # the open queue: new, acknowledged and in progress, live alerts
    overdue = page.locator("#alert-table .sla-overdue")
    assert overdue.count() == 2  # the critical 20 min old (15 min SLA) and the high 2 h old (1 h)
    texts = sorted(overdue.all_inner_texts())
    assert all(t.startswith("SLA +") for t in texts), texts
    assert any(re.search(r"\+\s*[4-6] phút", t) for t in texts), texts  # ~5 minutes late
    late = page.locator("#alert-table .sla-late")
    assert late.count() == 1 and "tiếp nhận trễ" in late.inner_text()
    assert page.locator(f"tr[data-id='{alerts['high_in_time'].id}'] .sla-badge").count() == 0

    page.select_option("#filter-sla", "breached")
    page.click("#apply-filters")
    page.wait_for_url("**sla=breached**")
    rows = page.locator("tr.alert-row")
    assert rows.count() == 2
    assert page.locator("tr.alert-row .sla-overdue").count() == 2
    shown = {rows.nth(i).get_attribute("data-id") for i in range(2)}
    assert shown == {alerts["critical_overdue"].id, alerts["high_overdue"].id}
    assert page.locator("#filter-sla").input_value() == "breached"
    _shot(page, "alert-queue-sla")

    page.locator(f"tr[data-id='{alerts['critical_overdue'].id}'] a.rule-link").click()
    page.wait_for_url(f"**/alerts/{alerts['critical_overdue'].id}*")
    due = page.inner_text("#sla")
    assert due.startswith("Hạn tiếp nhận:") and "SLA +" in due
