"""The unit dossier as the teams' own documents: a PDF (reportlab) and a DOCX (python-docx).

Laid out the way the provincial plans and minutes are (Decree 30/2020 style): the issuing body on
the left and the national heading "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM / Độc lập - Tự do - Hạnh phúc"
on the right, the number and the place and date, the title, Roman-numbered sections with tables,
then "Nơi nhận" and the signature block.

Both formats are rendered from one outline (`outline(dossier)`: headings, paragraphs, tables), so a
figure in the PDF is the figure in the DOCX. Vietnamese needs a Unicode font in the PDF: the DejaVu
fonts that `api.reports.pdf` registers.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import date
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import Table as DocxTable
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from api.coverage.view import SCOPE_LABELS, gap_reason
from api.i18n import duration, label, translations
from api.inspections import labels
from api.inspections.dossier import UnitDossier, vn_date, vn_time, window_days
from api.inspections.models import VN_TZ
from api.reports.chart import bar_chart, chart_png
from api.reports.pdf import register_fonts, styles, table
from soc_core.text import show_controls

NATIONAL = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
DEFAULT_BODY = "CÔNG AN TỈNH\nTRUNG TÂM GIÁM SÁT AN TOÀN THÔNG TIN"
"""The heading when the window belongs to no plan: the SOC that compiled the dossier."""
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
MAX_TABLE_ROWS = 60


def vn_num(value: float, digits: int = 0) -> str:
    """1.234,5: Vietnamese digit grouping and decimal comma."""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def vn_percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{vn_num(100 * ratio, 1)}%"


def long_date(place: str | None, day: date) -> str:
    return f"{place or '……'}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


# -- the outline -----------------------------------------------------------------------------------


@dataclass
class Heading:
    text: str
    level: int = 1


@dataclass
class Para:
    text: str
    italic: bool = False


@dataclass
class Grid:
    header: list[str]
    rows: list[list[str]]
    widths: list[float]  # cm, summing to the text width (17 cm)
    note: str | None = None


@dataclass
class Series:
    name: str
    values: list[int]


@dataclass
class Bars:
    """A bar chart: one group of bars per category, one bar per series (drawn by `api.reports.chart`)."""

    title: str
    categories: list[str]
    series: list[Series]


Block = Heading | Para | Grid | Bars


@dataclass
class Outline:
    issuing_body: list[str]
    number: str
    place_date: str
    title: str
    subtitle: list[str]
    blocks: list[Block] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    signer_title: list[str] = field(default_factory=list)
    signer_name: str = ""


def _visible(value: Any) -> Any:
    """Every string of an outline with its control and bidirectional characters made visible
    (`soc_core.text`): unit names, findings and minutes are typed by people and imported from
    files, and a right-to-left override would reorder what the inspection team reads and signs."""
    if isinstance(value, str):
        return show_controls(value)
    if isinstance(value, list):
        return [_visible(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: _visible(getattr(value, f.name)) for f in fields(value)})
    return value


def visible_outline(d: UnitDossier) -> Outline:
    """The outline both documents are rendered from, safe to show."""
    made: Outline = _visible(outline(d))
    return made


def _cut(rows: list[list[str]], widths: list[float]) -> tuple[list[list[str]], str | None]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows, None
    return rows[
        :MAX_TABLE_ROWS
    ], f"(Hiển thị {MAX_TABLE_ROWS}/{vn_num(len(rows))} dòng; đầy đủ trong bản JSON.)"


def _grid(header: list[str], rows: list[list[str]], widths: list[float], empty: str) -> Block:
    if not rows:
        return Para(empty, italic=True)
    shown, note = _cut(rows, widths)
    return Grid(header, shown, widths, note)


def outline(d: UnitDossier) -> Outline:
    """The dossier as a document: every section numbered, every table with its header row."""
    first, last = window_days(d)
    vi = translations("vi")
    plan = d.plan
    body = [line.strip().upper() for line in (plan.issuing_body if plan else DEFAULT_BODY).splitlines()]
    blocks: list[Block] = []
    n = iter(ROMAN)

    def section(title: str) -> None:
        blocks.append(Heading(f"{next(n)}. {title}"))

    # I. General information
    section("THÔNG TIN CHUNG")
    info = [
        ["Đơn vị", d.unit.name],
        ["Loại hình", label(labels.UNIT_KIND, d.unit.kind, vi)],
        ["Đơn vị cấp trên", d.unit.parent_name or "—"],
        ["Cán bộ phụ trách an toàn thông tin", d.unit.security_contact or "Chưa khai báo"],
        ["Phạm vi dữ liệu", f"Từ ngày {vn_date(first)} đến ngày {vn_date(last)}"],
    ]
    if plan is not None:
        info += [
            ["Kế hoạch kiểm tra", f"{plan.number + ' - ' if plan.number else ''}{plan.title}"],
            ["Hình thức", label(labels.PLAN_KIND, plan.kind, vi)],
            ["Ngày kiểm tra", vn_date(plan.visit_date)],
            [
                "Báo cáo tự kiểm tra",
                f"Hạn {vn_date(plan.self_assessment_due)}: "
                f"{label(labels.SELF_ASSESSMENT, plan.self_assessment_state, vi)}"
                + (
                    f" (nhận {vn_time(plan.self_assessment_received_at)})"
                    if plan.self_assessment_received_at
                    else ""
                ),
            ],
            [
                "Đoàn kiểm tra",
                "; ".join(
                    f"{m['display_name'] or m['username']} ({label(labels.TEAM_ROLE, m['team_role'], vi)})"
                    for m in plan.team
                )
                or "—",
            ],
        ]
    blocks.append(Grid(["Nội dung", "Thông tin"], info, [5.5, 11.5]))

    # II. Systems
    section("HỆ THỐNG THÔNG TIN VÀ CẤP ĐỘ AN TOÀN")
    rows = [
        [
            str(i),
            s.name,
            str(s.level),
            label(labels.APPROVAL, s.level_approval, vi),
            "Có" if s.important else "Không",
            "Được giám sát" if s.monitored_now else "Chưa được giám sát",
            vn_percent(s.monitored_share),
        ]
        for i, s in enumerate(d.systems, 1)
    ]
    blocks.append(
        _grid(
            [
                "TT",
                "Hệ thống thông tin",
                "Cấp độ",
                "Phê duyệt cấp độ",
                "Quan trọng",
                "Hiện tại",
                "Thời gian được giám sát",
            ],
            rows,
            [0.9, 4.6, 1.4, 3.0, 1.8, 2.8, 2.5],
            "Đơn vị chưa khai báo hệ thống thông tin.",
        )
    )

    # III. Coverage
    section("MỨC ĐỘ GIÁM SÁT")
    blocks.append(Para(f"1. Số liệu đo tại thời điểm {vn_time(d.coverage.at)}:"))
    blocks.append(
        Grid(
            ["Chỉ tiêu", "Đạt / Tổng", "Tỷ lệ"],
            [
                [
                    label(SCOPE_LABELS, f.scope, vi),
                    f"{vn_num(f.covered)}/{vn_num(f.total)}",
                    vn_percent(f.ratio if f.total else None),
                ]
                for f in d.coverage.figures
            ],
            [10.0, 3.5, 3.5],
        )
    )
    observed = (
        f"(đo liên tục từ {vn_time(d.coverage.observed_from)})"
        if d.coverage.observed_from
        else "(chưa có số liệu đo trong kỳ)"
    )
    blocks.append(
        Para(f"2. Các khoảng gián đoạn giám sát trong kỳ {observed}: {vn_num(len(d.coverage.gaps))}.")
    )
    blocks.append(
        _grid(
            ["Đối tượng", "Loại", "Từ", "Đến", "Thời lượng trong kỳ", "Lý do"],
            [
                [
                    g.subject_name,
                    label(labels.GAP_KIND, g.kind, vi),
                    vn_time(g.start),
                    vn_time(g.end) if g.end else "Đang gián đoạn",
                    duration(g.seconds_in_window, vi),
                    gap_reason(g.reason, vi),
                ]
                for g in d.coverage.gaps
            ],
            [3.8, 2.0, 2.6, 2.6, 2.4, 3.6],
            "Không có gián đoạn trong kỳ.",
        )
    )

    # IV. Alerts
    a = d.alerts
    section("CẢNH BÁO AN TOÀN THÔNG TIN")
    blocks.append(
        Para(
            f"Tổng số cảnh báo trong kỳ: {vn_num(a.total)} (từ dữ liệu giám sát: {vn_num(a.live)}; "
            f"từ chứng cứ thu thập tại đơn vị: {vn_num(a.from_evidence)})."
            + (" Số liệu đã bị giới hạn." if a.truncated else "")
        )
    )
    blocks.append(Para("1. Theo mức độ:"))
    blocks.append(
        Grid(
            ["Mức độ", "Số cảnh báo"],
            [[label(labels.SEVERITY, s, vi), vn_num(c)] for s, c in a.by_severity.items()],
            [10.0, 7.0],
        )
    )
    blocks.append(Para("2. Theo quy tắc phát hiện:"))
    blocks.append(
        _grid(
            ["Quy tắc phát hiện", "Mức độ cao nhất", "Số cảnh báo"],
            [[r.name, label(labels.SEVERITY, r.severity, vi), vn_num(r.count)] for r in a.by_rule],
            [11.0, 3.0, 3.0],
            "Không có cảnh báo trong kỳ.",
        )
    )
    blocks.append(
        Para("3. Cảnh báo đáng chú ý (mức Cao, Nghiêm trọng hoặc thuộc danh mục kiểm tra) và sự kiện gốc:")
    )
    blocks.append(
        _grid(
            ["Thời gian", "Mức độ", "Quy tắc / mã", "Máy / tài khoản", "Sự kiện gốc"],
            [
                [
                    vn_time(x.timestamp),
                    label(labels.SEVERITY, x.severity, vi),
                    x.rule_name + (f" [{', '.join(x.checklist)}]" if x.checklist else ""),
                    f"{x.host or '—'} / {x.user or '—'}",
                    ((x.event.summary or "—") if x.event else "—")[:200]
                    + (" (chứng cứ thu thập tại đơn vị)" if x.evidence else ""),
                ]
                for x in a.notable
            ],
            [2.5, 1.8, 4.5, 2.7, 5.5],
            "Không có cảnh báo đáng chú ý.",
        )
    )
    ack = a.acknowledgement
    blocks.append(Para("4. Tiếp nhận cảnh báo và thời hạn tiếp nhận (SLA):"))
    blocks.append(
        Para(
            f"Cảnh báo từ dữ liệu giám sát đã được tiếp nhận: {vn_num(ack.acknowledged)}/{vn_num(ack.live)} "
            f"(qua đường dẫn trong cảnh báo sớm gửi đơn vị: {vn_num(ack.via_link)}). "
            f"Thời gian tiếp nhận trung bình: {duration(ack.tta_mean_s, vi)} "
            f"(trung vị {duration(ack.tta_median_s, vi)}). "
            f"Cảnh báo mức Cao, Nghiêm trọng: {vn_num(ack.with_sla)}; "
            f"tiếp nhận đúng hạn: {vn_num(ack.in_time)}; "
            f"tiếp nhận quá hạn: {vn_num(ack.late)}; chưa tiếp nhận, đã quá hạn: {vn_num(ack.overdue_total)}."
        )
    )
    blocks.append(
        _grid(
            ["Thời gian", "Mức độ", "Quy tắc", "Máy / tài khoản", "Hạn tiếp nhận", "Quá hạn"],
            [
                [
                    vn_time(x.timestamp),
                    label(labels.SEVERITY, x.severity, vi),
                    x.rule_name,
                    f"{x.host or '—'} / {x.user or '—'}",
                    vn_time(x.sla_due_at),
                    duration(x.late_s, vi),
                ]
                for x in ack.overdue
            ],
            [2.5, 1.8, 4.7, 3.0, 2.5, 2.5],
            "Không có cảnh báo chưa tiếp nhận quá hạn.",
        )
    )

    # V. Checklist
    section("DẤU HIỆU THEO DANH MỤC KIỂM TRA (VN-01 ĐẾN VN-12)")
    blocks.append(
        Grid(
            ["Mã", "Nội dung kiểm tra", "Cảnh báo (chứng cứ)", "Ghi nhận khác"],
            [
                [
                    c.code,
                    c.title,
                    f"{vn_num(c.alerts)} ({vn_num(c.evidence_alerts)})",
                    " ".join(c.observed) or "—",
                ]
                for c in a.by_checklist
            ],
            [1.5, 6.5, 2.8, 6.2],
        )
    )

    # VI. Incidents
    i = d.incidents
    section("SỰ CỐ VÀ THỜI GIAN XỬ LÝ")
    blocks.append(
        Para(
            f"Số sự cố trong kỳ: {vn_num(i.total)} (chưa xử lý xong: {vn_num(i.open)}). "
            f"Thời gian tiếp nhận trung bình: {duration(i.tta_mean_s, vi)} "
            f"(trung vị {duration(i.tta_median_s, vi)}); "
            f"thời gian xử lý trung bình: {duration(i.ttr_mean_s, vi)} "
            f"(trung vị {duration(i.ttr_median_s, vi)})."
        )
    )
    blocks.append(
        _grid(
            ["Mã sự cố", "Nội dung", "Mức độ", "Trạng thái", "Phát hiện", "Tiếp nhận sau", "Xử lý sau"],
            [
                [
                    x.id,
                    x.title,
                    label(labels.SEVERITY, x.severity, vi),
                    label(labels.INCIDENT_STATUS, x.status, vi),
                    vn_time(x.detected_at),
                    duration(x.time_to_acknowledge_s, vi),
                    duration(x.time_to_resolve_s, vi),
                ]
                for x in i.items
            ],
            [2.9, 3.9, 1.7, 1.8, 2.6, 2.0, 2.1],
            "Không có sự cố trong kỳ.",
        )
    )

    # VII. Findings of earlier visits
    f = d.findings
    section("KẾT QUẢ KHẮC PHỤC TỒN TẠI, HẠN CHẾ CÁC LẦN KIỂM TRA TRƯỚC")
    blocks.append(
        Para(
            f"Tổng số tồn tại, hạn chế: {vn_num(f.total)}; khắc phục đúng hạn: {vn_num(f.on_time)}; "
            f"khắc phục quá hạn: {vn_num(f.late)}; quá hạn chưa khắc phục: {vn_num(f.overdue)}; "
            f"đang trong thời hạn: {vn_num(f.pending)}."
        )
    )
    blocks.append(
        _grid(
            ["Biên bản", "Mã", "Tồn tại, hạn chế", "Hạn khắc phục", "Trạng thái", "Đánh giá"],
            [
                [
                    f"{x.minutes_number or x.visit_id}, {vn_date(x.minutes_date)}",
                    x.checklist_code or "—",
                    x.description[:300],
                    vn_date(x.remediation_deadline),
                    label(labels.FINDING_STATUS, x.status, vi)
                    + (f" ({vn_date(x.remediated_at)})" if x.remediated_at else ""),
                    label(labels.REMEDIATION, x.remediation, vi),
                ]
                for x in f.items
            ],
            [2.8, 1.6, 4.9, 2.2, 2.7, 2.8],
            "Chưa có tồn tại, hạn chế nào được ghi nhận.",
        )
    )

    # VIII. Endpoints without anti-malware
    section("MÁY TÍNH CHƯA CÓ PHÒNG CHỐNG MÃ ĐỘC TẬP TRUNG")
    blocks.append(
        Para(
            f"{vn_num(len(d.endpoints_without_antimalware))}/{vn_num(d.endpoints_total)} "
            "máy tính được theo dõi "
            "không có báo cáo của phần mềm phòng chống mã độc tập trung trong 24 giờ qua."
        )
    )
    blocks.append(
        _grid(
            ["Tên máy", "Loại", "Máy soạn thảo tài liệu mật", "Báo cáo gần nhất"],
            [
                [
                    e.hostname,
                    label(labels.ENDPOINT_KIND, e.kind, vi),
                    "Có" if e.secret_documents else "Không",
                    vn_time(e.last_report),
                ]
                for e in d.endpoints_without_antimalware
            ],
            [5.5, 3.0, 4.0, 4.5],
            "Mọi máy tính được theo dõi đều có phòng chống mã độc tập trung.",
        )
    )

    # IX. Evidence collected on site
    section("CHỨNG CỨ THU THẬP TẠI ĐƠN VỊ")
    blocks.append(
        _grid(
            ["Tệp", "SHA-256", "Ngày kiểm tra", "Sự kiện", "Cảnh báo"],
            [
                [
                    e.file.filename,
                    e.file.sha256,
                    vn_date(e.visit_date),
                    vn_num(e.file.events),
                    vn_num(e.file.alerts),
                ]
                for e in d.evidence
            ],
            [4.0, 7.2, 2.2, 1.8, 1.8],
            "Chưa có chứng cứ được tải lên.",
        )
    )

    number = f"Số: {plan.number}" if plan and plan.number else "Số:        /HS-SOC"
    return Outline(
        issuing_body=body,
        number=number,
        place_date=long_date(plan.place if plan else None, d.generated_at.astimezone(VN_TZ).date()),
        title="HỒ SƠ ĐƠN VỊ",
        subtitle=[
            f"Dữ liệu giám sát an toàn thông tin của {d.unit.name} phục vụ công tác kiểm tra",
            f"(từ ngày {vn_date(first)} đến ngày {vn_date(last)})",
        ],
        blocks=blocks,
        recipients=["- Đoàn kiểm tra;", "- Công an tỉnh (PA05);", "- Lưu: VT, SOC."],
        signer_title=["NGƯỜI LẬP"],
        signer_name=d.generated_by,
    )


# -- PDF -------------------------------------------------------------------------------------------

TEXT_WIDTH_CM = 17.0


def _pdf_fonts() -> tuple[str, str]:
    """DejaVu Serif reads like the Times of the teams' documents; DejaVu Sans when Serif is absent."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from api.reports.pdf import FONT_DIRS

    sans = register_fonts()
    for folder in FONT_DIRS:
        regular, bold = folder / "DejaVuSerif.ttf", folder / "DejaVuSerif-Bold.ttf"
        if regular.exists() and bold.exists():
            if "DejaVuSerif" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont("DejaVuSerif", str(regular)))
                pdfmetrics.registerFont(TTFont("DejaVuSerif-Bold", str(bold)))
            return "DejaVuSerif", "DejaVuSerif-Bold"
    return sans


