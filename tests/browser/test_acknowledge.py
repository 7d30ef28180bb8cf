"""A unit's contact acknowledges an early warning in a real browser (Chromium), without an account.

Opening the link shows the alert in a few words and a button, and acknowledges nothing (mail
scanners open links too); the button acknowledges; the page then says when and how long after the
alert; the analyst's alert page shows the new status and who acknowledged it; a forged link is
refused. The page a unit sees goes to docs/screenshots/acknowledge.png (SOCPIPE_UPDATE_DOCS=1).
Same browser set-up as `test_console.py` (Debian's Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from notify.ack import ack_url, sign_ack
from soc_core.alert import AlertStatus, Severity
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, _shot
from tests.notify.conftest import make_alert, registry

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page
RECIPIENT = "email:an.tv@sotttt.gov.vn"
ALERT = make_alert(1, severity=Severity.HIGH)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("acknowledge") / "store.sqlite3")
    store.setup()
    store.save_registry(registry())
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)  # a link opened 20 min later
    store.put_alerts([ALERT.model_copy(update={"timestamp": created, "created_at": created})])
    ensure_user(store, "an", Role.ANALYST)
    ctx = app_context(store, environment="dev")
    ctx.registry.reload()
    with serving(ctx) as url:
        yield {
            "url": url,
            "store": store,
            "backend": ctx.backend,
            "secret": ctx.settings.secret_key.get_secret_value(),
        }
    store.close()


def test_a_unit_acknowledges_through_the_link(page: Any, live: dict[str, Any]) -> None:
    url, store = live["url"], live["store"]
    token = sign_ack(live["secret"], ALERT.id, RECIPIENT, datetime.now(UTC) + timedelta(hours=72))
    link = ack_url(url, token)
    assert link == f"{url}/acknowledge/{token}"

    page.goto(link)
    assert page.locator("h1").inner_text() == "Xác nhận đã tiếp nhận cảnh báo sớm"
    shown = page.locator("section.acknowledge dl").inner_text()
    assert ALERT.rule.name in shown and "ws-kt-01" in shown and RECIPIENT in shown
    assert page.locator("#ack-button").is_visible()
    _shot(page, "acknowledge")
    stored = store.get_alert(ALERT.id)
    assert stored is not None and stored.triage.acknowledged_at is None  # opening is not acknowledging

    page.click("#ack-button")
    page.wait_for_selector("#ack-done")
    assert page.locator("#ack-button").count() == 0
    assert "20 phút" in page.locator("#ack-done").inner_text()
    stored = store.get_alert(ALERT.id)
    assert stored is not None and stored.triage.status is AlertStatus.ACKNOWLEDGED
    assert stored.triage.acknowledged_at is not None
    assert [(h.actor, h.field) for h in stored.triage.history] == [
        (f"ack:{RECIPIENT}", "acknowledged"),
        (f"ack:{RECIPIENT}", "status"),
    ]

    page.reload()  # a second visit shows the record, never a second acknowledgement
    assert page.locator("#ack-done").is_visible() and page.locator("#ack-button").count() == 0

    _login(page, live)
    page.goto(f"{url}/alerts/{ALERT.id}")
    history = page.locator("table.history").inner_text()
    assert f"ack:{RECIPIENT}" in history and "Đã tiếp nhận" in history


def test_a_forged_link_is_refused(page: Any, live: dict[str, Any]) -> None:
    token = sign_ack("another-secret", ALERT.id, RECIPIENT, datetime.now(UTC) + timedelta(hours=1))
    answer = page.goto(f"{live['url']}/acknowledge/{token}")
    assert answer is not None and answer.status == 403
    assert page.locator("#ack-error").inner_text() == "Liên kết này không hợp lệ."
    assert page.locator("#ack-button").count() == 0
