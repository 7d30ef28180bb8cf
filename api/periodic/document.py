"""The periodic report as the Subcommittee's document: the dossier's official layout (issuing body
and national heading, number, place and date, title, Roman-numbered sections, "Nơi nhận", the
signature block), rendered by `api.inspections.export` from one outline into the PDF and the DOCX."""

from __future__ import annotations

from datetime import timedelta

from api.coverage.view import SCOPE_LABELS, TARGET_STATE
from api.i18n import duration, label, translations
from api.inspections import labels
from api.inspections.dossier import vn_date, vn_time
from api.inspections.export import (
    DEFAULT_BODY,
    ROMAN,
    Bars,
    Block,
    Grid,
    Heading,
    Outline,
    Para,
    Series,
    _grid,
    _visible,
    long_date,
    render_docx,
    render_pdf,
    vn_num,
    vn_percent,
)
from api.periodic.content import PeriodicReport
from api.periodic.periods import period_label
from soc_core.alert import Severity
from soc_core.inspections import VN_TZ

TITLES = {"weekly": "BÁO CÁO TUẦN", "monthly": "BÁO CÁO THÁNG"}
SUBJECT = "Báo cáo định kỳ tình hình giám sát an toàn thông tin gửi Tiểu ban An toàn, an ninh mạng"
SOURCE_STATE = {"silent": "Ngừng gửi dữ liệu", "never_connected": "Chưa từng kết nối"}


def _change(now: float, start: float | None) -> str:
    if start is None:
        return "—"
    points = 100 * (now - start)
    return f"{'+' if points > 0 else ''}{vn_num(points, 1)} điểm %"


