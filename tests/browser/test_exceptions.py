"""An analyst makes an exception of a false positive in a real browser, and the rule stops alerting.

Close the alert as a false positive, follow the offer on the alert page, keep the program and the
host (untick the command line the rule reads), give a reason; the exception shows on /exceptions,
the detect side applies it, and revoking it from the page brings the alerts back. Both pages speak
one language in each locale. Same browser set-up as `test_console.py` (Debian's Chromium).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from api.auth.deps import Role
from api.auth.testing import ensure_user
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from detections.state import RuleWatcher
from socpipe.app import create_app
from stores.sqlite.store import SqliteStore
from tests.api.test_exceptions_api import RULE, event
from tests.backends import app_context, backend_of
from tests.browser import test_console as console
from tests.browser.test_console import CHROMIUM, _free_port, _login, _shot, foreign_ui_text
from tests.servers import in_ci

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"Chromium missing at {CHROMIUM}: install Debian's `chromium` (make system-deps)")
        pytest.skip(f"Chromium missing at {CHROMIUM}")
    folder = tmp_path_factory.mktemp("exceptions")
    (folder / "rules").mkdir()
    (folder / "rules" / "rule.yml").write_text(RULE, encoding="utf-8")
    engine = DetectionEngine([folder / "rules"])
    store = SqliteStore(folder / "store.sqlite3")
    store.setup()
    [match] = engine.match(event().flat())
    alert = DetectStage.build_alert(match, event())
    store.put_alerts([alert])
    ensure_user(store, "an", Role.ANALYST)
    ctx = app_context(store, environment="dev")
    ctx.detect_engine = engine
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
    yield {"url": f"http://127.0.0.1:{port}", "store": store, "engine": engine, "alert": alert.id}
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def test_an_exception_from_a_false_positive(page: Any, live: dict[str, Any]) -> None:
    url, engine = live["url"], live["engine"]
    watcher = RuleWatcher(engine, None, exceptions=backend_of(live["store"]).exceptions, state_every_s=0)
    _login(page, live)
    page.goto(f"{url}/alerts/{live['alert']}")
    assert page.locator("#create-exception-link").count() == 0
    page.click("#false-positive")
    page.wait_for_selector("p.meta .status-false_positive")
    page.click("#create-exception-link")
    page.wait_for_url("**/exception")
    command_line = page.locator("input[name=pick][value='winlog.event_data.CommandLine']")
    assert command_line.is_checked()  # the rule reads it: offered first
    command_line.uncheck()
    page.locator("input[name=pick][value='winlog.event_data.Image']").check()
    assert page.locator("input[name=scope][value=host]").is_checked()
    page.fill("#exception-reason", "Sao lưu hằng đêm của máy chủ tài chính")
    _shot(page, "exception-form")
    page.click("#create-exception")
    page.wait_for_url("**/exceptions?status=active**")
    row = page.locator("#exceptions-table tbody tr").first
    assert "C:\\Tools\\backup.exe" in row.inner_text() and "fin-srv01" in row.inner_text()
    assert "vssadmin" not in row.inner_text()
    _shot(page, "exceptions")

    watcher.tick()
    assert engine.match(event().flat()) == []
    assert engine.match(event(image="C:\\Tools\\other.exe").flat())

    row.locator("input[name=reason]").fill("Đã chuyển lịch sao lưu")
    row.locator("button.revoke").click()
    page.wait_for_url("**/exceptions?status=revoked")
    assert "Đã chuyển lịch sao lưu" in page.inner_text("#exceptions-table")
    watcher.tick()
    assert engine.match(event().flat())


def test_exception_pages_speak_one_language(page: Any, live: dict[str, Any]) -> None:
    _login(page, live)
    found: dict[str, list[str]] = {}
    for lang in ("en", "vi"):
        if page.get_attribute("html", "lang") != lang:
            page.click("#lang-switch")
            page.wait_for_selector(f"html[lang={lang}]")
        for path in ("/exceptions?status=all", f"/alerts/{live['alert']}/exception"):
            page.goto(f"{live['url']}{path}")
            found[f"{lang} {path}"] = foreign_ui_text(page, lang)
    wrong = {where: texts for where, texts in found.items() if texts}
    assert not wrong, "\n".join(f"{where}: {texts}" for where, texts in wrong.items())
