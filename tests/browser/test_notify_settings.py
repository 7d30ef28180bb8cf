"""An admin edits the early warnings' routing rules in a real browser (Chromium): a rule with a bad
field is refused with the rule and field named and the text kept, the corrected text is saved as
version 1 with its reason, and the seed reopens from the list. Then who is on duty: the page says
the on-call list and the escalation chain come from the settings while the text names none; a bad
entry of the chain is refused by its place, and the saved lists are shown in force, in order. The
page with the refusal goes to docs/screenshots/notify-settings.png, the one with the lists to
docs/screenshots/notify-oncall.png (SOCPIPE_UPDATE_DOCS=1)."""

from __future__ import annotations

from typing import Any

from api.auth.deps import Role
from api.auth.testing import ensure_user
from soc_core.notify_config import ConfigKind
from tests.browser import test_acknowledge as acknowledge
from tests.browser.test_console import _login, _shot

browser, page, live = acknowledge.browser, acknowledge.page, acknowledge.live

RULES = """rules:
  - name: cao-và-nghiêm-trọng
    min_severity: high
    oncall: true
    unit_contact: true
  - name: usb-máy-mật
    checklist: [VN-10, VN-12]
    to: ["zalo:0912000111"]
"""

DUTY = """oncall: ["telegram:-1001234567", "email:truc-ban@congan.tinh.gov.vn"]
escalation:
  - email:truong-ca@congan.tinh.gov.vn
  - sms:0912000111
rules:
  - name: cao-và-nghiêm-trọng
    min_severity: high
    oncall: true
    unit_contact: true
"""


def test_an_admin_edits_the_routing_rules(page: Any, live: dict[str, Any]) -> None:
    url, store = live["url"], live["store"]
    ensure_user(store, "quantri", Role.ADMIN)
    _login(page, live, "quantri")
    page.click("#nav-notify")
    page.wait_for_url("**/settings/notify")
    assert "tệp cấu hình ban đầu" in page.locator("#notify-current").inner_text()

    page.fill("#notify-form textarea", RULES)
    page.fill("#notify-form input[name=reason]", "Báo riêng sự cố USB trên máy soạn thảo văn bản mật")
    page.click("#notify-form button")
    problems = page.locator("#notify-problems").inner_text()
    assert "rules.1.to" in problems and 'rule "usb-máy-mật" (number 2), field "to"' in problems
    assert page.locator("#notify-form textarea").input_value() == RULES  # the admin's text is kept
    _shot(page, "notify-settings")
    assert live["backend"].notify_config.current(ConfigKind.ROUTING) is None

    page.fill("#notify-form textarea", RULES.replace("zalo:0912000111", "telegram:-1001234567"))
    page.click("#notify-form button")
    page.wait_for_selector("#notify-saved")
    assert "phiên bản 1, do quantri lưu" in page.locator("#notify-current").inner_text()
    rows = page.locator("#notify-versions tbody tr")
    assert rows.count() == 2 and "Báo riêng sự cố USB" in rows.nth(0).inner_text()
    rows.nth(1).locator("a").click()
    page.wait_for_selector("#notify-viewing")
    assert "high-and-critical" in page.locator("#notify-form textarea").input_value()
    assert f"{url}/settings/notify?kind=routing&version=0" == page.url


def test_an_admin_sets_who_is_on_duty(page: Any, live: dict[str, Any]) -> None:
    url, store = live["url"], live["store"]
    ensure_user(store, "quantri", Role.ADMIN)
    _login(page, live, "quantri")
    page.goto(f"{url}/settings/notify")
    duty = page.locator("#notify-contacts").inner_text()
    assert "Trực ban: không ai" in duty and "Chuỗi leo thang: không leo thang" in duty
    current = live["backend"].notify_config.current(ConfigKind.ROUTING)
    if current is not None:  # the rules saved by the test above name no lists: the settings' ones
        assert "theo thiết lập SOC_NOTIFY_ONCALL" in duty and "theo thiết lập SOC_NOTIFY_ESCALATION" in duty
    base = current.version if current is not None else 0

    page.fill("#notify-form textarea", DUTY)
    page.fill("#notify-form input[name=reason]", "Phân công trực ban tháng 12")
    page.click("#notify-form button")
    problems = page.locator("#notify-problems").inner_text()
    assert "escalation.1" in problems and '"escalation" (the escalation chain), entry 2' in problems
    stored = live["backend"].notify_config.current(ConfigKind.ROUTING)
    assert (stored.version if stored is not None else 0) == base  # nothing saved

    page.fill("#notify-form textarea", DUTY.replace("sms:0912000111", "telegram:-1009876543"))
    page.click("#notify-form button")
    page.wait_for_selector("#notify-saved")
    duty = page.locator("#notify-contacts").inner_text()
    assert "telegram:-1001234567, email:truc-ban@congan.tinh.gov.vn" in duty
    assert "1. email:truong-ca@congan.tinh.gov.vn → 2. telegram:-1009876543" in duty
    assert "theo thiết lập" not in duty
    _shot(page, "notify-oncall")
    stored = live["backend"].notify_config.current(ConfigKind.ROUTING)
    assert stored is not None and stored.version == base + 1 and stored.author == "quantri"