def outline(r: PeriodicReport, place: str | None = None) -> Outline:
    """The report as a document: five numbered sections, each with its table."""
    vi = translations("vi")
    last = r.period_following - timedelta(days=1)
    blocks: list[Block] = []
    n = iter(ROMAN)

    def section(title: str) -> None:
        blocks.append(Heading(f"{next(n)}. {title}"))

    section("MỨC ĐỘ GIÁM SÁT VÀ TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU")
    blocks.append(Para(f"1. Số liệu đo tại thời điểm {vn_time(r.coverage_at)}, so với đầu kỳ:"))
    blocks.append(
        Grid(
            ["Chỉ tiêu", "Đạt / Tổng", "Tỷ lệ", "Đầu kỳ", "Thay đổi"],
            [
                [
                    label(SCOPE_LABELS, c.scope, vi),
                    f"{vn_num(c.covered)}/{vn_num(c.total)}",
                    vn_percent(c.ratio if c.total else None),
                    vn_percent(c.ratio_at_start),
                    _change(c.ratio, c.ratio_at_start) if c.total else "—",
                ]
                for c in r.coverage
            ],
            [6.6, 2.4, 2.4, 2.4, 3.2],
        )
    )
    blocks.append(Para("2. Tiến độ thực hiện chỉ tiêu giám sát:"))
    blocks.append(
        _grid(
            ["Chỉ tiêu", "Phạm vi", "Mục tiêu", "Hạn", "Hiện tại", "Dự kiến đến hạn", "Đánh giá"],
            [
                [
                    label(SCOPE_LABELS, t.scope, vi),
                    t.unit_name,
                    f"{vn_num(t.percent, 1)}%",
                    vn_date(t.deadline),
                    f"{vn_num(t.current_percent, 1)}%",
                    "—" if t.projected_percent is None else f"{vn_num(t.projected_percent, 1)}%",
                    label(TARGET_STATE, t.state, vi),
                ]
                for t in r.targets
            ],
            [4.0, 2.4, 1.7, 2.5, 1.8, 2.3, 2.3],
            "Chưa có chỉ tiêu giám sát trong danh mục.",
        )
    )

    section("CẢNH BÁO AN TOÀN THÔNG TIN THEO ĐƠN VỊ VÀ MỨC ĐỘ")
    by_sev = "; ".join(
        f"{label(labels.SEVERITY, s.value, vi)}: {vn_num(r.alerts_by_severity[s.value])}" for s in Severity
    )
    blocks.append(Para(f"Tổng số cảnh báo trong kỳ: {vn_num(r.alerts_total)} ({by_sev})."))
    severities = list(Severity)
    blocks.append(
        _grid(
            ["Đơn vị", *(label(labels.SEVERITY, s.value, vi) for s in severities), "Tổng"],
            [
                [u.unit_name, *(vn_num(u.by_severity[s.value]) for s in severities), vn_num(u.total)]
                for u in r.alerts_by_unit
            ],
            [6.2, 2.2, 2.2, 2.2, 2.2, 2.0],
            "Không có cảnh báo trong kỳ.",
        )
    )
    if r.alerts_by_unit:
        blocks.append(
            Bars(
                "Cảnh báo theo đơn vị và mức độ",
                [u.unit_name for u in r.alerts_by_unit],
                [
                    Series(
                        label(labels.SEVERITY, s.value, vi),
                        [u.by_severity[s.value] for u in r.alerts_by_unit],
                    )
                    for s in severities
                ],
            )
        )

    section("SỰ CỐ AN TOÀN THÔNG TIN VÀ THỜI GIAN XỬ LÝ")
    blocks.append(
        Para(
            f"Sự cố mới phát sinh trong kỳ: {vn_num(len(r.new_incidents))}; "
            f"sự cố đã xử lý xong trong kỳ: {vn_num(len(r.resolved_incidents))}. "
            f"Thời gian tiếp nhận trung bình: {duration(r.mtta_s, vi)} "
            f"({vn_num(r.acknowledged_in_period)} sự cố được tiếp nhận trong kỳ); "
            f"thời gian xử lý trung bình: {duration(r.mttr_s, vi)}."
        )
    )
    header = [
        "Mã sự cố",
        "Nội dung",
        "Đơn vị",
        "Mức độ",
        "Trạng thái",
        "Phát hiện",
        "Tiếp nhận sau",
        "Xử lý sau",
    ]
    widths = [2.4, 3.4, 2.3, 1.5, 1.7, 2.3, 1.7, 1.7]
    for number, title, items, empty in (
        ("1", "Sự cố mới phát sinh", r.new_incidents, "Không có sự cố mới trong kỳ."),
        ("2", "Sự cố đã xử lý xong", r.resolved_incidents, "Không có sự cố được xử lý xong trong kỳ."),
    ):
        blocks.append(Para(f"{number}. {title}:"))
        blocks.append(
            _grid(
                header,
                [
                    [
                        i.id,
                        i.title,
                        ", ".join(i.units) or "—",
                        label(labels.SEVERITY, i.severity, vi),
                        label(labels.INCIDENT_STATUS, i.status, vi),
                        vn_time(i.detected_at),
                        duration(i.time_to_acknowledge_s, vi),
                        duration(i.time_to_resolve_s, vi),
                    ]
                    for i in items
                ],
                widths,
                empty,
            )
        )

    section("NGUỒN NHẬT KÝ KHÔNG GỬI DỮ LIỆU")
    blocks.append(
        Para(
            f"Số nguồn nhật ký không gửi dữ liệu tại thời điểm lập báo cáo: {vn_num(len(r.silent_sources))}."
        )
    )
    blocks.append(
        _grid(
            ["Đơn vị", "Hệ thống thông tin", "Nguồn nhật ký", "Tình trạng", "Dữ liệu gần nhất"],
            [
                [s.unit_name, s.system_name, s.name, SOURCE_STATE.get(s.state, s.state), vn_time(s.last_seen)]
                for s in r.silent_sources
            ],
            [3.4, 4.0, 4.0, 2.8, 2.8],
            "Mọi nguồn nhật ký đều đang gửi dữ liệu.",
        )
    )

    section("TỒN TẠI, HẠN CHẾ QUÁ HẠN KHẮC PHỤC")
    blocks.append(
        Para(
            "Số tồn tại, hạn chế qua kiểm tra đã quá hạn mà chưa khắc phục: "
            f"{vn_num(len(r.overdue_findings))}."
        )
    )
    blocks.append(
        _grid(
            ["Đơn vị", "Mã", "Tồn tại, hạn chế", "Ngày biên bản", "Hạn khắc phục", "Quá hạn"],
            [
                [
                    f.unit_name,
                    f.checklist_code or "—",
                    f.description[:300],
                    vn_date(f.minutes_date),
                    vn_date(f.remediation_deadline),
                    f"{vn_num(f.days_overdue)} ngày",
                ]
                for f in r.overdue_findings
            ],
            [3.0, 1.5, 6.0, 2.2, 2.3, 2.0],
            "Không có tồn tại, hạn chế quá hạn khắc phục.",
        )
    )

    made_on = r.generated_at.astimezone(VN_TZ).date()
    made = Outline(
        issuing_body=[line.strip().upper() for line in DEFAULT_BODY.splitlines()],
        number="Số:        /BC-SOC",
        place_date=long_date(place, r.generated_at.astimezone(VN_TZ).date()),
        title=TITLES[r.kind],
        subtitle=[
            "Tình hình giám sát an toàn thông tin trên địa bàn tỉnh",
            f"({period_label(r.kind, r.period_first)}, "
            f"từ ngày {vn_date(r.period_first)} đến ngày {vn_date(min(last, made_on))})",
            *(
                [f"(kỳ báo cáo chưa kết thúc: số liệu tạm tính đến {vn_time(r.generated_at)})"]
                if made_on <= last
                else []
            ),
        ],
        blocks=blocks,
        recipients=["- Tiểu ban An toàn, an ninh mạng tỉnh;", "- Lãnh đạo Công an tỉnh;", "- Lưu: VT, SOC."],
        signer_title=["NGƯỜI LẬP"],
        signer_name=r.generated_by,
    )
    safe: Outline = _visible(made)
    return safe


def document_title(r: PeriodicReport) -> str:
    """`Báo cáo tuần 23 năm 2025`: the files' title metadata and the mail's subject."""
    return f"Báo cáo {period_label(r.kind, r.period_first)}"


def to_pdf(r: PeriodicReport, place: str | None = None) -> bytes:
    return render_pdf(outline(r, place), title=document_title(r), subject=SUBJECT)


def to_docx(r: PeriodicReport, place: str | None = None) -> bytes:
    return render_docx(outline(r, place), title=document_title(r), subject=SUBJECT)
