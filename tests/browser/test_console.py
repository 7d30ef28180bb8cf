"""The console in a real browser: Debian's Chromium driven by Playwright, the app on real uvicorn.

Flows: sign in, filter the queue, open an alert from the keyboard, acknowledge, close as false
positive, group two alerts into an incident, switch the language; every page in one language only
(English shows no Vietnamese, Vietnamese no English, data marked `translate="no"` aside); and hostile
log content (script tags, onerror images, javascript: links, control characters) shown as text with
nothing run or injected. Screenshots of the main pages go to docs/screenshots/.

Chromium comes from Debian (`chromium` in deploy/local/debian-packages.txt); `playwright install` is
never run. Without Chromium these tests skip on a developer machine and fail in CI.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from api.auth.deps import Role
from api.auth.testing import TEST_PASSWORD, ensure_user
from api.incidents import service as incidents
from api.incidents.models import IncidentCreate
from api.inspections import service as inspections
from api.inspections.models import (
    FindingCreate,
    PlanCreate,
    PlanUnitIn,
    TeamMemberIn,
    TeamRole,
    VisitCreate,
    vn_today,
)
from soc_core.alert import Severity
from soc_core.event import Event
from soc_core.registry import InformationSystem, Registry, Unit
from soc_core.store import AlertSearch
from stores.sqlite.store import SqliteStore
from tests.backends import app_context, backend_of
from tests.browser.live import CHROMIUM, need_chromium, serving
from tests.contract.test_store_triage_contract import triage_alert
from tests.inspections.scenario import principal

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
ROOT = Path(__file__).resolve().parents[2]
VIETNAMESE = re.compile(
    "[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE
)
# What log content could have injected into a page: scripts (by source), images, javascript: links and
# event-handler attributes.
INJECTED = """() => ({
    scripts: Array.from(document.scripts).map(s => s.getAttribute('src')),
    images: document.images.length,
    jsLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    handlers: Array.from(document.querySelectorAll('*')).filter(
        el => Array.from(el.attributes).some(a => a.name.startsWith('on'))).length,
})"""
UI_TEXT = """() => {
    // Text and the translatable attributes outside elements marked translate="no" (data).
    const ui = el => !el.closest('[translate="no"], script, style');
    const out = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const text = n.textContent.trim();
        if (text && ui(n.parentElement)) out.push(text);
    }
    for (const el of document.body.querySelectorAll('[title], [placeholder], [aria-label]')) {
        if (!ui(el)) continue;
        for (const name of ['title', 'placeholder', 'aria-label']) {
            const value = el.getAttribute(name);
            if (value) out.push(value);
        }
    }
    return out;
}"""


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
    need_chromium()
    store = SqliteStore(tmp_path_factory.mktemp("browser") / "store.sqlite3")
    store.setup()
    _seed(store)
    ensure_user(store, "an", Role.ANALYST)
    ensure_user(store, "quantri", Role.ADMIN)
    ctx = app_context(store, environment="dev")
    ctx.registry.reload()
    with serving(ctx) as url:
        yield {"url": url, "store": store}
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


def _login(page: Any, live: dict[str, Any], username: str = "an", path: str = "/alerts") -> None:
    page.goto(f"{live['url']}{path}")
    page.wait_for_url("**/login?next=*")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"**{path}")


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
        injected = page.evaluate(INJECTED)
        ours = ["/static/console.js", "/static/queue.js"] if "/alerts?" in url else ["/static/console.js"]
        assert sorted(injected.pop("scripts")) == ours, url
        assert injected == {"images": 0, "jsLinks": 0, "handlers": 0}, url
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


def foreign_ui_texts(page: Any, base_url: str, paths: list[str]) -> dict[str, list[str]]:
    """`foreign_ui_text` of each page of `paths` in English then Vietnamese, keyed "<lang> <path>";
    only the pages that show the other language's words."""
    found: dict[str, list[str]] = {}
    for lang in ("en", "vi"):
        if page.get_attribute("html", "lang") != lang:
            page.click("#lang-switch")
            page.wait_for_selector(f"html[lang={lang}]")
        for path in paths:
            page.goto(f"{base_url}{path}")
            assert page.get_attribute("html", "lang") == lang
            found[f"{lang} {path}"] = foreign_ui_text(page, lang)
    return {where: texts for where, texts in found.items() if texts}


