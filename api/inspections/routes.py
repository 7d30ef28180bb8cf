"""Inspection API and console pages. Thin: each route reads its input, calls the service, answers.

API (JSON; `csrf_protect` on unsafe methods, exempt for bearer tokens):
    GET/POST   /api/v1/inspections/plans                      list / create (police)
    GET/PATCH  /api/v1/inspections/plans/{plan_id}            read / change (police)
    POST       /api/v1/inspections/plans/{plan_id}/units/{unit_id}/self-assessment
    GET/POST   /api/v1/inspections/visits                     list / create (the plan's team, police)
    GET/PATCH  /api/v1/inspections/visits/{visit_id}
    POST       /api/v1/inspections/visits/{visit_id}/findings
    POST       /api/v1/inspections/visits/{visit_id}/evidence multipart: file, format?, system_id?
    GET        /api/v1/inspections/findings                   ?unit=&status=&overdue=true
    GET        /api/v1/inspections/findings/overdue           still open after their deadline
    GET/PATCH  /api/v1/inspections/findings/{finding_id}
    GET        /api/v1/inspections/evidence                   ?unit=&visit=
    GET        /api/v1/inspections/evidence/{file_id}[/content]
    GET        /api/v1/inspections/suggestions                ad-hoc inspection candidates
    GET        /api/v1/inspections/reminders
    GET        /api/v1/units/{unit_id}/dossier[.pdf|.docx]    ?from=&to=

Console: /inspections, /inspections/plans/{id}, /inspections/visits/{id}, /units/{id}/dossier.

`install(app)` includes both routers and answers errors of the console pages with a page (the API's
are problem details, `api.problems`); visibility is enforced by the service, so a route never decides
who sees a unit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.auth.csrf import csrf_protect
from api.auth.deps import Principal, Role, require_roles, wants_html
from api.context import AppContext
from api.errors import InvalidChange, NotFound
from api.inspections import dossier as dossiers
from api.inspections import evidence, labels, service
from api.inspections.errors import InspectionError
from api.inspections.export import to_docx, to_pdf, vn_duration, vn_percent
from api.inspections.models import (
    EvidenceFile,
    Finding,
    FindingCreate,
    FindingRead,
    FindingStatus,
    FindingUpdate,
    PlanCreate,
    PlanRead,
    PlanUnitIn,
    PlanUpdate,
    Reminder,
    SelfAssessmentReceived,
    Suggestion,
    TeamMemberIn,
    Visit,
    VisitCreate,
    VisitRead,
    VisitUpdate,
)
from api.inspections.suggestions import suggest_adhoc, suggestion_order
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.problems import soc_error_response, status_of
from soc_console.routes import templates
from soc_core.alert import Severity
from soc_core.coverage import CoverageRepository
from soc_core.errors import SocError
from soc_core.inspections import InspectionRepository
from soc_core.pipeline import Detect

api_router = APIRouter(tags=["inspections"], dependencies=[Depends(csrf_protect)])
console_router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)

Reader = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.ANALYST, Role.INSPECTOR))]
PlanWriter = Annotated[Principal, Depends(require_roles(Role.POLICE))]
FieldWriter = Annotated[Principal, Depends(require_roles(Role.POLICE, Role.INSPECTOR))]

DETECT_KEY = "detect"
ENGINE_KEY = "detect_engine"


# -- wiring ----------------------------------------------------------------------------------------


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _repo(request: Request) -> InspectionRepository:
    return _ctx(request).backend.inspections


def _coverage(request: Request) -> CoverageRepository:
    return _ctx(request).backend.coverage


def _detect(request: Request) -> Detect | None:
    """A detect stage for one upload: over the process's engine (`ctx.extras["detect_engine"]`, the
    one the rules API uses) with its own suppression, else a `detect` callable the process gave."""
    extras = _ctx(request).extras
    engine = extras.get(ENGINE_KEY)
    if engine is not None:
        return evidence.detect_for_upload(engine)
    detect = extras.get(DETECT_KEY)
    return detect if callable(detect) else None


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _data_dir(request: Request) -> Path:
    return Path(_ctx(request).settings.data_dir)


def error_response(request: Request, exc: Exception) -> Response:
    """Errors raised by an inspection page: a short page for the browser. Anything else (the API,
    other pages) gets the app's answer, problem details for the API (`api.problems`)."""
    assert isinstance(exc, SocError)
    if wants_html(request) and request.scope.get("route") in console_router.routes:
        status = status_of(exc)
        return templates.TemplateResponse(
            request,
            "inspections_error.html",
            _page(request, message=exc.message, status=status, context=exc.context),
            status_code=status,
        )
    return soc_error_response(request, exc)


