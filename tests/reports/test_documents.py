"""The weekly and monthly reports read back: the PDF (pypdf) and the DOCX (python-docx) carry the
official layout, the Vietnamese text with its diacritics, and the figures of the store the scenario
seeded through the real pipeline (alerts by unit and severity, the incident, the silent source, the
overdue finding, coverage and a target).

`SOCPIPE_UPDATE_DOCS=1` also writes each report's first page (rendered by PDFium) to
`docs/screenshots/report-{weekly,monthly}-page1.png`, the pictures in the README.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pypdfium2
from docx import Document
from pypdf import PdfReader

from api.inspections.jobs import REMINDER_RULE
from api.periodic import service
from api.periodic.archive import ReportArchive, StoredReport
from api.periodic.periods import ReportKind, bounds, period_of
from soc_core.inspections import vn_today
from soc_core.registry import CoverageScope, CoverageTarget
from soc_core.store import AlertSearch
from tests.inspections.conftest import ROOT
from tests.inspections.scenario import Scenario

SECTIONS = [
    "I. MỨC ĐỘ GIÁM SÁT VÀ TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU",
    "II. CẢNH BÁO AN TOÀN THÔNG TIN THEO ĐƠN VỊ VÀ MỨC ĐỘ",
    "III. SỰ CỐ AN TOÀN THÔNG TIN VÀ THỜI GIAN XỬ LÝ",
    "IV. NGUỒN NHẬT KÝ KHÔNG GỬI DỮ LIỆU",
    "V. TỒN TẠI, HẠN CHẾ QUÁ HẠN KHẮC PHỤC",
]
SHOTS = ROOT / "docs" / "screenshots"
SEVERITIES = ("low", "medium", "high", "critical")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _generate(scenario: Scenario, tmp_path: Path, kind: ReportKind) -> tuple[ReportArchive, StoredReport]:
    """The report of the period holding the scenario's alerts (two days ago), with a target added."""
    registry = scenario.store.load_registry()
    deadline = scenario.today + timedelta(days=60)
    target = CoverageTarget(
        id="quan-trong-90", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=90, deadline=deadline
    )
    scenario.store.save_registry(registry.model_copy(update={"targets": [target]}))
    archive = ReportArchive(tmp_path)
    report = service.generate(
        store=scenario.store,
        coverage=scenario.coverage,
        inspections=scenario.repo,
        archive=archive,
        kind=kind,
        first=vn_today(scenario.now - timedelta(days=2)),
        actor="pa05",
        signer="Nguyễn Thị Hà",
        trigger="manual",
        recipients=[],
        place="Ninh Bình",
    )
    return archive, report


def _expected_alert_rows(scenario: Scenario, first: date, following: date) -> dict[str, list[int]]:
    """Per unit name, alerts by severity then the total, counted from the store one alert at a time."""
    start, end = bounds(first, following)
    names = {u.id: u.name for u in scenario.store.load_registry().units}
    counts: dict[str, Counter[str]] = {}
    for alert in scenario.store.search_alert_queue(AlertSearch(start=start, end=end, size=1000)).items:
        if alert.rule.id != REMINDER_RULE.id:
            counts.setdefault(names[alert.soc.unit.id or ""], Counter())[alert.severity.value] += 1
    return {name: [c[s] for s in SEVERITIES] + [sum(c.values())] for name, c in counts.items()}


def _write_first_page(pdf: bytes, name: str, tmp_path: Path) -> None:
    """Render page 1 as the README shows it; check it is an A4 page with ink on it."""
    doc = pypdfium2.PdfDocument(pdf)
    image = doc[0].render(scale=80 / 72).to_pil()
    doc.close()
    assert 655 <= image.width <= 665 and abs(image.height / image.width - 2**0.5) < 0.01  # A4 at 80 dpi
    assert image.convert("L").getextrema()[0] < 64  # text was drawn
    out = SHOTS / name if os.environ.get("SOCPIPE_UPDATE_DOCS") == "1" else tmp_path / name
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG", optimize=True)


