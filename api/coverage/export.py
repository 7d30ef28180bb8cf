"""Exports of the coverage dashboard: CSV (for spreadsheets) and a PDF report in Vietnamese."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import cm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from api.coverage.view import REASON, SCOPE_LABELS, TARGET_STATE, CoverageReport
from api.i18n import label, translations
from api.reports import cells
from api.reports.pdf import register_fonts, styles, table

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def vn_time(ts: datetime | None) -> str:
    return ts.astimezone(VN).strftime("%d/%m/%Y %H:%M") if ts else "—"


class _SafeWriter:
    """`csv.writer` whose text cells cannot run as spreadsheet formulas (`api.reports.cells`): unit and
    system names come from the registry, which any administrator can fill with `=...`."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def writerow(self, row: Iterable[object]) -> None:
        self.writer.writerow([cells.escape(value) for value in row])


def to_csv(report: CoverageReport) -> str:
    """One row per figure (scope × unit), then one per unmonitored system with its reason."""
    out = io.StringIO()
    w = _SafeWriter(csv.writer(out))
    w.writerow(["measured_at", "scope", "unit_id", "unit_name", "covered", "total", "ratio"])
    for f in report.snapshot.figures:
        w.writerow(
            [
                report.now.isoformat(),
                f.scope,
                f.unit_id or "",
                report.unit_name(f.unit_id),
                f.covered,
                f.total,
                f"{f.ratio:.4f}",
            ]
        )
    w.writerow([])
    w.writerow(
        [
            "system_id",
            "system_name",
            "unit_id",
            "level",
            "important",
            "source_id",
            "source_state",
            "last_seen",
            "not_delivering_since",
        ]
    )
    for s in report.unmonitored:
        for src in s.failing_sources or []:
            w.writerow(
                [
                    s.system_id,
                    s.name,
                    s.unit_id,
                    s.level,
                    s.important,
                    src.source_id,
                    src.state.value,
                    src.last_seen.isoformat() if src.last_seen else "",
                    src.not_delivering_since.isoformat() if src.not_delivering_since else "",
                ]
            )
        if not s.sources:
            w.writerow(
                [s.system_id, s.name, s.unit_id, s.level, s.important, "", "no_source_declared", "", ""]
            )
    return out.getvalue()


def _chart(report: CoverageReport) -> Drawing:
    regular, _ = register_fonts()
    drawing = Drawing(17 * cm, 6 * cm)
    points = [(at.timestamp(), 100.0 * c / t if t else 0.0) for at, c, t in report.history]
    if len(points) < 2:
        drawing.add(String(10, 80, "Chưa đủ dữ liệu lịch sử để vẽ biểu đồ.", fontName=regular, fontSize=9))
        return drawing
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 40, 25, 15.5 * cm - 40, 5 * cm - 25
    plot.data = [points]
    plot.lines[0].strokeColor = colors.HexColor("#0d5aa7")
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax, plot.yValueAxis.valueStep = 0, 100, 20
    plot.yValueAxis.labels.fontName = regular
    plot.xValueAxis.labels.fontName = regular
    plot.xValueAxis.labels.fontSize = 7
    plot.xValueAxis.labelTextFormat = lambda v: datetime.fromtimestamp(v, VN).strftime("%d/%m %H:%M")
    plot.xValueAxis.maximumTicks = 6
    drawing.add(plot)
    drawing.add(String(0, 5 * cm + 5, "% HTTT quan trọng được giám sát", fontName=regular, fontSize=8))
    return drawing


def to_pdf(report: CoverageReport) -> bytes:
    """The police's report: headline ratios, targets, chart, units, unmonitored systems."""
    st = styles()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title="Báo cáo mức độ giám sát",
        author="socpipe",
    )
    story = [
        Paragraph("CÔNG AN TỈNH — TRUNG TÂM GIÁM SÁT AN TOÀN THÔNG TIN", st["center"]),
        Spacer(1, 6),
        Paragraph("BÁO CÁO MỨC ĐỘ GIÁM SÁT AN TOÀN THÔNG TIN CÁC HỆ THỐNG THÔNG TIN", st["title"]),
        Paragraph(f"Số liệu đo tại thời điểm {vn_time(report.now)} (giờ Việt Nam).", st["body"]),
        Paragraph("1. Số liệu chính", st["h2"]),
    ]
    rows = [["Chỉ tiêu", "Đạt", "Tổng", "Tỷ lệ"]]
    vi = translations("vi")
    for scope in SCOPE_LABELS:
        f = report.headline(scope)
        rows.append(
            [
                label(SCOPE_LABELS, scope, vi),
                str(f.covered),
                str(f.total),
                f"{100 * f.ratio:.1f}%".replace(".", ","),
            ]
        )
    story.append(table(rows, [9.5 * cm, 2 * cm, 2 * cm, 2 * cm]))
    story.append(Paragraph("2. Mục tiêu và thời hạn", st["h2"]))
    trows = [["Mục tiêu", "Hiện tại", "Thời hạn", "Dự báo", "Đánh giá"]]
    for t in report.targets:
        trows.append(
            [
                f"{label(SCOPE_LABELS, t.scope, vi)}: {t.percent:g}%",
                f"{t.current.covered}/{t.current.total}",
                t.deadline.strftime("%d/%m/%Y"),
                "—" if t.projected_percent is None else f"{t.projected_percent:.1f}%".replace(".", ","),
                label(TARGET_STATE, t.state.value, vi),
            ]
        )
    if len(trows) == 1:
        trows.append(["Chưa khai báo mục tiêu", "", "", "", ""])
    story.append(table(trows, [7 * cm, 2 * cm, 2.3 * cm, 2 * cm, 3 * cm]))
    story.append(Paragraph("3. Diễn biến tỷ lệ giám sát", st["h2"]))
    story.append(_chart(report))
    story.append(Paragraph("4. Theo đơn vị", st["h2"]))
    urows = [["Đơn vị", "HTTT được giám sát", "HTTT quan trọng", "Máy tính được bảo vệ"]]
    for r in report.unit_rows():
        urows.append(
            [
                r["unit"].name,
                f"{r['systems'].covered}/{r['systems'].total}",
                f"{r['important'].covered}/{r['important'].total}",
                f"{r['endpoints'].covered}/{r['endpoints'].total}" if r["endpoints"].total else "—",
            ]
        )
    story.append(table(urows, [7.5 * cm, 3 * cm, 3 * cm, 3 * cm]))
    story.append(Paragraph("5. Hệ thống chưa được giám sát và lý do", st["h2"]))
    srows = [["Hệ thống thông tin", "Đơn vị", "Cấp độ", "Nguồn nhật ký / lý do"]]
    for s in report.unmonitored:
        reasons = (
            "; ".join(
                f"{x.source_id}: {label(REASON, x.state.value, vi)}"
                + (f" từ {vn_time(x.not_delivering_since)}" if x.not_delivering_since else "")
                for x in s.failing_sources
            )
            or "chưa khai báo nguồn nhật ký"
        )
        srows.append(
            [
                Paragraph(s.name, st["small"]),
                Paragraph(report.unit_name(s.unit_id), st["small"]),
                str(s.level),
                Paragraph(reasons, st["small"]),
            ]
        )
    story.append(table(srows, [5.2 * cm, 4.2 * cm, 1.3 * cm, 6 * cm]))
    doc.build(story)
    return buf.getvalue()
