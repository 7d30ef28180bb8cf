"""Periodic reports API (JSON and the files), `csrf_protect` on unsafe methods:

    GET   /api/v1/reports                   the reports, newest first (police, analysts, admins)
    GET   /api/v1/reports/{id}              one report with its figures
    GET   /api/v1/reports/{id}.pdf|.docx    the file as generated (checked against its SHA-256; audited)
    POST  /api/v1/reports                   generate now (admins): {"kind", "first"?}; 201
    POST  /api/v1/reports/{id}/resend       mail again where it failed (admins), at the scheduler's next run

The list's `unreadable` counts the records under `<data_dir>/reports/` that could not be read
(skipped, logged, dead letters of stage "reports").

The console's reports page (`soc_console.pages.reports`) calls the same functions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from api.audit import service as audit
from api.auth.csrf import csrf_protect
from api.auth.deps import Principal, Role, require_roles
from api.deps import app_context, client_ip
from api.media import FILE, file_responses
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.periodic import service
from api.periodic.archive import MEDIA, Format, ReportArchive, ReportSummary, StoredReport
from api.periodic.periods import ReportKind, last_complete
from api.times import Day

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.ANALYST))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ReportKind
    first: Day | None = None
    """Any day of the period; unset: the last week or month that has ended."""


class ReportPage(ItemPage[ReportSummary]):
    unreadable: int = Field(description="report records that could not be read, left out of the list")


def archive_of(request: Request) -> ReportArchive:
    return ReportArchive(Path(app_context(request).settings.data_dir))


def brief(report: StoredReport) -> ReportSummary:
    """The list's row: the record without its figures."""
    return ReportSummary.model_validate(report.model_dump(exclude={"figures"}))


def generate_now(request: Request, actor: Principal, kind: ReportKind, first: date | None) -> StoredReport:
    """An admin's "generate now": kept and listed like a scheduled one, mailed by the scheduler."""
    ctx = app_context(request)
    settings = ctx.settings.reports
    now = datetime.now(UTC)
    return service.generate(
        store=ctx.store,
        coverage=ctx.backend.coverage,
        inspections=ctx.backend.inspections,
        archive=archive_of(request),
        kind=kind,
        first=first or last_complete(kind, now)[0],
        actor=actor.username,
        signer=actor.display_name or actor.username,
        trigger="manual",
        recipients=list(settings.recipients),
        place=settings.place,
        ip=client_ip(request),
    )


def download(request: Request, actor: Principal, report_id: str, fmt: Format) -> FileResponse:
    """The kept file, checked against its hash; the download is audited."""
    path, file = archive_of(request).open(report_id, fmt)
    audit.record(
        store=app_context(request).store,
        actor=actor.username,
        action="report.download",
        target_type="report",
        target_id=report_id,
        ip=client_ip(request),
        details={"format": fmt},
    )
    return FileResponse(
        path, media_type=MEDIA[fmt], filename=file.filename, headers={"X-Content-SHA256": file.sha256}
    )


def resend(request: Request, actor: Principal, report_id: str) -> StoredReport:
    """An admin's resend: the failed addresses wait again for the scheduler, which mails them."""
    return service.request_resend(
        store=app_context(request).store,
        archive=archive_of(request),
        report_id=report_id,
        actor=actor.username,
        ip=client_ip(request),
    )


@router.get("", response_model=ReportPage)
async def list_reports(
    request: Request,
    _: Reader,
    kind: ReportKind | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ReportPage:
    archive = archive_of(request)

    def work() -> ReportPage:
        listing = archive.scan()
        found = [brief(r) for r in listing.reports if kind is None or r.kind == kind]
        page = page_of(found, key=lambda r: (-r.generated_at.timestamp(), r.id), size=size, cursor=cursor)
        return ReportPage(
            items=page.items,
            next_cursor=page.next_cursor,
            total=page.total,
            unreadable=len(listing.unreadable),
        )

    result: ReportPage = await run_in_threadpool(work)
    return result


@router.post("", response_model=StoredReport, status_code=201)
async def generate(request: Request, body: GenerateRequest, actor: Admin) -> StoredReport:
    result: StoredReport = await run_in_threadpool(generate_now, request, actor, body.kind, body.first)
    return result


@router.post("/{report_id}/resend", response_model=StoredReport)
async def resend_report(request: Request, report_id: str, actor: Admin) -> StoredReport:
    result: StoredReport = await run_in_threadpool(resend, request, actor, report_id)
    return result


@router.get(
    "/{report_id}.pdf", response_class=FILE, responses=file_responses(MEDIA["pdf"], description="the PDF")
)
async def report_pdf(request: Request, report_id: str, actor: Reader) -> FileResponse:
    result: FileResponse = await run_in_threadpool(download, request, actor, report_id, "pdf")
    return result


@router.get(
    "/{report_id}.docx", response_class=FILE, responses=file_responses(MEDIA["docx"], description="the DOCX")
)
async def report_docx(request: Request, report_id: str, actor: Reader) -> FileResponse:
    result: FileResponse = await run_in_threadpool(download, request, actor, report_id, "docx")
    return result


@router.get("/{report_id}", response_model=StoredReport)
async def read_report(request: Request, report_id: str, _: Reader) -> StoredReport:
    result: StoredReport = await run_in_threadpool(archive_of(request).get, report_id)
    return result
