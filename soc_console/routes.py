"""The console: server-rendered pages (Jinja2) over the same services the API uses.

Pages: the overview (`/`), login, the alert queue with filters, facets and bulk actions, the alert
detail, incidents (list and detail), and the audit log for administrators. Every page checks the role
server-side (`require_roles`); every form carries a CSRF token (`csrf_protect` on the router); changes
follow Post/Redirect/Get. No inline scripts (a strict Content-Security-Policy is set by the app): the
keyboard shortcuts live in `static/console.js`. Jinja2 autoescapes every field, since log content is
hostile (see `soc_console.render`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.alerts import service as alerts
from api.alerts.errors import TriageError
from api.alerts.models import ALL_FACETS, OPEN_STATUSES, AlertSearchParams, TriageEdit
from api.alerts.params import parse_search
from api.audit import service as audit
from api.auth import service as auth
from api.auth.csrf import CSRF_COOKIE, csrf_protect
from api.auth.deps import PROVINCE_WIDE, SESSION_COOKIE, Principal, Role, current_principal, require_roles
from api.auth.errors import AuthFailed, TooManyAttempts
from api.context import AppContext
from api.incidents import service as incidents
from api.incidents.models import IncidentCreate, IncidentUpdate
from soc_console.i18n import LANG_COOKIE, LOCALES, locale_of, translate
from soc_console.render import N_, VN_TZ, templates, vn_datetime, vn_number
from soc_core.alert import AlertStatus, IncidentStatus, Severity
from soc_core.store import AlertQuery, AuditQuery, DeadLetterQuery, EventQuery, IncidentQuery

__all__ = ["VN_TZ", "router", "templates", "vn_datetime", "vn_number"]

router = APIRouter(dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

FACET_PARAM = {f: f for f in ALL_FACETS}
BULK_STATUS = {
    "acknowledge": AlertStatus.ACKNOWLEDGED,
    "in_progress": AlertStatus.IN_PROGRESS,
    "resolve": AlertStatus.RESOLVED,
    "false_positive": AlertStatus.FALSE_POSITIVE,
    "reopen": AlertStatus.NEW,
}


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _base(request: Request, **extra: Any) -> dict[str, Any]:
    ctx = _ctx(request)
    return {"now": datetime.now(UTC), "mode": ctx.settings.mode.value, "nav": "", **extra}


def _local_path(target: str | None, default: str) -> str:
    """Only same-site paths: no open redirect through `next` or `back`."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- overview -----------------------------------------------------------------------------------------


def source_rows(ctx: AppContext, now: datetime) -> list[dict[str, Any]]:
    registry = ctx.registry.registry
    activity = ctx.store.source_activity()
    units = {u.id: u for u in registry.units}
    systems = {s.id: s for s in registry.systems}
    rows = []
    for src in registry.sources:
        system = systems.get(src.system_id)
        act = activity.get(src.id)
        last = act.last_ingested if act else None
        if last is None:
            state = "never"
        elif now - last <= timedelta(minutes=src.allowed_silence_minutes):
            state = "ok"
        else:
            state = "silent"
        rows.append(
            {
                "source": src,
                "system": system,
                "unit": units.get(system.unit_id) if system else None,
                "events": act.events if act else 0,
                "last": last,
                "state": state,
            }
        )
    return rows


@router.get("/", response_class=HTMLResponse, response_model=None)
def overview(
    request: Request, principal: Annotated[Principal, Depends(require_roles(*Role))]
) -> HTMLResponse | RedirectResponse:
    if principal.role is Role.INSPECTOR:  # inspectors work from their plans' units, not province-wide
        return RedirectResponse("/inspections", status_code=303)
    ctx = _ctx(request)
    now = datetime.now(UTC)
    rows = source_rows(ctx, now)
    systems = ctx.registry.registry.systems
    receiving = {r["system"].id for r in rows if r["system"] and r["state"] == "ok"}
    failing = {r["system"].id for r in rows if r["system"] and r["state"] != "ok"}
    return templates.TemplateResponse(
        request,
        "overview.html",
        _base(
            request,
            nav="overview",
            now=now,
            rows=rows,
            events=ctx.store.search_events(EventQuery(size=15)),
            alerts=ctx.store.search_alerts(AlertQuery(size=10)),
            deadletters=ctx.store.list_deadletters(DeadLetterQuery(size=5)),
            systems_total=len(systems),
            systems_receiving=len(receiving - failing),
        ),
    )