def _pdf_styles() -> dict[str, ParagraphStyle]:
    regular, bold = _pdf_fonts()
    base = styles()["body"]

    def style(name: str, font: str, size: float, align: int = 0, **kw: float) -> ParagraphStyle:
        return ParagraphStyle(
            name, parent=base, fontName=font, fontSize=size, leading=size * 1.3, alignment=align, **kw
        )

    return {
        "head": style("dossier-head", regular, 10.5, 1),
        "head_bold": style("dossier-head-bold", bold, 10.5, 1),
        "date": style("dossier-date", regular, 10.5, 1),
        "title": style("dossier-title", bold, 14, 1, spaceBefore=14),
        "subtitle": style("dossier-subtitle", bold, 11.5, 1),
        "h1": style("dossier-h1", bold, 11.5, 0, spaceBefore=10, spaceAfter=4, keepWithNext=1),
        "body": style("dossier-body", regular, 10.5, 4, spaceAfter=4, keepWithNext=1),
        "cell": style("dossier-cell", regular, 8.5),
        "cell_head": style("dossier-cell-head", bold, 8.5, 1),
        "note": style("dossier-note", regular, 8.5),
        "sign": style("dossier-sign", bold, 10.5, 1),
        "sign_hint": style("dossier-sign-hint", regular, 9, 1),
        "recipients": style("dossier-recipients", regular, 9),
        "recipients_head": style("dossier-recipients-head", bold, 9.5),
    }


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _rule(width_cm: float) -> Table:
    """The short line under the issuing body and under the motto, centred in its column."""
    line = Table([[""]], colWidths=[width_cm * cm], rowHeights=[4], hAlign="CENTER")
    line.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.6, colors.black)]))
    return line


