"""The police's coverage dashboard: headline figures, targets, the trend chart, what is unmonitored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from api.coverage.deps import CanSee, coverage_deps
from api.coverage.view import build_report
from soc_console.charts import line_chart
from soc_console.pages.common import render

router = APIRouter()


@router.get("/coverage", response_class=HTMLResponse)
async def coverage_page(request: Request, user: CanSee) -> HTMLResponse:
    ctx, repo = coverage_deps(request)
    report = await run_in_threadpool(build_report, ctx.store, repo)
    chart = line_chart([(at, 100.0 * c / t if t else 0.0) for at, c, t in report.history])
    return render(
        request,
        "coverage.html",
        nav="coverage",
        report=report,
        chart=chart,
        now=report.now,
        user=user,
    )