def install(app: FastAPI) -> None:
    """Include the inspection routers and their error pages in `app` (once)."""
    if getattr(app.state, "inspections_installed", False):
        return
    for kind in (InspectionError, NotFound, InvalidChange):
        app.add_exception_handler(kind, error_response)
    app.include_router(api_router)
    app.include_router(console_router)
    app.state.inspections_installed = True


def _run(fn: Callable[[], Any]) -> Any:
    return run_in_threadpool(fn)


# -- API: plans --------------------------------------------------------------------------------------


@api_router.get("/api/v1/inspections/plans", response_model=ItemPage[PlanRead])
async def list_plans(
    request: Request, user: Reader, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[PlanRead]:
    repo, store = _repo(request), _ctx(request).store

    def work() -> ItemPage[PlanRead]:
        plans = service.list_plans(repo=repo, principal=user)
        page = page_of(plans, key=service.plan_order, size=size, cursor=cursor)
        registry = store.load_registry()
        return page.map(lambda p: service.plan_read(p, registry))

    result: ItemPage[PlanRead] = await _run(work)
    return result


@api_router.post("/api/v1/inspections/plans", response_model=PlanRead, status_code=201)
async def create_plan(request: Request, body: PlanCreate, actor: PlanWriter) -> PlanRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> PlanRead:
        plan = service.create_plan(store=store, repo=repo, data=body, actor=actor, ip=_ip(request))
        return service.plan_read(plan, store.load_registry())

    result: PlanRead = await _run(work)
    return result


@api_router.get("/api/v1/inspections/plans/{plan_id}", response_model=PlanRead)
async def read_plan(request: Request, plan_id: str, user: Reader) -> PlanRead:
    repo, store = _repo(request), _ctx(request).store
    result: PlanRead = await _run(
        lambda: service.plan_read(
            service.get_plan(repo=repo, plan_id=plan_id, principal=user), store.load_registry()
        )
    )
    return result


@api_router.patch("/api/v1/inspections/plans/{plan_id}", response_model=PlanRead)
async def update_plan(request: Request, plan_id: str, body: PlanUpdate, actor: PlanWriter) -> PlanRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> PlanRead:
        plan = service.update_plan(
            store=store, repo=repo, plan_id=plan_id, change=body, actor=actor, ip=_ip(request)
        )
        return service.plan_read(plan, store.load_registry())

    result: PlanRead = await _run(work)
    return result


@api_router.post(
    "/api/v1/inspections/plans/{plan_id}/units/{unit_id}/self-assessment", response_model=PlanRead
)
async def self_assessment(
    request: Request, plan_id: str, unit_id: str, body: SelfAssessmentReceived, actor: FieldWriter
) -> PlanRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> PlanRead:
        plan = service.mark_self_assessment(
            store=store, repo=repo, plan_id=plan_id, unit_id=unit_id, data=body, actor=actor, ip=_ip(request)
        )
        return service.plan_read(plan, store.load_registry())

    result: PlanRead = await _run(work)
    return result


# -- API: visits and findings ----------------------------------------------------------------------


@api_router.get("/api/v1/inspections/visits", response_model=ItemPage[Visit])
async def list_visits(
    request: Request,
    user: Reader,
    plan: str | None = None,
    unit: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[Visit]:
    repo = _repo(request)
    result: ItemPage[Visit] = await _run(
        lambda: page_of(
            service.list_visits(repo=repo, principal=user, plan_id=plan, unit_id=unit),
            key=service.visit_order,
            size=size,
            cursor=cursor,
        )
    )
    return result


@api_router.post("/api/v1/inspections/visits", response_model=Visit, status_code=201)
async def create_visit(request: Request, body: VisitCreate, actor: FieldWriter) -> Visit:
    repo, store = _repo(request), _ctx(request).store
    result: Visit = await _run(
        lambda: service.create_visit(store=store, repo=repo, data=body, actor=actor, ip=_ip(request))
    )
    return result


@api_router.get("/api/v1/inspections/visits/{visit_id}", response_model=VisitRead)
async def read_visit(request: Request, visit_id: str, user: Reader) -> VisitRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> VisitRead:
        visit = service.get_visit(repo=repo, visit_id=visit_id, principal=user)
        return service.visit_read(repo=repo, visit=visit, registry=store.load_registry())

    result: VisitRead = await _run(work)
    return result


@api_router.patch("/api/v1/inspections/visits/{visit_id}", response_model=Visit)
async def update_visit(request: Request, visit_id: str, body: VisitUpdate, actor: FieldWriter) -> Visit:
    repo, store = _repo(request), _ctx(request).store
    result: Visit = await _run(
        lambda: service.update_visit(
            store=store, repo=repo, visit_id=visit_id, change=body, actor=actor, ip=_ip(request)
        )
    )
    return result


@api_router.post(
    "/api/v1/inspections/visits/{visit_id}/findings", response_model=FindingRead, status_code=201
)
async def create_finding(
    request: Request, visit_id: str, body: FindingCreate, actor: FieldWriter
) -> FindingRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> FindingRead:
        finding = service.create_finding(
            store=store, repo=repo, visit_id=visit_id, data=body, actor=actor, ip=_ip(request)
        )
        return _finding_read(store, finding)

    result: FindingRead = await _run(work)
    return result


def _finding_read(store: Any, finding: Finding) -> FindingRead:
    names = service.unit_names(store.load_registry())
    return FindingRead.of(finding, datetime.now(UTC), names.get(finding.unit_id, finding.unit_id))


@api_router.get("/api/v1/inspections/findings", response_model=ItemPage[FindingRead])
async def list_findings(
    request: Request,
    user: Reader,
    unit: str | None = None,
    status: Annotated[list[FindingStatus] | None, Query()] = None,
    overdue: bool = False,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[FindingRead]:
    repo, store = _repo(request), _ctx(request).store

    def work() -> ItemPage[FindingRead]:
        found = service.list_findings(
            repo=repo, principal=user, unit_id=unit, status=[s.value for s in status or []], overdue=overdue
        )
        page = page_of(found, key=service.finding_order, size=size, cursor=cursor)
        return page.map(lambda f: _finding_read(store, f))

    result: ItemPage[FindingRead] = await _run(work)
    return result


@api_router.get("/api/v1/inspections/findings/overdue", response_model=ItemPage[FindingRead])
async def overdue_findings(
    request: Request, user: Reader, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[FindingRead]:
    """For the police: findings still open after their remediation deadline, oldest deadline first."""
    return await list_findings(request, user, overdue=True, size=size, cursor=cursor)


@api_router.get("/api/v1/inspections/findings/{finding_id}", response_model=FindingRead)
async def read_finding(request: Request, finding_id: str, user: Reader) -> FindingRead:
    repo, store = _repo(request), _ctx(request).store
    result: FindingRead = await _run(
        lambda: _finding_read(store, service.get_finding(repo=repo, finding_id=finding_id, principal=user))
    )
    return result


@api_router.patch("/api/v1/inspections/findings/{finding_id}", response_model=FindingRead)
async def update_finding(
    request: Request, finding_id: str, body: FindingUpdate, actor: FieldWriter
) -> FindingRead:
    repo, store = _repo(request), _ctx(request).store

    def work() -> FindingRead:
        finding = service.update_finding(
            store=store, repo=repo, finding_id=finding_id, change=body, actor=actor, ip=_ip(request)
        )
        return _finding_read(store, finding)

    result: FindingRead = await _run(work)
    return result


# -- API: evidence ---------------------------------------------------------------------------------


async def _ingest(
    request: Request,
    visit_id: str,
    upload: UploadFile,
    fmt: str | None,
    system_id: str | None,
    actor: Principal,
) -> tuple[EvidenceFile, bool]:
    repo, store, detect, data_dir = _repo(request), _ctx(request).store, _detect(request), _data_dir(request)
    result: tuple[EvidenceFile, bool] = await _run(
        lambda: evidence.ingest_evidence(
            store=store,
            repo=repo,
            data_dir=data_dir,
            visit_id=visit_id,
            source=upload.file,
            filename=upload.filename or "upload",
            fmt=fmt or None,
            system_id=system_id or None,
            detect=detect,
            actor=actor,
            ip=_ip(request),
        )
    )
    return result


@api_router.post(
    "/api/v1/inspections/visits/{visit_id}/evidence", response_model=EvidenceFile, status_code=201
)
async def upload_evidence(
    request: Request,
    response: Response,
    visit_id: str,
    actor: FieldWriter,
    file: UploadFile,
    format: Annotated[str | None, Form(max_length=64)] = None,
    system_id: Annotated[str | None, Form(max_length=64)] = None,
) -> EvidenceFile:
    """201 with the new file; 200 with the file already kept when this visit holds the same bytes."""
    kept, created = await _ingest(request, visit_id, file, format, system_id, actor)
    if not created:
        response.status_code = 200
    return kept


@api_router.get("/api/v1/inspections/evidence", response_model=ItemPage[EvidenceFile])
async def list_evidence(
    request: Request,
    user: Reader,
    unit: str | None = None,
    visit: str | None = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[EvidenceFile]:
    repo = _repo(request)
    result: ItemPage[EvidenceFile] = await _run(
        lambda: page_of(
            service.list_files(repo=repo, principal=user, unit_id=unit, visit_id=visit),
            key=service.file_order,
            size=size,
            cursor=cursor,
        )
    )
    return result


@api_router.get("/api/v1/inspections/evidence/{file_id}", response_model=EvidenceFile)
async def read_evidence(request: Request, file_id: str, user: Reader) -> EvidenceFile:
    repo = _repo(request)
    result: EvidenceFile = await _run(lambda: service.get_file(repo=repo, file_id=file_id, principal=user))
    return result


@api_router.get("/api/v1/inspections/evidence/{file_id}/content")
async def evidence_content(request: Request, file_id: str, user: Reader) -> FileResponse:
    """The file as it was received, after checking it still matches its SHA-256."""
    repo, data_dir = _repo(request), _data_dir(request)

    def work() -> tuple[Path, EvidenceFile]:
        kept = service.get_file(repo=repo, file_id=file_id, principal=user)
        return evidence.open_kept(data_dir, kept), kept

    path, kept = await _run(work)
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=kept.filename,
        headers={"X-Content-SHA256": kept.sha256},
    )


# -- API: suggestions, reminders, dossier ----------------------------------------------------------


@api_router.get("/api/v1/inspections/suggestions", response_model=ItemPage[Suggestion])
async def suggestions(
    request: Request,
    user: Reader,
    days: Annotated[int, Query(ge=1, le=90)] = 7,
    high: Annotated[int, Query(ge=1, le=100_000)] = 5,
    checklist: Annotated[int, Query(ge=1, le=100_000)] = 3,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[Suggestion]:
    repo, store = _repo(request), _ctx(request).store

    def work() -> ItemPage[Suggestion]:
        found = suggest_adhoc(
            store=store,
            repo=repo,
            principal=user,
            days=days,
            high_threshold=high,
            checklist_threshold=checklist,
        )
        return page_of(found, key=suggestion_order, size=size, cursor=cursor)

    result: ItemPage[Suggestion] = await _run(work)
    return result


@api_router.get("/api/v1/inspections/reminders", response_model=ItemPage[Reminder])
async def reminders(
    request: Request, user: Reader, unit: str | None = None, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[Reminder]:
    """The latest reminders sent (the repository keeps the 200 newest per query), newest first."""
    repo = _repo(request)

    def work() -> ItemPage[Reminder]:
        if unit is not None:
            service.ensure_unit_visible(repo=repo, principal=user, unit_id=unit)
        visible = service.visible_unit_ids(repo=repo, principal=user)
        found = [r for r in repo.list_reminders(unit_id=unit) if visible is None or r.unit_id in visible]
        return page_of(found, key=lambda r: (-r.created_at.timestamp(), r.id), size=size, cursor=cursor)

    result: ItemPage[Reminder] = await _run(work)
    return result


def _dossier(request: Request, unit_id: str, user: Principal, start: str | None, end: str | None) -> Any:
    repo, store, coverage = _repo(request), _ctx(request).store, _coverage(request)
    return _run(
        lambda: dossiers.build_dossier(
            store=store,
            repo=repo,
            coverage=coverage,
            unit_id=unit_id,
            principal=user,
            start=dossiers.parse_bound(start, end=False),
            end=dossiers.parse_bound(end, end=True),
        )
    )


FromParam = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD (Vietnam) or ISO time")]
ToParam = Annotated[str | None, Query(alias="to", description="YYYY-MM-DD (inclusive) or ISO time")]


@api_router.get("/api/v1/units/{unit_id}/dossier", response_model=dossiers.UnitDossier)
async def unit_dossier(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> dossiers.UnitDossier:
    result: dossiers.UnitDossier = await _dossier(request, unit_id, user, start, end)
    return result


def _filename(d: dossiers.UnitDossier, ext: str) -> str:
    first, last = dossiers.window_days(d)
    return f"ho-so-{d.unit.id}-{first:%Y%m%d}-{last:%Y%m%d}.{ext}"


@api_router.get("/api/v1/units/{unit_id}/dossier.pdf")
async def unit_dossier_pdf(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> Response:
    d: dossiers.UnitDossier = await _dossier(request, unit_id, user, start, end)
    pdf: bytes = await _run(lambda: to_pdf(d))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_filename(d, "pdf")}"'},
    )


@api_router.get("/api/v1/units/{unit_id}/dossier.docx")
async def unit_dossier_docx(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> Response:
    d: dossiers.UnitDossier = await _dossier(request, unit_id, user, start, end)
    docx: bytes = await _run(lambda: to_docx(d))
    return Response(
        docx,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f'attachment; filename="{_filename(d, "docx")}"'},
    )


# -- console ---------------------------------------------------------------------------------------


def _lang(request: Request) -> str:
    from soc_console.i18n import locale_of

    return locale_of(request)


def _page(request: Request, **extra: Any) -> dict[str, Any]:
    """What every inspection page gets: `t(vi, en)` for its words and the label tables."""
    vietnamese = _lang(request) == "vi"

    def t(vi: str, en: str) -> str:
        return vi if vietnamese else en

    def label(table: dict[str, tuple[str, str]], key: str | None) -> str:
        return labels.vi(table, key) if vietnamese else labels.en(table, key)

    def reason(text: str) -> str:
        return labels.gap_reason(text, vietnamese)

    return {
        "now": datetime.now(UTC),
        "mode": _ctx(request).settings.mode.value,
        "nav": "inspections",
        "t": t,
        "label": label,
        "reason": reason,
        "L": labels,
        "d": dossiers.vn_date,
        "vn_duration": vn_duration,
        "vn_percent": vn_percent,
        **extra,
    }


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _invalid(exc: ValidationError) -> InvalidChange:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return InvalidChange(f"invalid {where}: {first['msg']}")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _plan_form(
    title: str,
    scope_start: str,
    units: str,
    team: str,
    number: str,
    kind: str,
    issuing_body: str,
    place: str,
    legal_basis: str,
) -> PlanCreate:
    """The console's plan form: one unit per line (`unit-id visit-date [report-due]`), one member per
    line (`username [head|deputy|member|secretary]`)."""
    try:
        unit_rows = []
        for line in _lines(units):
            parts = line.replace(",", " ").split()
            unit_rows.append(
                PlanUnitIn(
                    unit_id=parts[0],
                    visit_date=date.fromisoformat(parts[1]),
                    self_assessment_due=date.fromisoformat(parts[2]) if len(parts) > 2 else None,
                )
            )
        team_rows = []
        for line in _lines(team):
            parts = line.split()
            team_rows.append(
                TeamMemberIn.model_validate(
                    {"user": parts[0], "team_role": parts[1] if len(parts) > 1 else "member"}
                )
            )
        return PlanCreate(
            title=title,
            scope_start=date.fromisoformat(scope_start),
            units=unit_rows,
            team=team_rows,
            number=number or None,
            kind=kind,  # type: ignore[arg-type]
            issuing_body=issuing_body or PlanCreate.model_fields["issuing_body"].default,
            place=place or None,
            legal_basis=_lines(legal_basis),
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    except (ValueError, IndexError) as exc:
        raise InvalidChange(f"cannot read the form: {exc}") from exc


@console_router.get("/inspections", response_class=HTMLResponse)
async def inspections_page(request: Request, user: Reader) -> HTMLResponse:
    repo, store = _repo(request), _ctx(request).store

    def work() -> dict[str, Any]:
        registry = store.load_registry()
        now = datetime.now(UTC)
        visible = service.visible_unit_ids(repo=repo, principal=user)
        return {
            "plans": [
                service.plan_read(p, registry, now) for p in service.list_plans(repo=repo, principal=user)
            ],
            "overdue": [
                _finding_read(store, f)
                for f in service.list_findings(repo=repo, principal=user, overdue=True)
            ],
            "suggestions": suggest_adhoc(store=store, repo=repo, principal=user, now=now),
            "reminders": [
                r for r in repo.list_reminders(limit=50) if visible is None or r.unit_id in visible
            ][:20],
            "units": sorted(registry.units, key=lambda u: u.name),
            "can_plan": user.role in service.PLAN_WRITERS,
        }

    data = await _run(work)
    return templates.TemplateResponse(request, "inspections.html", _page(request, user=user, **data))


@console_router.post("/inspections/plans")
async def create_plan_form(
    request: Request,
    actor: PlanWriter,
    title: Annotated[str, Form(max_length=500)],
    scope_start: Annotated[str, Form(max_length=10)],
    units: Annotated[str, Form(max_length=50_000)],
    team: Annotated[str, Form(max_length=5_000)] = "",
    number: Annotated[str, Form(max_length=100)] = "",
    kind: Annotated[str, Form(max_length=20)] = "periodic",
    issuing_body: Annotated[str, Form(max_length=300)] = "",
    place: Annotated[str, Form(max_length=100)] = "",
    legal_basis: Annotated[str, Form(max_length=50_000)] = "",
) -> Response:
    data = _plan_form(title, scope_start, units, team, number, kind, issuing_body, place, legal_basis)
    repo, store = _repo(request), _ctx(request).store
    plan = await _run(
        lambda: service.create_plan(store=store, repo=repo, data=data, actor=actor, ip=_ip(request))
    )
    return _see_other(f"/inspections/plans/{quote(plan.id)}")


@console_router.get("/inspections/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(request: Request, plan_id: str, user: Reader) -> HTMLResponse:
    repo, store = _repo(request), _ctx(request).store

    def work() -> dict[str, Any]:
        plan = service.get_plan(repo=repo, plan_id=plan_id, principal=user)
        registry = store.load_registry()
        return {
            "read": service.plan_read(plan, registry),
            "visits": service.list_visits(repo=repo, principal=user, plan_id=plan.id),
            "names": service.unit_names(registry),
            "can_record": user.role in (Role.ADMIN, Role.POLICE) or plan.has_member(user.user_id),
        }

    data = await _run(work)
    return templates.TemplateResponse(request, "inspections_plan.html", _page(request, user=user, **data))


@console_router.post("/inspections/plans/{plan_id}/self-assessment")
async def self_assessment_form(
    request: Request,
    plan_id: str,
    actor: FieldWriter,
    unit_id: Annotated[str, Form(max_length=64)],
    received: Annotated[str, Form(max_length=5)] = "yes",
) -> Response:
    repo, store = _repo(request), _ctx(request).store
    body = SelfAssessmentReceived(received=received == "yes")
    await _run(
        lambda: service.mark_self_assessment(
            store=store, repo=repo, plan_id=plan_id, unit_id=unit_id, data=body, actor=actor, ip=_ip(request)
        )
    )
    return _see_other(f"/inspections/plans/{quote(plan_id)}")


@console_router.post("/inspections/plans/{plan_id}/visits")
async def create_visit_form(
    request: Request,
    plan_id: str,
    actor: FieldWriter,
    unit_id: Annotated[str, Form(max_length=64)],
    visit_date: Annotated[str, Form(max_length=10)] = "",
    minutes_number: Annotated[str, Form(max_length=100)] = "",
    minutes_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        body = VisitCreate(
            plan_id=plan_id,
            unit_id=unit_id,
            visit_date=date.fromisoformat(visit_date) if visit_date else None,
            minutes_number=minutes_number or None,
            minutes_date=date.fromisoformat(minutes_date) if minutes_date else None,
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    except ValueError as exc:
        raise InvalidChange(f"dates are YYYY-MM-DD: {exc}") from exc
    repo, store = _repo(request), _ctx(request).store
    visit = await _run(
        lambda: service.create_visit(store=store, repo=repo, data=body, actor=actor, ip=_ip(request))
    )
    return _see_other(f"/inspections/visits/{quote(visit.id)}")


@console_router.get("/inspections/visits/{visit_id}", response_class=HTMLResponse)
async def visit_page(request: Request, visit_id: str, user: Reader) -> HTMLResponse:
    repo, store = _repo(request), _ctx(request).store

    def work() -> dict[str, Any]:
        visit = service.get_visit(repo=repo, visit_id=visit_id, principal=user)
        plan = service.get_plan(repo=repo, plan_id=visit.plan_id, principal=user)
        registry = store.load_registry()
        return {
            "read": service.visit_read(repo=repo, visit=visit, registry=registry),
            "plan": plan,
            "systems": [s for s in registry.systems if s.unit_id == visit.unit_id],
            "can_record": user.role in (Role.ADMIN, Role.POLICE) or plan.has_member(user.user_id),
            "codes": labels.CHECKLIST_CODES,
            "severities": [s.value for s in Severity],
            "statuses": [s.value for s in FindingStatus],
        }

    data = await _run(work)
    return templates.TemplateResponse(request, "inspections_visit.html", _page(request, user=user, **data))


@console_router.post("/inspections/visits/{visit_id}")
async def update_visit_form(
    request: Request,
    visit_id: str,
    actor: FieldWriter,
    minutes_number: Annotated[str, Form(max_length=100)] = "",
    minutes_date: Annotated[str, Form(max_length=10)] = "",
    notes: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    try:
        body = VisitUpdate(
            minutes_number=minutes_number or None,
            minutes_date=date.fromisoformat(minutes_date) if minutes_date else None,
            notes=notes or None,
        )
    except ValueError as exc:
        raise InvalidChange(f"dates are YYYY-MM-DD: {exc}") from exc
    repo, store = _repo(request), _ctx(request).store
    await _run(
        lambda: service.update_visit(
            store=store, repo=repo, visit_id=visit_id, change=body, actor=actor, ip=_ip(request)
        )
    )
    return _see_other(f"/inspections/visits/{quote(visit_id)}")


@console_router.post("/inspections/visits/{visit_id}/findings")
async def create_finding_form(
    request: Request,
    visit_id: str,
    actor: FieldWriter,
    description: Annotated[str, Form(max_length=20_000)],
    checklist_code: Annotated[str, Form(max_length=5)] = "",
    severity: Annotated[str, Form(max_length=10)] = "medium",
    alert_ids: Annotated[str, Form(max_length=50_000)] = "",
    incident_ids: Annotated[str, Form(max_length=10_000)] = "",
    file_ids: Annotated[str, Form(max_length=10_000)] = "",
    remediation_deadline: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        body = FindingCreate.model_validate(
            {
                "description": description,
                "checklist_code": checklist_code or None,
                "severity": severity,
                "alert_ids": alert_ids.replace(",", " ").split(),
                "incident_ids": incident_ids.replace(",", " ").split(),
                "file_ids": file_ids.replace(",", " ").split(),
                "remediation_deadline": remediation_deadline or None,
            }
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    repo, store = _repo(request), _ctx(request).store
    await _run(
        lambda: service.create_finding(
            store=store, repo=repo, visit_id=visit_id, data=body, actor=actor, ip=_ip(request)
        )
    )
    return _see_other(f"/inspections/visits/{quote(visit_id)}")


@console_router.post("/inspections/findings/{finding_id}")
async def update_finding_form(
    request: Request,
    finding_id: str,
    actor: FieldWriter,
    status: Annotated[str, Form(max_length=20)],
    remediated_on: Annotated[str, Form(max_length=10)] = "",
    remediation_note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """`remediated_on` is the day the unit reported (the console asks for a day, as the minutes do)."""
    try:
        when = dossiers.parse_bound(remediated_on, end=False) if remediated_on else None
        body = FindingUpdate.model_validate(
            {"status": status, "remediated_at": when, "remediation_note": remediation_note or None}
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    repo, store = _repo(request), _ctx(request).store
    finding = await _run(
        lambda: service.update_finding(
            store=store, repo=repo, finding_id=finding_id, change=body, actor=actor, ip=_ip(request)
        )
    )
    return _see_other(f"/inspections/visits/{quote(finding.visit_id)}")


@console_router.post("/inspections/visits/{visit_id}/evidence")
async def upload_evidence_form(
    request: Request,
    visit_id: str,
    actor: FieldWriter,
    file: UploadFile,
    format: Annotated[str, Form(max_length=64)] = "",
    system_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    await _ingest(request, visit_id, file, format, system_id, actor)
    return _see_other(f"/inspections/visits/{quote(visit_id)}#evidence")


@console_router.get("/units/{unit_id}/dossier", response_class=HTMLResponse)
async def dossier_page(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> HTMLResponse:
    d: dossiers.UnitDossier = await _dossier(request, unit_id, user, start, end)
    first, last = dossiers.window_days(d)
    query = f"from={first.isoformat()}&to={last.isoformat()}"
    return templates.TemplateResponse(
        request,
        "dossier.html",
        _page(request, user=user, dossier=d, first=first, last=last, query=query),
    )