def english_phrases() -> re.Pattern[str]:
    """The catalogs' English wording that differs from its Vietnamese, as whole-word phrases (the
    placeholders and markup cut out): what a Vietnamese page must not show. A phrase the Vietnamese
    itself uses ("Administrator" in a checklist item) says nothing and is left out."""
    phrases: set[str] = set()
    vietnamese: list[str] = []
    for folder, domain in (("api", "documents"), ("soc_console", "messages")):
        po = {}
        for locale in ("vi", "en"):
            with (ROOT / folder / "locales" / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
                po[locale] = read_po(fh, locale=locale)
        vietnamese += [str(m.string) for m in po["vi"] if m.id]
        for en in po["en"]:
            vi = po["vi"].get(en.id)
            if not en.id or vi is None or vi.string == en.string:
                continue
            for text in en.string if isinstance(en.string, tuple) else (en.string,):
                for piece in re.split(r"%\(\w+\)\w|%%|<[^>]+>", text):
                    piece = re.sub(r"^\W+|\W+$", "", piece)
                    if len(re.sub(r"\W", "", piece)) >= 2:
                        phrases.add(piece)
    words = {p: re.compile(rf"(?<!\w){re.escape(p)}(?!\w)") for p in phrases}
    english = [p for p, word in words.items() if not any(word.search(v) for v in vietnamese)]
    return re.compile("|".join(words[p].pattern for p in sorted(english, key=len, reverse=True)))


def foreign_ui_text(page: Any, lang: str) -> list[str]:
    """UI text of the other language on the page: Vietnamese diacritics on an English page, the
    catalogs' English phrases on a Vietnamese one."""
    texts: list[str] = page.evaluate(UI_TEXT)
    assert texts, "no UI text found"
    if lang == "en":
        return [t for t in texts if VIETNAMESE.search(t)]
    english = english_phrases()
    return [f"{t!r} ({m.group(0)!r})" for t in texts if (m := english.search(t))]


def _seed_inspection(store: SqliteStore) -> dict[str, str]:
    """A plan for the department, a visit with its minutes and one finding: the inspection pages."""
    repo = backend_of(store).inspections
    admin = principal(store, "quantri", Role.ADMIN)
    inspector = principal(store, "thanhtra", Role.INSPECTOR)
    today = vn_today(datetime.now(UTC))
    plan = inspections.create_plan(
        store=store,
        repo=repo,
        data=PlanCreate(
            title="Kiểm tra an toàn thông tin Sở Khoa học và Công nghệ",
            number="3/KH-TBANM",
            scope_start=today - timedelta(days=30),
            units=[PlanUnitIn(unit_id="so-khcn", visit_date=today)],
            team=[TeamMemberIn(user="thanhtra", team_role=TeamRole.HEAD)],
            place="Ninh Bình",
            legal_basis=["Luật An ninh mạng 2018"],
        ),
        actor=admin,
    )
    visit = inspections.create_visit(
        store=store,
        repo=repo,
        data=VisitCreate(plan_id=plan.id, unit_id="so-khcn", minutes_number="4/BB-ĐKT", minutes_date=today),
        actor=inspector,
    )
    inspections.create_finding(
        store=store,
        repo=repo,
        visit_id=visit.id,
        data=FindingCreate(
            checklist_code="VN-10",
            description="Cắm USB vào máy soạn thảo tài liệu mật",
            severity=Severity.HIGH,
        ),
        actor=inspector,
    )
    alert = store.search_alert_queue(AlertSearch())
    incident = incidents.create(
        store=store,
        data=IncidentCreate(title="Máy kế toán chạy công cụ bẻ khóa", alert_ids=[alert.items[0].id]),
        actor=admin,
        ip=None,
    )
    return {
        "plan": plan.id,
        "visit": visit.id,
        "alert": alert.items[0].id,
        "incident": incident.id,
    }


def test_every_page_speaks_one_language(page: Any, live: dict[str, Any]) -> None:
    ids = _seed_inspection(live["store"])
    url = live["url"]
    pages = [
        "/",
        "/alerts",
        f"/alerts/{ids['alert']}",
        "/events",
        "/incidents",
        f"/incidents/{ids['incident']}",
        "/audit",
        "/coverage",
        "/registry",
        "/inspections",
        f"/inspections/plans/{ids['plan']}",
        f"/inspections/visits/{ids['visit']}",
        "/units/so-khcn/dossier",
        "/inspections/plans/no-such-plan",  # the error page
        "/no-such-page",  # the console's 404 page
    ]
    _login(page, live, "quantri")
    found = foreign_ui_texts(page, url, pages)
    page.click("#logout")
    page.wait_for_url("**/login")
    found["vi /login"] = foreign_ui_text(page, "vi")
    page.click("#lang-switch")
    page.wait_for_selector("html[lang=en]")
    found["en /login"] = foreign_ui_text(page, "en")
    wrong = {where: texts for where, texts in found.items() if texts}
    assert not wrong, "\n".join(f"{where}: {texts}" for where, texts in wrong.items())


def test_a_role_lands_on_its_page_and_a_refusal_is_a_page(page: Any, live: dict[str, Any]) -> None:
    """Issue 14: the police start on the coverage dashboard, not the alert queue; a page their role
    may not open answers a page in their language, not JSON."""
    ensure_user(live["store"], "congan-landing", Role.POLICE)
    page.goto(f"{live['url']}/login")
    page.fill("input[name=username]", "congan-landing")
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live['url']}/coverage")
    resp = page.goto(f"{live['url']}/audit")
    assert resp is not None and resp.status == 403
    assert page.locator("h1").inner_text() == "Không có quyền xem"
    page.click("#error-home")
    page.wait_for_url(f"{live['url']}/coverage")


def test_the_api_documentation_renders_under_the_csp(page: Any, live: dict[str, Any]) -> None:
    """Swagger UI runs from this origin only: every operation is listed and the browser refused
    nothing (a CDN script or an inline one would be blocked by the Content-Security-Policy)."""
    refused: list[str] = []
    page.on("console", lambda msg: refused.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: refused.append(r.url) if r.status >= 400 else None)
    _login(page, live)
    page.goto(f"{live['url']}/api/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) >= 50 and "/api/v1/alerts" in {p.strip().replace("\u200b", "") for p in paths}
    assert not refused, refused