# -- login, logout, language ------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/alerts") -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login.html", _base(request, next=_local_path(next, "/alerts"), error=None, username="")
    )


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/alerts",
) -> Response:
    ctx = _ctx(request)
    settings = request.app.state.auth_settings
    error, status = None, 200
    try:
        token, _user = auth.login(
            store=ctx.store,
            limiter=request.app.state.login_limiter,
            username=username.strip(),
            password=password,
            ip=_ip(request) or "unknown",
            session_hours=settings.session_hours,
            previous_session=request.cookies.get(SESSION_COOKIE),
        )
    except TooManyAttempts as exc:
        error, status, retry = N_("Too many failed attempts. Try again later."), 429, exc.retry_after
    except AuthFailed:
        error, status, retry = N_("Wrong username or password."), 401, 0.0
    if error is not None:
        resp = templates.TemplateResponse(
            request,
            "login.html",
            _base(request, next=_local_path(next, "/alerts"), error=error, username=username),
            status_code=status,
        )
        if status == 429:
            resp.headers["Retry-After"] = str(int(retry) + 1)
        return resp
    done = _see_other(_local_path(next, "/alerts"))
    secure = request.app.state.secure_cookies
    done.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        secure=secure,
        samesite=settings.cookie_samesite,
        path="/",
    )
    done.delete_cookie(CSRF_COOKIE, path="/")  # a fresh CSRF secret with the fresh session
    return done


@router.post("/logout")
def logout(request: Request) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    principal = current_principal(request)
    if token:
        auth.logout(
            store=_ctx(request).store,
            session_token=token,
            actor=principal.username if principal else "anonymous",
            ip=_ip(request),
        )
    resp = _see_other("/login")
    resp.delete_cookie(SESSION_COOKIE, path="/", secure=request.app.state.secure_cookies, httponly=True)
    return resp


@router.post("/lang")
def set_language(
    request: Request, lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/"
) -> Response:
    resp = _see_other(_local_path(next, "/"))
    if lang in LOCALES:
        resp.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            httponly=True,
            samesite="lax",
            secure=request.app.state.secure_cookies,
            path="/",
        )
    return resp


# -- alert queue -------------------------------------------------------------------------------------


def _queue_params(request: Request) -> tuple[AlertSearchParams, dict[str, str], str]:
    """The console's filter form: `status` is one value (open / all / a status), dates are local days."""
    raw = {k: v for k, v in request.query_params.multi_items() if v.strip()}
    status_choice = raw.pop("status", "open")
    query: dict[str, Any] = dict(raw)
    if status_choice == "open":
        query["status"] = ",".join(s.value for s in OPEN_STATUSES)
    elif status_choice != "all":
        query["status"] = status_choice
    severity = request.query_params.getlist("severity")
    if severity:
        query["severity"] = ",".join(severity)
    return parse_search(query), raw, status_choice


def _url(path: str, params: dict[str, str], **changes: str | None) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v}
    return path + ("?" + urlencode(merged) if merged else "")


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(request: Request, principal: Reader) -> HTMLResponse:
    ctx = _ctx(request)
    params, raw, status_choice = _queue_params(request)
    raw.pop("cursor", None)
    if status_choice != "open":
        raw["status"] = status_choice
    page = alerts.search(store=ctx.store, params=params)
    facets = alerts.facets(store=ctx.store, params=params, names=ALL_FACETS, size=8)
    registry = ctx.registry.registry
    names = {
        "unit": {u.id: u.name for u in registry.units},
        "system": {s.id: s.name for s in registry.systems},
    }
    open_incidents = incidents.search(
        store=ctx.store, query=IncidentQuery(status=["new", "in_progress"], size=50)
    ).items
    facet_links = {
        name: [
            (
                b,
                _url("/alerts", raw, **{FACET_PARAM[name]: b.value}),
                names.get(name, {}).get(b.value) or b.label,
            )
            for b in buckets
        ]
        for name, buckets in facets.items()
    }
    return templates.TemplateResponse(
        request,
        "alerts.html",
        _base(
            request,
            nav="alerts",
            page=page,
            params=params,
            raw=raw,
            status_choice=status_choice,
            facet_links=facet_links,
            names=names,
            here=_url("/alerts", raw, cursor=params.cursor),
            next_url=_url("/alerts", raw, cursor=page.cursor) if page.cursor else None,
            first_url=_url("/alerts", raw) if params.cursor else None,
            clear_url={k: _url("/alerts", {**raw, k: ""}) for k in raw},
            open_incidents=open_incidents,
            severities=list(Severity),
            statuses=list(AlertStatus),
            principal=principal,
        ),
    )