def _bars(block: Bars) -> Drawing:
    return bar_chart(block.categories, [(x.name, x.values) for x in block.series], TEXT_WIDTH_CM)


def _borderless(rows: list[list[object]], widths: list[float]) -> Table:
    t = Table(rows, colWidths=[w * cm for w in widths])
    t.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return t


DOSSIER_SUBJECT = "Hồ sơ đơn vị phục vụ kiểm tra an toàn thông tin"


def to_pdf(dossier: UnitDossier) -> bytes:
    """The dossier as an A4 PDF in Vietnamese."""
    title = f"Hồ sơ đơn vị: {show_controls(dossier.unit.name)}"
    return render_pdf(visible_outline(dossier), title=title, subject=DOSSIER_SUBJECT)


def render_pdf(doc_outline: Outline, *, title: str, subject: str) -> bytes:
    """Any outline as an A4 PDF in the official layout (the dossier, the periodic reports)."""
    st = _pdf_styles()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=2.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=2 * cm,
        bottomMargin=2 * cm,
        title=title,
        author="socpipe",
        subject=subject,
    )
    left: list[Flowable] = [
        Paragraph(_esc(line), st["head"] if i < len(doc_outline.issuing_body) - 1 else st["head_bold"])
        for i, line in enumerate(doc_outline.issuing_body)
    ]
    left += [_rule(2.6)]
    left += [Paragraph(_esc(doc_outline.number), st["head"])]
    right: list[Flowable] = [
        Paragraph(NATIONAL, st["head_bold"]),
        Paragraph(MOTTO, st["head_bold"]),
        _rule(5.2),
        Paragraph(f"<i>{_esc(doc_outline.place_date)}</i>", st["date"]),
    ]
    story: list[Flowable] = [_borderless([[left, right]], [7.0, 10.0])]
    story.append(Paragraph(doc_outline.title, st["title"]))
    story += [Paragraph(_esc(line), st["subtitle"]) for line in doc_outline.subtitle]
    story.append(Spacer(1, 8))
    for block in doc_outline.blocks:
        if isinstance(block, Heading):
            story.append(Paragraph(_esc(block.text), st["h1"]))
        elif isinstance(block, Para):
            story.append(Paragraph(_esc(block.text), st["body"]))
        elif isinstance(block, Bars):
            story.append(_bars(block))
            story.append(Spacer(1, 4))
        else:
            rows = [[Paragraph(_esc(h), st["cell_head"]) for h in block.header]]
            rows += [[Paragraph(_esc(c), st["cell"]) for c in row] for row in block.rows]
            grid = table(rows, [w * cm for w in block.widths])
            story.append(grid)
            if block.note:
                story.append(Paragraph(_esc(block.note), st["note"]))
            story.append(Spacer(1, 4))
    recipients: list[Flowable] = [Paragraph("<i>Nơi nhận:</i>", st["recipients_head"])]
    recipients += [Paragraph(_esc(r), st["recipients"]) for r in doc_outline.recipients]
    signer: list[Flowable] = [Paragraph(_esc(t), st["sign"]) for t in doc_outline.signer_title]
    signer += [Paragraph("<i>(Ký, ghi rõ họ tên)</i>", st["sign_hint"]), Spacer(1, 48)]
    signer += [Paragraph(_esc(doc_outline.signer_name), st["sign"])]
    story.append(Spacer(1, 12))
    story.append(KeepTogether([_borderless([[recipients, signer]], [8.5, 8.5])]))
    doc.build(story)
    return buf.getvalue()


