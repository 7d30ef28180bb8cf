"""Generating reports (by the scheduler when a period ends, by an admin on demand) and the mail
that carries each one to the configured list.

`generate` builds the figures, renders both documents, keeps them and writes the record (audited);
`generate_due` is the scheduler's: every kind whose last complete period has no report yet, so a
scheduler that was down at the turn of the week catches up on its next run, and a restart never
makes a second one. `report_mail` is the message one recipient gets, the PDF attached; the
composition root delivers it (`socpipe.jobs`), since the API reaches no channel adapter.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from api.audit import service as audit
from api.errors import InvalidChange
from api.periodic import document
from api.periodic.archive import MEDIA, ReportArchive, StoredReport
from api.periodic.content import build_periodic
from api.periodic.periods import KINDS, ReportKind, last_complete, period_of
from soc_core.coverage import CoverageRepository
from soc_core.inspections import InspectionRepository, vn_today
from soc_core.notify import Attachment, Message, Recipient, message_key
from soc_core.store import Store

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "socpipe-reports"
"""Who the audit log names for a scheduled report."""
SCHEDULER_SIGNER = "Hệ thống giám sát (lập tự động)"
"""Whom the signature block of a scheduled report names: a person signs the printed copy."""


def generate(
    *,
    store: Store,
    coverage: CoverageRepository,
    inspections: InspectionRepository,
    archive: ReportArchive,
    kind: ReportKind,
    first: date,
    actor: str,
    trigger: Literal["schedule", "manual"],
    recipients: list[str],
    signer: str | None = None,
    place: str | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> StoredReport:
    """Build, render, keep and record the report of the `kind` period holding `first`; `signer` is
    the name under the signature block (default: `actor`, whom the audit log names)."""
    now = now or datetime.now(UTC)
    if first > vn_today(now):
        raise InvalidChange("the period has not begun", kind=kind, first=first.isoformat())
    first, following = period_of(kind, first)
    figures = build_periodic(
        store=store,
        coverage=coverage,
        inspections=inspections,
        kind=kind,
        first=first,
        following=following,
        generated_by=signer or actor,
        now=now,
    )
    report_id = f"{kind}-{first:%Y%m%d}-{now.astimezone(UTC):%Y%m%d%H%M%S%f}"
    base = f"bao-cao-{'tuan' if kind == 'weekly' else 'thang'}-{first:%Y%m%d}"
    pdf = document.to_pdf(figures, place)
    docx = document.to_docx(figures, place)
    report = StoredReport(
        id=report_id,
        kind=kind,
        period_first=first,
        period_following=following,
        title=document.document_title(figures),
        generated_at=now,
        generated_by=actor,
        trigger=trigger,
        files={
            "pdf": archive.keep(report_id, "pdf", pdf, f"{base}.pdf"),
            "docx": archive.keep(report_id, "docx", docx, f"{base}.docx"),
        },
        recipients=list(recipients),
        figures=figures,
    )
    archive.save(report)
    details = {"kind": kind, "period_first": first.isoformat(), "trigger": trigger}
    _audit(store, actor, "report.generate", report_id, details, now, ip)
    log.info("report generated: id=%s kind=%s first=%s trigger=%s", report_id, kind, first, trigger)
    return report


def generate_due(
    *,
    store: Store,
    coverage: CoverageRepository,
    inspections: InspectionRepository,
    archive: ReportArchive,
    recipients: list[str],
    place: str | None,
    now: datetime,
) -> list[StoredReport]:
    """The reports of every kind whose last complete period has none yet."""
    made = []
    for kind in KINDS:
        first, _ = last_complete(kind, now)
        if not archive.has_period(kind, first):
            made.append(
                generate(
                    store=store,
                    coverage=coverage,
                    inspections=inspections,
                    archive=archive,
                    kind=kind,
                    first=first,
                    actor=SCHEDULER_ACTOR,
                    signer=SCHEDULER_SIGNER,
                    trigger="schedule",
                    recipients=recipients,
                    place=place,
                    now=now,
                )
            )
    return made


def report_mail(report: StoredReport, recipient: str, pdf: bytes) -> Message:
    """The mail one recipient gets: a short Vietnamese summary, the PDF attached."""
    f = report.figures
    to = Recipient("email", recipient)
    text = "\n".join(
        [
            "Kính gửi Tiểu ban An toàn, an ninh mạng,",
            "",
            f"Trung tâm giám sát an toàn thông tin gửi {report.title[0].lower()}{report.title[1:]} "
            f"(từ ngày {report.period_first:%d/%m/%Y}).",
            f"- Cảnh báo trong kỳ: {f.alerts_total}",
            f"- Sự cố mới: {len(f.new_incidents)}; đã xử lý xong: {len(f.resolved_incidents)}",
            f"- Nguồn nhật ký không gửi dữ liệu: {len(f.silent_sources)}",
            f"- Tồn tại, hạn chế quá hạn khắc phục: {len(f.overdue_findings)}",
            "",
            "Báo cáo đầy đủ trong tệp PDF đính kèm.",
        ]
    )
    pdf_file = report.files["pdf"]
    return Message(
        key=message_key("report", to, report.id),
        kind="report",
        recipient=to,
        subject=f"[SOC] {report.title}",
        text=text,
        data={"report_id": report.id, "kind": report.kind, "period_first": report.period_first.isoformat()},
        attachments=(Attachment(filename=pdf_file.filename, content_type=MEDIA["pdf"], data=pdf),),
    )


def pending_mail(archive: ReportArchive) -> list[tuple[StoredReport, list[Message]]]:
    """Every report with recipients still to be mailed, with their messages."""
    out = []
    for report in archive.list():
        if report.undelivered:
            path, _file = archive.open(report.id, "pdf")
            pdf = Path(path).read_bytes()
            out.append((report, [report_mail(report, r, pdf) for r in report.undelivered]))
    return out


def record_delivery(
    *,
    store: Store,
    archive: ReportArchive,
    report_id: str,
    failed: dict[str, str],
    tried: list[str],
    at: datetime,
) -> StoredReport:
    """Mark the `tried` recipients delivered, except those in `failed` (address: reason), and audit it."""
    report = archive.get(report_id)
    for address in tried:
        if address in failed:
            report.failed[address] = failed[address]
        else:
            report.delivered[address] = at
    archive.save(report)
    details = {"delivered": [a for a in tried if a not in failed], "failed": failed}
    _audit(store, SCHEDULER_ACTOR, "report.mail", report_id, details, at, None)
    return report


def _audit(
    store: Store,
    actor: str,
    action: str,
    report_id: str,
    details: dict[str, Any],
    at: datetime,
    ip: str | None,
) -> None:
    audit.record(
        store=store,
        actor=actor,
        action=action,
        target_type="report",
        target_id=report_id,
        ip=ip,
        details=details,
        at=at,
    )