@router.post("/alerts/bulk")
def alert_bulk(
    request: Request,
    actor: Analyst,
    action: Annotated[str, Form()],
    ids: Annotated[list[str], Form()],
    back: Annotated[str, Form()] = "/alerts",
    assignee: Annotated[str, Form(max_length=64)] = "",
    tag: Annotated[str, Form(max_length=64)] = "",
    title: Annotated[str, Form(max_length=300)] = "",
    incident_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    store = _ctx(request).store
    back = _local_path(back, "/alerts")
    ip = _ip(request)
    if action == "incident_new":
        incident = incidents.create(
            store=store,
            data=IncidentCreate(
                title=title.strip() or translate(locale_of(request), N_("Incident")), alert_ids=ids
            ),
            actor=actor,
            ip=ip,
        )
        return _see_other(f"/incidents/{incident.id}")
    if action == "incident_add" and incident_id:
        incidents.add_alerts(store=store, incident_id=incident_id, alert_ids=ids, actor=actor, ip=ip)
        return _see_other(f"/incidents/{incident_id}")
    change = _bulk_change(action, actor=actor, assignee=assignee, tag=tag)
    result = alerts.bulk_update(store=store, ids=ids, change=change, actor=actor, ip=ip)
    sep = "&" if "?" in back else "?"
    return _see_other(f"{back}{sep}done={len(result.updated)}")


def _bulk_change(action: str, *, actor: Principal, assignee: str, tag: str) -> TriageEdit:
    if action in BULK_STATUS:
        update = TriageEdit(status=BULK_STATUS[action])
        if action == "acknowledge":
            update.assignee = actor.username
        return update
    if action == "assign_me":
        return TriageEdit(assignee=actor.username)
    if action == "assign":
        return TriageEdit(assignee=assignee)
    if action == "tag":
        return TriageEdit(add_tags=[tag])
    raise TriageError("unknown action", action=action)


# -- alert detail ------------------------------------------------------------------------------------


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: str, principal: Reader) -> HTMLResponse:
    ctx = _ctx(request)
    detail = alerts.detail(store=ctx.store, alert_id=alert_id)
    alert = alerts.get(store=ctx.store, alert_id=alert_id)
    incident = None
    if alert.triage.incident_id:
        got = ctx.store.get_incident_versioned(alert.triage.incident_id)
        incident = got[0] if got else None
    open_incidents = incidents.search(
        store=ctx.store, query=IncidentQuery(status=["new", "in_progress"], size=50)
    ).items
    return templates.TemplateResponse(
        request,
        "alert.html",
        _base(
            request,
            nav="alerts",
            alert=alert,
            detail=detail,
            incident=incident,
            open_incidents=open_incidents,
            statuses=list(AlertStatus),
            q=request.query_params.get("q"),
            principal=principal,
        ),
    )


@router.post("/alerts/{alert_id}")
def alert_change(
    request: Request,
    alert_id: str,
    actor: Analyst,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str | None, Form(max_length=64)] = None,
    add_tag: Annotated[str, Form(max_length=64)] = "",
    remove_tag: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    assign_me: Annotated[str, Form()] = "",
) -> Response:
    change = TriageEdit(
        status=AlertStatus(status) if status else None,
        assignee=actor.username if assign_me else assignee,
        add_tags=[add_tag] if add_tag.strip() else [],
        remove_tags=[remove_tag] if remove_tag.strip() else [],
        comment=comment or None,
    )
    if change.status is AlertStatus.ACKNOWLEDGED and change.assignee is None:
        current = alerts.get(store=_ctx(request).store, alert_id=alert_id)
        if not current.triage.assignee:
            change.assignee = actor.username
    alerts.update(store=_ctx(request).store, alert_id=alert_id, change=change, actor=actor, ip=_ip(request))
    return _see_other(f"/alerts/{alert_id}")