# -- DOCX ------------------------------------------------------------------------------------------

DOCX_FONT = "Times New Roman"


def _docx_run(
    paragraph: object, text: str, *, bold: bool = False, italic: bool = False, size: float = 13
) -> None:
    run = paragraph.add_run(text)  # type: ignore[attr-defined]
    run.bold = bold
    run.italic = italic
    run.font.size = Pt(size)


def _docx_para(
    container: object,
    text: str = "",
    *,
    bold: bool = False,
    italic: bool = False,
    size: float = 13,
    center: bool = False,
    justify: bool = False,
    space_after: float = 3,
) -> object:
    p = container.add_paragraph()  # type: ignore[attr-defined]
    if text:
        _docx_run(p, text, bold=bold, italic=italic, size=size)
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    elif justify:
        p.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    p.paragraph_format.space_after = Pt(space_after)
    p.paragraph_format.space_before = Pt(0)
    return p


def _no_borders(t: DocxTable) -> None:
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        el = OxmlElement(f"w:{edge}")
        el.set(qn("w:val"), "nil")
        borders.append(el)
    t._tbl.tblPr.append(borders)


def _first_cell_paragraph(cell: object, text: str, **kw: object) -> None:
    """Table cells start with one empty paragraph: write into it rather than leave a blank line."""
    p = cell.paragraphs[0]  # type: ignore[attr-defined]
    _docx_run(p, text, **kw)  # type: ignore[arg-type]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.space_after = Pt(0)


