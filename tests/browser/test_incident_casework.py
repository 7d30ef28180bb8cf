"""An analyst works an incident's tasks and observables in a real browser (Chromium).

Add a task for a colleague with a day already past (it shows as overdue), mark it done; read the
observables extracted from the alerts' events, add a domain by hand, dismiss an extracted IP;
follow an observable's one-click searches to the event explorer and the alert queue, which find
the incident's event and alert; attach a file. The timeline says each of these in the page's
language, and the page speaks one language in each locale. Same browser set-up as
`test_console.py` (Debian's Chromium).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.auth.deps import Role
from api.auth.testing import ensure_user
from api.incidents import service
from api.incidents.models import IncidentCreate
from soc_core.event import Event
from stores.sqlite.store import SqliteStore
from tests.api.test_incident_casework import A1, A2
from tests.backends import app_context
from tests.browser import test_console as console
from tests.browser.live import need_chromium, serving
from tests.browser.test_console import _login, _shot, foreign_ui_texts
from tests.contract.test_store_triage_contract import T0
from tests.inspections.scenario import principal

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    folder = tmp_path_factory.mktemp("casework")
    store = SqliteStore(folder / "store.sqlite3")
    store.setup()
    store.put_alerts([A1, A2])
    store.put_events(
        [
            Event.from_doc(
                {
                    "@timestamp": (T0 + timedelta(minutes=1)).isoformat(),
                    "message": "Accepted connection",
                    "event": {"id": "ev-casework-1"},
                    "source": {"ip": "203.0.113.7"},
                    "host": {"name": "web01"},
                }
            )
        ]
    )
    ensure_user(store, "an", Role.ANALYST)
    ensure_user(store, "binh", Role.ANALYST)
    incident = service.create(
        store=store,
        data=IncidentCreate(title="Dò mật khẩu cổng thông tin", alert_ids=[A1.id, A2.id]),
        actor=principal(store, "an", Role.ANALYST),
    )
    with serving(app_context(store, environment="dev", data_dir=folder / "data")) as url:
        yield {"url": url, "store": store, "incident": incident.id}
    store.close()


def _row(page: Any, kind: str, value: str) -> Any:
    return page.locator(f"#observable-list tr.observable[data-type='{kind}'][data-value='{value}']")


def test_an_analyst_works_tasks_and_observables(page: Any, live: dict[str, Any], tmp_path: Path) -> None:
    url, inc = live["url"], live["incident"]
    _login(page, live)
    page.goto(f"{url}/incidents/{inc}")

    # a task for a colleague, due on a day already past: overdue until done
    page.fill("#task-title", "Chặn IP 203.0.113.7 trên tường lửa")
    page.select_option("#task-assignee", "binh")
    page.fill("#task-due", "2020-01-31")
    page.click("#task-form button")
    page.wait_for_url(f"**/incidents/{inc}#tasks")
    task = page.locator("#task-list tr.task").first
    assert "binh" in task.inner_text() and "31/01/2020" in task.inner_text()
    assert "overdue" in (task.get_attribute("class") or "") and "Quá hạn" in task.inner_text()
    task.locator("button.task-toggle").click()
    page.wait_for_selector("#task-list tr.task.done")
    task = page.locator("#task-list tr.task").first
    assert "overdue" not in (task.get_attribute("class") or "") and "an" in task.inner_text()

    # observables extracted from the alerts' events, one added by hand, one dismissed
    assert _row(page, "ip", "203.0.113.7").count() == 1
    assert _row(page, "domain", "evil.example.vn").count() == 1
    assert _row(page, "host", "kiosk1").count() == 1
    page.select_option("#observable-type", "domain")
    page.fill("#observable-value", "C2.Example.com")
    page.click("#observable-form button")
    page.wait_for_url(f"**/incidents/{inc}#observables")
    assert "c2.example.com" in _row(page, "domain", "c2.example.com").inner_text()
    _row(page, "ip", "10.1.2.3").locator("button.observable-remove").click()
    page.wait_for_url(f"**/incidents/{inc}#observables")
    assert _row(page, "ip", "10.1.2.3").count() == 0

    # an attachment, kept like inspection evidence
    note = tmp_path / "bien-ban.txt"
    note.write_text("Biên bản làm việc với đơn vị", encoding="utf-8")
    page.set_input_files("#attachment-form input[type=file]", str(note))
    page.click("#attachment-form button")
    page.wait_for_url(f"**/incidents/{inc}#attachments")
    assert page.locator("#attachment-list a", has_text="bien-ban.txt").count() == 1

    timeline = page.inner_text("#timeline")
    for said in ("thêm việc", "hoàn thành việc", "thêm dấu hiệu", "gỡ dấu hiệu", "đính kèm bien-ban.txt"):
        assert said in timeline, said
    assert "Hạn: 31/01/2020" in timeline
    page.locator("#tasks").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('tasks').scrollIntoView()")
    _shot(page, "incident-casework")

    # one click: the explorer with the IP's query over the incident's time, finding its event
    _row(page, "ip", "203.0.113.7").locator("a.search-events").click()
    page.wait_for_url("**/events?**")
    query = parse_qs(urlsplit(page.url).query)["q"][0]
    assert 'source.ip:"203.0.113.7"' in query and page.input_value("#search") == query
    assert page.inner_text("#event-total").startswith("1")
    page.go_back()
    # and the alert queue, every status, finding the incident's alert on that host
    _row(page, "host", "kiosk1").locator("a.search-alerts").click()
    page.wait_for_url("**/alerts?**")
    assert page.input_value("#search") == 'host_name:"kiosk1"'
    rows = page.locator("tr.alert-row")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == A2.id

    assert foreign_ui_texts(page, url, [f"/incidents/{inc}"]) == {}