# -- incidents ---------------------------------------------------------------------------------------


@router.get("/incidents", response_class=HTMLResponse)
def incident_list(
    request: Request, principal: Reader, status: str = "open", cursor: str | None = None
) -> HTMLResponse:
    statuses = (
        ["new", "in_progress"]
        if status == "open"
        else []
        if status == "all"
        else [IncidentStatus(status).value]
    )
    page = incidents.search(
        store=_ctx(request).store, query=IncidentQuery(status=statuses, size=50, cursor=cursor)
    )
    return templates.TemplateResponse(
        request,
        "incidents.html",
        _base(
            request,
            nav="incidents",
            page=page,
            status=status,
            statuses=list(IncidentStatus),
            next_url=_url("/incidents", {"status": status}, cursor=page.cursor) if page.cursor else None,
            principal=principal,
        ),
    )


@router.post("/incidents")
def incident_create(
    request: Request,
    actor: Analyst,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    severity: Annotated[str, Form()] = "",
    description: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    incident = incidents.create(
        store=_ctx(request).store,
        data=IncidentCreate(
            title=title, severity=Severity(severity) if severity else None, description=description or None
        ),
        actor=actor,
        ip=_ip(request),
    )
    return _see_other(f"/incidents/{incident.id}")


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, incident_id: str, principal: Reader) -> HTMLResponse:
    ctx = _ctx(request)
    detail = incidents.detail(store=ctx.store, incident_id=incident_id)
    incident = incidents.get(store=ctx.store, incident_id=incident_id)
    registry = ctx.registry.registry
    return templates.TemplateResponse(
        request,
        "incident.html",
        _base(
            request,
            nav="incidents",
            incident=incident,
            detail=detail,
            unit_names={u.id: u.name for u in registry.units},
            system_names={s.id: s.name for s in registry.systems},
            statuses=list(IncidentStatus),
            severities=list(Severity),
            principal=principal,
        ),
    )


@router.post("/incidents/{incident_id}")
def incident_change(
    request: Request,
    incident_id: str,
    actor: Analyst,
    status: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "",
    owner: Annotated[str | None, Form(max_length=64)] = None,
    title: Annotated[str, Form(max_length=300)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
    remove_alert: Annotated[str, Form()] = "",
) -> Response:
    store = _ctx(request).store
    ip = _ip(request)
    if remove_alert:
        incidents.remove_alert(
            store=store, incident_id=incident_id, alert_id=remove_alert, actor=actor, ip=ip
        )
    if note.strip():
        incidents.add_note(store=store, incident_id=incident_id, text=note, actor=actor, ip=ip)
    change = IncidentUpdate(
        status=IncidentStatus(status) if status else None,
        severity=Severity(severity) if severity else None,
        owner=owner,
        title=title or None,
    )
    if change.model_dump(exclude_none=True):
        incidents.update(store=store, incident_id=incident_id, change=change, actor=actor, ip=ip)
    return _see_other(f"/incidents/{incident_id}")


# -- audit -------------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    principal: Admin,
    actor: str = "",
    action: str = "",
    target: str = "",
    cursor: str | None = None,
) -> HTMLResponse:
    query = AuditQuery(
        actor=actor or None, action=action or None, target_id=target or None, size=50, cursor=cursor
    )
    page = audit.search(store=_ctx(request).store, query=query)
    filters = {"actor": actor, "action": action, "target": target}
    return templates.TemplateResponse(
        request,
        "audit.html",
        _base(
            request,
            nav="audit",
            page=page,
            filters=filters,
            next_url=_url("/audit", filters, cursor=page.cursor) if page.cursor else None,
            principal=principal,
        ),
    )


def local_time(value: datetime) -> str:
    return value.astimezone(VN_TZ).isoformat()