def test_weekly_pdf_reads_back_with_the_stores_figures(scenario: Scenario, tmp_path: Path) -> None:
    archive, report = _generate(scenario, tmp_path, "weekly")
    first, following = period_of("weekly", vn_today(scenario.now - timedelta(days=2)))
    assert (report.period_first, report.period_following) == (first, following) and first.weekday() == 0
    path, file = archive.open(report.id, "pdf")
    pdf = path.read_bytes()
    assert file.filename == f"bao-cao-tuan-{first:%Y%m%d}.pdf"

    reader = PdfReader(io.BytesIO(pdf))
    week = first.isocalendar()
    assert (
        reader.metadata is not None and reader.metadata.title == f"Báo cáo tuần {week.week} năm {week.year}"
    )
    page1 = _flat(reader.pages[0].extract_text())
    text = _flat("\n".join(p.extract_text() for p in reader.pages))
    for heading in ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "BÁO CÁO TUẦN"):
        assert heading in page1
    assert "Tình hình giám sát an toàn thông tin trên địa bàn tỉnh" in page1
    # A week still running says so, and prints the days it covers so far.
    last = min(following - timedelta(days=1), vn_today(report.generated_at))
    assert f"(tuần {week.week} năm {week.year}, từ ngày {first:%d/%m/%Y} đến ngày {last:%d/%m/%Y})" in page1
    running = vn_today(report.generated_at) < following
    assert ("kỳ báo cáo chưa kết thúc: số liệu tạm tính đến" in page1) == running
    assert "Ninh Bình, ngày" in page1
    positions = [text.index(s) for s in SECTIONS]
    assert positions == sorted(positions)

    # Coverage now, against the start of the week (the first measurement was before any event).
    assert "Hệ thống thông tin được giám sát 2/3 66,7% 0,0% +66,7 điểm %" in text
    assert "Máy tính có phòng chống mã độc tập trung 1/3 33,3%" in text
    # The target: 1/2 important systems now, 90% due in 60 days.
    assert f"Toàn tỉnh 90,0% {scenario.today + timedelta(days=60):%d/%m/%Y} 50,0%" in text

    # Alerts by unit and severity, as the store has them.
    rows = _expected_alert_rows(scenario, first, following)
    assert rows["Sở Y tế"][-1] >= 3 and rows["UBND xã Yên Thắng"][-1] >= 1
    total = sum(r[-1] for r in rows.values())
    assert f"Tổng số cảnh báo trong kỳ: {total} (Thấp: " in text
    for name, counts in rows.items():
        assert f"{name} {' '.join(map(str, counts))}" in text

    # The incident: detected two days ago, resolved by the analyst when the scenario ran.
    start, end = bounds(first, following)
    inc = scenario.store.get_incident_versioned(scenario.incident)
    assert inc is not None
    detected, resolved = inc[0].detected_at, inc[0].resolved_at
    assert resolved is not None
    new = int(start <= detected < end)
    done = int(start <= resolved < end)
    assert f"Sự cố mới phát sinh trong kỳ: {new}; sự cố đã xử lý xong trong kỳ: {done}." in text
    assert (scenario.incident in text.replace(" ", "")) == bool(new or done)

    # The source that never delivered, the finding past its deadline.
    assert "Số nguồn nhật ký không gửi dữ liệu tại thời điểm lập báo cáo: 1." in text
    assert "Sở Y tế Phần mềm quản lý bệnh viện Web HIS Chưa từng kết nối" in text
    now = datetime.now(UTC)
    overdue = [f for f in scenario.repo.list_findings() if f.remediation(now) == "overdue"]
    assert len(overdue) == 1
    assert "Số tồn tại, hạn chế qua kiểm tra đã quá hạn mà chưa khắc phục: 1." in text
    assert _flat(overdue[0].description) in text
    assert f"{overdue[0].remediation_deadline:%d/%m/%Y} {-overdue[0].days_left(now)} ngày" in text
    assert "Nơi nhận:" in text and "Tiểu ban An toàn, an ninh mạng tỉnh;" in text
    assert "NGƯỜI LẬP" in text and "Nguyễn Thị Hà" in text
    _write_first_page(pdf, "report-weekly-page1.png", tmp_path)


def test_weekly_docx_reads_back_with_the_same_figures(scenario: Scenario, tmp_path: Path) -> None:
    archive, report = _generate(scenario, tmp_path, "weekly")
    path, file = archive.open(report.id, "docx")
    assert file.filename.endswith(".docx")
    doc = Document(io.BytesIO(path.read_bytes()))
    assert doc.core_properties.title == report.title
    paragraphs = [p.text for p in doc.paragraphs if p.text.strip()]
    assert [p for p in paragraphs if p in SECTIONS] == SECTIONS
    assert "BÁO CÁO TUẦN" in paragraphs
    heading = doc.tables[0].rows[0].cells
    assert heading[0].text.splitlines()[:2] == ["CÔNG AN TỈNH", "TRUNG TÂM GIÁM SÁT AN TOÀN THÔNG TIN"]
    assert heading[1].text.splitlines()[:2] == [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    ]
    tables = {tuple(c.text for c in t.rows[0].cells): t for t in doc.tables[1:-1]}
    coverage = [
        [c.text for c in row.cells]
        for row in tables[("Chỉ tiêu", "Đạt / Tổng", "Tỷ lệ", "Đầu kỳ", "Thay đổi")].rows[1:]
    ]
    assert ["Hệ thống thông tin được giám sát", "2/3", "66,7%", "0,0%", "+66,7 điểm %"] in coverage
    by_unit = tables[("Đơn vị", "Thấp", "Trung bình", "Cao", "Nghiêm trọng", "Tổng")]
    alerts = {row.cells[0].text: [int(c.text) for c in row.cells[1:]] for row in by_unit.rows[1:]}
    assert alerts == _expected_alert_rows(scenario, report.period_first, report.period_following)
    assert len(doc.inline_shapes) == 1  # the chart of alerts by unit and severity, as a picture
    signature = doc.tables[-1].rows[0].cells
    assert signature[0].text.startswith("Nơi nhận:") and "Nguyễn Thị Hà" in signature[1].text


def test_monthly_report_covers_the_calendar_month(scenario: Scenario, tmp_path: Path) -> None:
    archive, report = _generate(scenario, tmp_path, "monthly")
    first = vn_today(scenario.now - timedelta(days=2)).replace(day=1)
    assert report.period_first == first and report.period_following.day == 1
    assert report.period_following == (first + timedelta(days=32)).replace(day=1)
    pdf = archive.open(report.id, "pdf")[0].read_bytes()
    page1 = _flat(PdfReader(io.BytesIO(pdf)).pages[0].extract_text())
    assert "BÁO CÁO THÁNG" in page1 and f"(tháng {first:%m/%Y}, từ ngày {first:%d/%m/%Y}" in page1
    rows = _expected_alert_rows(scenario, report.period_first, report.period_following)
    assert report.figures.alerts_total == sum(r[-1] for r in rows.values())
    _write_first_page(pdf, "report-monthly-page1.png", tmp_path)
