"""Generating reports (by the scheduler when a period ends, by an admin on demand) and the mail
that carries each one to the configured list.

`generate` builds the figures, renders both documents, keeps them and writes the record (audited);
`generate_due` is the scheduler's: every kind whose last complete period has no report yet, so a
scheduler that was down at the turn of the week catches up on its next run, and a restart never
makes a second one. `report_mail` is the message one recipient gets, the PDF attached; the
composition root delivers it (`socpipe.jobs`), since the API reaches no channel adapter.
For the same reason an admin's resend (`request_resend`) only puts the addresses the mail could
not reach back among those still to be mailed: the scheduler's next run sends them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from api.audit import service as audit
from api.errors import InvalidChange
from api.inspections.errors import EvidenceRejected
from api.periodic import document
from api.periodic.archive import MEDIA, ReportArchive, Resend, StoredReport, UnreadableRecord
from api.periodic.content import build_periodic
from api.periodic.periods import KINDS, ReportKind, last_complete, period_of
from soc_core.coverage import CoverageRepository
from soc_core.inspections import InspectionRepository, vn_today
from soc_core.notify import Attachment, Message, Recipient, message_key
from soc_core.records import DeadLetter
from soc_core.store import Store

log = logging.getLogger(__name__)

SCHEDULER_ACTOR = "socpipe-reports"
"""Who the audit log names for a scheduled report."""
RECORD_STAGE = "reports"
"""The dead letters' stage of report records that cannot be read."""
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
    tries = report.tries_before(recipient)
    # a resend is a new mail: its own Message-ID, its own dead letter if it fails again
    parts = (report.id, f"resend-{tries}") if tries else (report.id,)
    return Message(
        key=message_key("report", to, *parts),
        kind="report",
        recipient=to,
        subject=f"[SOC] {report.title}",
        text=text,
        data={"report_id": report.id, "kind": report.kind, "period_first": report.period_first.isoformat()},
        attachments=(Attachment(filename=pdf_file.filename, content_type=MEDIA["pdf"], data=pdf),),
    )


@dataclass(frozen=True)
class Pending:
    """A report's mail still to send; `problem` says why it cannot be sent (its PDF is missing or
    no longer matches its hash): each message then fails with that reason, the others still go."""

    report: StoredReport
    messages: list[Message]
    problem: str | None = None


def pending_mail(archive: ReportArchive) -> list[Pending]:
    """Every report with recipients still to be mailed, with their messages."""
    out = []
    for report in archive.list():
        if not report.undelivered:
            continue
        try:
            path, _file = archive.open(report.id, "pdf")
            pdf = Path(path).read_bytes()
        except (EvidenceRejected, OSError) as exc:
            problem = f"the report's PDF cannot be attached: {exc}"
            log.warning("report %s not mailed: %s", report.id, problem)
            out.append(Pending(report, [report_mail(report, r, b"") for r in report.undelivered], problem))
            continue
        out.append(Pending(report, [report_mail(report, r, pdf) for r in report.undelivered]))
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

    def mark(report: StoredReport) -> None:
        for address in tried:
            if address in failed:
                report.failed[address] = failed[address]
            else:
                report.delivered[address] = at

    report = archive.update(report_id, mark)
    details = {"delivered": [a for a in tried if a not in failed], "failed": failed}
    _audit(store, SCHEDULER_ACTOR, "report.mail", report_id, details, at, None)
    return report


def request_resend(
    *,
    store: Store,
    archive: ReportArchive,
    report_id: str,
    actor: str,
    ip: str | None = None,
    now: datetime | None = None,
) -> StoredReport:
    """An admin's resend: every address the report could not reach is to be mailed again, by the
    scheduler's next run (the API sends no mail). The previous failures stay in the record and the
    audit log."""
    now = now or datetime.now(UTC)
    asked: list[Resend] = []

    def reopen(report: StoredReport) -> None:
        if not report.failed:
            raise InvalidChange("no recipient of this report is waiting for a resend", report_id=report_id)
        resend = Resend(at=now, by=actor, addresses=sorted(report.failed), reasons=dict(report.failed))
        report.failed.clear()
        report.resends.append(resend)
        asked.append(resend)

    report = archive.update(report_id, reopen)
    details = {"addresses": asked[0].addresses, "previous_failures": asked[0].reasons}
    _audit(store, actor, "report.resend", report_id, details, now, ip)
    log.info("report resend asked: id=%s by=%s to=%s", report_id, actor, ",".join(asked[0].addresses))
    return report


def unreadable_deadletter(record: UnreadableRecord) -> DeadLetter:
    """The dead letter of a report record the listing skipped: the same file with the same content
    always gives the same letter (id from name and content, time from the file's), so a scheduler
    that finds it on every run records it once."""
    digest = hashlib.blake2b(f"{record.name}\x00{record.raw}".encode(), digest_size=12).hexdigest()
    return DeadLetter(
        id=f"report-record-{digest}",
        stage=RECORD_STAGE,
        format_tried="report-record",
        reason=f"{record.name}: {record.reason}",
        raw=record.raw,
        at=record.modified or datetime.now(UTC),
    )


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
