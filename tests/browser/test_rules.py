"""The rules pages in a real browser: correlation rules beside detection rules, one language per
locale, and an analyst disabling a correlation from its page. Same set-up as `test_exceptions.py`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from detections.engine import DetectionEngine
from stores.sqlite.store import SqliteStore
from tests.api.test_rules_api import ACCEPTED, FAILURE_BURST, LOGIN_AFTER, PACK
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, foreign_ui_text

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    engine = DetectionEngine([PACK])
    store = SqliteStore(tmp_path_factory.mktemp("rules") / "store.sqlite3")
    store.setup()
    ensure_user(store, "an", Role.ANALYST)
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
    page.fill("#rule-state-form input[name=reason]", "Đang tinh chỉnh ngưỡng")
    page.click("#rule-state-form button")
    page.wait_for_url(f"**/rules/{LOGIN_AFTER}")
    assert "Đang tinh chỉnh ngưỡng" in page.inner_text("#rule-facts")
    assert LOGIN_AFTER in engine.disabled
    page.click("#rule-state-form button")  # enable again
    page.wait_for_url(f"**/rules/{LOGIN_AFTER}")
    assert LOGIN_AFTER not in engine.disabled


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
