"""The periodic reports page in a real browser (Chromium): an admin generates the weekly report now,
it is listed, its PDF and Word downloads are the real documents (read back with pypdf and
python-docx); when the scheduler could not mail it the admin asks for a resend and the page says
it goes at the next run; a police officer sees the list, downloads, and no button. The page goes to
docs/screenshots/reports.png (SOCPIPE_UPDATE_DOCS=1). Same browser set-up as `test_console.py`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docx
import pytest
from pypdf import PdfReader

from api.auth.deps import Role
from api.auth.testing import ensure_user
from soc_core.settings import NotifySettings, ReportSettings
from socpipe.jobs import ReportJob, report_dispatcher
from stores.sqlite.store import SqliteStore
from tests.backends import app_context, backend_of
from tests.browser import test_console as console
from tests.browser.live import free_port, need_chromium, serving
from tests.browser.test_console import _login, _shot

browser = console.browser  # the same browser fixtures, over this module's `live` server
page = console.page
RECIPIENT = "tieuban@ninhbinh.gov.vn"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    need_chromium()
    folder = tmp_path_factory.mktemp("reports")
    store = SqliteStore(folder / "store.sqlite3")
    store.setup()
    ensure_user(store, "quantri", Role.ADMIN)
    ensure_user(store, "pa05", Role.POLICE)
    # mail to a port nobody listens on: the scheduler's mailing fails, so there is something to resend
    unreachable = NotifySettings(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_from="soc@congan.ninhbinh.gov.vn", retry_attempts=1
    )
    ctx = app_context(
        store,
        environment="dev",
        data_dir=folder / "data",
        notify=unreachable,
        reports=ReportSettings(recipients=[RECIPIENT], place="Ninh Bình"),
    )
    with serving(ctx) as url:
        yield {"url": url, "store": store, "ctx": ctx, "downloads": folder / "downloads"}
    store.close()


def _download(page: Any, live: dict[str, Any], link: Any) -> Path:
    with page.expect_download() as info:
        link.click()
    target = live["downloads"] / info.value.suggested_filename
    info.value.save_as(target)
    return Path(target)


def test_admin_generates_resends_and_police_only_reads(browser: Any, live: dict[str, Any]) -> None:
    admin = browser.new_context(
        viewport={"width": 1366, "height": 860},
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        accept_downloads=True,
    ).new_page()
    _login(admin, live, "quantri", "/reports")
    assert "Chưa có báo cáo" in admin.inner_text("#reports-table")
    admin.select_option("#generate-report select[name=kind]", "weekly")
    admin.click("#generate-report button")
    admin.wait_for_url(re.compile(r".*/reports\?made=weekly-"))
    report_id = admin.url.split("made=", 1)[1]
    row = admin.locator(f"#report-{report_id}")
    assert row.count() == 1 and "made" in (row.get_attribute("class") or "")
    title = row.locator("td").first.inner_text()
    assert title.startswith("Báo cáo tuần ") and "theo yêu cầu" in row.inner_text()
    assert f"{RECIPIENT}: đang chờ: gửi ở lần chạy tới" in row.inner_text()

    pdf = _download(admin, live, row.get_by_role("link", name="PDF"))
    assert pdf.name.startswith("bao-cao-tuan-") and pdf.suffix == ".pdf"
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(pdf).pages).split())
    assert "BÁO CÁO TUẦN" in text and f"({title.removeprefix('Báo cáo ')}, từ ngày" in text
    assert "Ninh Bình, ngày" in text and "Quantri" in text  # the place setting, the admin who signs
    word = _download(admin, live, row.get_by_role("link", name="DOCX"))
    document = docx.Document(str(word))
    assert word.suffix == ".docx" and document.core_properties.title == title
    assert "BÁO CÁO TUẦN" in [p.text for p in document.paragraphs]

    ctx = live["ctx"]
    ReportJob(backend_of(live["store"]), ctx.settings, report_dispatcher(ctx.settings)).run()
    admin.reload()
    row = admin.locator(f"#report-{report_id}")
    assert "không gửi được" in row.inner_text()
    row.locator("form.resend-report button").click()
    admin.wait_for_url(f"**/reports?resent={report_id}")
    assert "sẽ được gửi lại ở lần chạy tới" in admin.inner_text("#report-resent")
    row = admin.locator(f"#report-{report_id}")
    assert (
        "đang chờ: gửi ở lần chạy tới" in row.inner_text() and "quantri yêu cầu gửi lại" in row.inner_text()
    )
    assert row.locator("form.resend-report").count() == 0  # nothing failed any more
    _shot(admin, "reports")
    admin.context.close()

    police = browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", accept_downloads=True
    ).new_page()
    _login(police, live, "pa05", "/reports")
    assert police.locator(f"#report-{report_id}").count() == 1
    assert (
        police.locator("#generate-report").count() == 0 and police.locator("form.resend-report").count() == 0
    )
    again = _download(police, live, police.locator(f"#report-{report_id}").get_by_role("link", name="PDF"))
    assert again.read_bytes() == pdf.read_bytes()
    police.context.close()