def to_docx(dossier: UnitDossier) -> bytes:
    """The dossier as a Word document in Vietnamese (Times New Roman 13, A4, 2.5/1.5 cm margins)."""
    title = f"Hồ sơ đơn vị: {show_controls(dossier.unit.name)}"
    return render_docx(visible_outline(dossier), title=title, subject=DOSSIER_SUBJECT)


def render_docx(o: Outline, *, title: str, subject: str) -> bytes:
    """Any outline as a Word document in the official layout (the dossier, the periodic reports)."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin, section.right_margin = Cm(2.5), Cm(1.5)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    normal = doc.styles["Normal"]
    normal.font.name = DOCX_FONT
    normal.font.size = Pt(13)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), DOCX_FONT)
    props = doc.core_properties
    props.title = title
    props.author = "socpipe"
    props.subject = subject

    head = doc.add_table(rows=1, cols=2)
    _no_borders(head)
    head.alignment = WD_TABLE_ALIGNMENT.CENTER
    left, right = head.rows[0].cells
    left.width, right.width = Cm(7), Cm(10)
    for i, line in enumerate(o.issuing_body):
        last = i == len(o.issuing_body) - 1
        if i == 0:
            _first_cell_paragraph(left, line, bold=last, size=12.5)
        else:
            _docx_para(left, line, bold=last, size=12.5, center=True, space_after=0)
    _docx_para(left, "————", size=10, center=True, space_after=0)
    _docx_para(left, o.number, size=12.5, center=True, space_after=0)
    _first_cell_paragraph(right, NATIONAL, bold=True, size=12.5)
    _docx_para(right, MOTTO, bold=True, size=13, center=True, space_after=0)
    _docx_para(right, "———————————", size=10, center=True, space_after=0)
    _docx_para(right, o.place_date, italic=True, size=13, center=True, space_after=0)

    _docx_para(doc, "", space_after=6)
    _docx_para(doc, o.title, bold=True, size=14, center=True, space_after=0)
    for line in o.subtitle:
        _docx_para(doc, line, bold=True, size=13, center=True, space_after=0)
    _docx_para(doc, "", space_after=6)
    for block in o.blocks:
        if isinstance(block, Heading):
            _docx_para(doc, block.text, bold=True, size=13, space_after=4)
        elif isinstance(block, Para):
            _docx_para(doc, block.text, italic=block.italic, size=13, justify=True)
        elif isinstance(block, Bars):
            doc.add_picture(io.BytesIO(chart_png(_bars(block))), width=Cm(TEXT_WIDTH_CM))
        else:
            t = doc.add_table(rows=1 + len(block.rows), cols=len(block.header))
            t.style = "Table Grid"
            t.alignment = WD_TABLE_ALIGNMENT.CENTER
            for r, values in enumerate([block.header, *block.rows]):
                for c, value in enumerate(values):
                    cell = t.cell(r, c)
                    cell.width = Cm(block.widths[c])
                    p = cell.paragraphs[0]
                    _docx_run(p, value, bold=r == 0, size=11)
                    if r == 0:
                        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
            if block.note:
                _docx_para(doc, block.note, italic=True, size=11)
            _docx_para(doc, "", space_after=2)

    sign = doc.add_table(rows=1, cols=2)
    _no_borders(sign)
    left, right = sign.rows[0].cells
    p = left.paragraphs[0]
    _docx_run(p, "Nơi nhận:", bold=True, italic=True, size=12)
    for line in o.recipients:
        q = left.add_paragraph()
        _docx_run(q, line, size=11)
        q.paragraph_format.space_after = Pt(0)
    for i, line in enumerate(o.signer_title):
        if i == 0:
            _first_cell_paragraph(right, line, bold=True, size=13)
        else:
            _docx_para(right, line, bold=True, size=13, center=True, space_after=0)
    _docx_para(right, "(Ký, ghi rõ họ tên)", italic=True, size=12, center=True, space_after=0)
    for _ in range(3):
        _docx_para(right, "", space_after=0)
    _docx_para(right, o.signer_name, bold=True, size=13, center=True, space_after=0)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
