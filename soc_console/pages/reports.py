"""The periodic reports: the weekly and monthly reports kept so far, their files and mailing, and
for an admin "generate now" and "send again" where the mail failed (the same functions as
`api.periodic.routes`). Records that cannot be read are left out and counted on the page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.auth.deps import Principal, Role, require_roles
from api.deps import app_context
from api.periodic.periods import ReportKind
from api.periodic.routes import archive_of, generate_now, resend
from soc_console.pages.common import Admin, render, see_other

router = APIRouter()
Reader = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.ANALYST))]
SHOWN = 200


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(
    request: Request, user: Reader, made: str | None = None, resent: str | None = None
) -> HTMLResponse:
    listing = await run_in_threadpool(archive_of(request).scan)
    return render(
        request,
        "reports.html",
        nav="reports",
        reports=listing.reports[:SHOWN],
        total=len(listing.reports),
        unreadable=len(listing.unreadable),
        made=made,
        resent=resent,
        next_run_minutes=max(1, round(app_context(request).settings.reports.check_interval_s / 60)),
        user=user,
    )


@router.post("/reports/generate")
async def generate(request: Request, actor: Admin, kind: Annotated[ReportKind, Form()]) -> Response:
    report = await run_in_threadpool(generate_now, request, actor, kind, None)
    return see_other(f"/reports?made={report.id}")


@router.post("/reports/{report_id}/resend")
async def resend_report(request: Request, report_id: str, actor: Admin) -> Response:
    await run_in_threadpool(resend, request, actor, report_id)
    return see_other(f"/reports?resent={report_id}")
