"""The inspection pages: plans, visits with their findings and evidence, and the unit dossier.

    /inspections                          plans, overdue findings, ad-hoc candidates, reminders
    /inspections/plans/{id}               a plan, its units' self-assessments, its visits
    /inspections/visits/{id}              a visit: minutes, findings, evidence uploads
    /units/{id}/dossier                   everything about one unit for a window (PDF/DOCX: the API)

Every form posts to the same service functions as the JSON API (`api.inspections.service`), which
decides who sees and changes what; a typed error becomes a short page (`error_page`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from api.auth.deps import wants_html
from api.errors import InvalidChange
from api.inspections import dossier as dossiers
from api.inspections import labels, service
from api.inspections.deps import (
    FieldWriter,
    FromParam,
    PlanWriter,
    Reader,
    ToParam,
    ingest_upload,
    inspection_repo,
    load_dossier,
    post_upload,
    record,
)
from api.inspections.export import vn_percent
from api.inspections.models import (
    FindingCreate,
    FindingStatus,
    FindingUpdate,
    PlanCreate,
    PlanUnitIn,
    SelfAssessmentReceived,
    TeamMemberIn,
    VisitCreate,
    VisitUpdate,
)
from api.inspections.routes import error_response as json_error
from api.inspections.suggestions import suggest_adhoc
from api.problems import is_machine_path, status_of
from soc_console.pages.common import app_context, render, see_other
from soc_console.pages.errors import error_page as console_error_page
from soc_core.alert import Severity
from soc_core.errors import SocError

router = APIRouter()


def error_page(request: Request, exc: Exception) -> Response:
    """Typed errors raised by an inspection page: a short page for the browser. Anything else (the
    API, other pages) gets the API's answer, problem details for the API (`api.problems`)."""
    assert isinstance(exc, SocError)
    if is_machine_path(request.url.path):
        return json_error(request, exc)
    if not (wants_html(request) and request.scope.get("route") in router.routes):
        return console_error_page(request, status_of(exc), exc.message)
    status = status_of(exc)
    return _page(
        request,
        "inspections_error.html",
        status_code=status,
        status=status,
        message=exc.message,
        context=exc.context,
    )


def _page(request: Request, template: str, *, status_code: int = 200, **values: Any) -> HTMLResponse:
    return render(
        request,
        template,
        nav="inspections",
        status_code=status_code,
        d=dossiers.vn_date,
        vn_percent=vn_percent,
        **values,
    )


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


@router.get("/inspections", response_class=HTMLResponse)
async def inspections_page(request: Request, user: Reader) -> HTMLResponse:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> dict[str, Any]:
        registry = store.load_registry()
        now = datetime.now(UTC)
        return {
            "plans": service.plan_reads(repo=repo, principal=user, registry=registry, now=now),
            "overdue": [
                service.finding_read(store, f, now)
                for f in service.list_findings(repo=repo, principal=user, overdue=True, now=now)
            ],
            "suggestions": suggest_adhoc(store=store, repo=repo, principal=user, now=now),
            "reminders": service.list_reminders(repo=repo, principal=user, limit=50)[:20],
            "units": sorted(registry.units, key=lambda u: u.name),
            "can_plan": user.role in service.PLAN_WRITERS,
        }

    data = await run_in_threadpool(work)
    return _page(request, "inspections.html", user=user, **data)


@router.post("/inspections/plans")
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
    plan = await record(request, actor, service.create_plan, data=data)
    return see_other(f"/inspections/plans/{quote(plan.id)}")


@router.get("/inspections/plans/{plan_id}", response_class=HTMLResponse)
async def plan_page(request: Request, plan_id: str, user: Reader) -> HTMLResponse:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> dict[str, Any]:
        plan = service.get_plan(repo=repo, plan_id=plan_id, principal=user)
        registry = store.load_registry()
        return {
            "read": service.plan_read(plan, registry),
            "visits": service.list_visits(repo=repo, principal=user, plan_id=plan.id),
            "names": service.unit_names(registry),
            "can_record": service.can_record(plan, user),
        }

    data = await run_in_threadpool(work)
    return _page(request, "inspections_plan.html", user=user, **data)


@router.post("/inspections/plans/{plan_id}/self-assessment")
async def self_assessment_form(
    request: Request,
    plan_id: str,
    actor: FieldWriter,
    unit_id: Annotated[str, Form(max_length=64)],
    received: Annotated[str, Form(max_length=5)] = "yes",
) -> Response:
    body = SelfAssessmentReceived(received=received == "yes")
    await record(request, actor, service.mark_self_assessment, plan_id=plan_id, unit_id=unit_id, data=body)
    return see_other(f"/inspections/plans/{quote(plan_id)}")


@router.post("/inspections/plans/{plan_id}/visits")
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
    visit = await record(request, actor, service.create_visit, data=body)
    return see_other(f"/inspections/visits/{quote(visit.id)}")


@router.get("/inspections/visits/{visit_id}", response_class=HTMLResponse)
async def visit_page(request: Request, visit_id: str, user: Reader) -> HTMLResponse:
    repo, store = inspection_repo(request), app_context(request).store

    def work() -> dict[str, Any]:
        visit = service.get_visit(repo=repo, visit_id=visit_id, principal=user)
        plan = service.get_plan(repo=repo, plan_id=visit.plan_id, principal=user)
        registry = store.load_registry()
        return {
            "read": service.visit_read(repo=repo, visit=visit, registry=registry),
            "plan": plan,
            "systems": [s for s in registry.systems if s.unit_id == visit.unit_id],
            "can_record": service.can_record(plan, user),
            "codes": labels.CHECKLIST_CODES,
            "severities": [s.value for s in Severity],
            "statuses": [s.value for s in FindingStatus],
        }

    data = await run_in_threadpool(work)
    return _page(request, "inspections_visit.html", user=user, **data)


@router.post("/inspections/visits/{visit_id}")
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
    await record(request, actor, service.update_visit, visit_id=visit_id, change=body)
    return see_other(f"/inspections/visits/{quote(visit_id)}")


@router.post("/inspections/visits/{visit_id}/findings")
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
    await record(request, actor, service.create_finding, visit_id=visit_id, data=body)
    return see_other(f"/inspections/visits/{quote(visit_id)}")


@router.post("/inspections/findings/{finding_id}")
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
    finding = await record(request, actor, service.update_finding, finding_id=finding_id, change=body)
    return see_other(f"/inspections/visits/{quote(finding.visit_id)}")


@post_upload(router, "/inspections/visits/{visit_id}/evidence")
async def upload_evidence_form(
    request: Request,
    visit_id: str,
    actor: FieldWriter,
    file: UploadFile,
    format: Annotated[str, Form(max_length=64)] = "",
    system_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    await ingest_upload(request, visit_id, file, format, system_id, actor)
    return see_other(f"/inspections/visits/{quote(visit_id)}#evidence")


@router.get("/units/{unit_id}/dossier", response_class=HTMLResponse)
async def dossier_page(
    request: Request, unit_id: str, user: Reader, start: FromParam = None, end: ToParam = None
) -> HTMLResponse:
    d: dossiers.UnitDossier = await load_dossier(request, unit_id, user, start, end)
    first, last = dossiers.window_days(d)
    query = f"from={first.isoformat()}&to={last.isoformat()}"
    return _page(request, "dossier.html", user=user, dossier=d, first=first, last=last, query=query)
