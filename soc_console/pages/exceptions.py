"""Exceptions: the list (active, expiring soon, expired, revoked, with what each suppressed), revoking,
and the form that makes an exception of an alert closed as a false positive.

The pages call the API's service (`api.exceptions.service`); the form's expiry is a day on the
teams' calendar: the exception ends when that day ends in Vietnam.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.alerts.errors import Conflict
from api.auth.deps import Principal
from api.errors import InvalidChange
from api.exceptions import service
from api.exceptions.models import ExceptionFromAlert, ExceptionListParams
from api.i18n import N_
from api.paging import MAX_SIZE
from soc_console.pages.common import Analyst, Reader, app_context, client_ip, render, see_other, url_with
from soc_core.alert import AlertStatus
from soc_core.exceptions import ExceptionState
from soc_core.inspections import vn_day_end, vn_today

router = APIRouter()

EXCEPTION_STATE_LABELS = {
    "active": N_("Active"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "all": N_("All"),
}

DEFAULT_DAYS = 30
"""The expiry the form proposes: a month, long enough to fix the cause, short enough to be reviewed."""


@router.get("/exceptions", response_class=HTMLResponse)
def exceptions_page(
    request: Request, principal: Reader, status: str = "active", cursor: str | None = None
) -> HTMLResponse:
    ctx = app_context(request)
    chosen = ExceptionState(status) if status in {s.value for s in ExceptionState} else None
    params = ExceptionListParams(status=chosen, size=MAX_SIZE, cursor=cursor)
    page = service.listing(repo=ctx.backend.exceptions, settings=ctx.settings.detection, params=params)
    filters = {"status": status}
    return render(
        request,
        "exceptions.html",
        nav="exceptions",
        page=page,
        status_choice=status,
        states=[s.value for s in ExceptionState],
        EXCEPTION_STATE_LABELS=EXCEPTION_STATE_LABELS,
        expiring_days=ctx.settings.detection.exception_expiring_days,
        next_url=url_with("/exceptions", filters, cursor=page.next_cursor) if page.next_cursor else None,
        principal=principal,
    )


@router.post("/exceptions/{exception_id}/revoke")
def revoke(
    request: Request,
    exception_id: str,
    actor: Analyst,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    ctx = app_context(request)
    service.revoke(
        repo=ctx.backend.exceptions,
        audit_store=ctx.store,
        exception_id=exception_id,
        reason=reason.strip() or None,
        actor=actor,
        ip=client_ip(request),
    )
    return see_other("/exceptions?status=revoked")


def _form_page(
    request: Request,
    alert_id: str,
    principal: Principal,
    *,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    picked: list[str] | None = None,
) -> HTMLResponse:
    ctx = app_context(request)
    engine = ctx.detect_engine
    alert = ctx.store.get_alert(alert_id)
    draft = service.draft(store=ctx.store, engine=engine, alert_id=alert_id) if engine and alert else None
    today = vn_today(datetime.now(UTC))
    return render(
        request,
        "exception_form.html",
        nav="alerts",
        alert=alert,
        alert_id=alert_id,
        draft=draft,
        closed=alert is not None and alert.triage.status is AlertStatus.FALSE_POSITIVE,
        error=error,
        values=values or {},
        picked=picked,
        principal=principal,
        default_expiry=(today + timedelta(days=DEFAULT_DAYS)).isoformat(),
        min_expiry=today.isoformat(),
        max_expiry=(today + timedelta(days=ctx.settings.detection.exception_max_days - 1)).isoformat(),
        status_code=422 if error else 200,
    )


@router.get("/alerts/{alert_id}/exception", response_class=HTMLResponse)
def exception_form(request: Request, alert_id: str, principal: Analyst) -> HTMLResponse:
    return _form_page(request, alert_id, principal)


@router.post("/alerts/{alert_id}/exception", response_model=None)
async def create_from_alert(request: Request, alert_id: str, actor: Analyst) -> Response:
    """The form: `pick` names the fields kept, `value:<field>` their (editable) values, `scope` the
    context kept (unit, system, host), then reason, owner and the last day it applies."""
    ctx = app_context(request)
    form = await request.form()
    entered = {k: str(v) for k, v in form.multi_items() if k not in ("csrf_token", "pick", "scope")}
    picked = [str(v) for v in form.getlist("pick")]
    try:
        engine = ctx.detect_engine
        if engine is None:
            raise InvalidChange("this process has no detection engine: exceptions cannot name rules")
        draft = service.draft(store=ctx.store, engine=engine, alert_id=alert_id)
        original = {f.name: str(f.value) for f in draft.fields}
        edited = {n: str(form.get(f"value:{n}", original.get(n, ""))).strip() for n in picked}
        scope = {str(v) for v in form.getlist("scope")}
        try:
            last_day = date.fromisoformat(str(form.get("expires", "")))
        except ValueError as exc:
            raise InvalidChange("the last day is not a date") from exc
        body = ExceptionFromAlert(
            alert_id=alert_id,
            fields=[n for n in picked if edited[n] == original.get(n)],
            values={n: v for n, v in edited.items() if v != original.get(n)},
            unit="unit" in scope,
            system="system" in scope,
            host="host" in scope,
            reason=str(form.get("reason", "")).strip(),
            owner=str(form.get("owner", "")).strip() or None,
            expires_at=vn_day_end(last_day),
        )
        exception = service.create_from_alert(
            repo=ctx.backend.exceptions,
            store=ctx.store,
            audit_store=ctx.store,
            engine=engine,
            settings=ctx.settings.detection,
            body=body,
            actor=actor,
            ip=client_ip(request),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        error = f"{where}: {first['msg']}" if where else str(first["msg"])
        return _form_page(request, alert_id, actor, error=error, values=entered, picked=picked)
    except (InvalidChange, Conflict) as exc:
        return _form_page(request, alert_id, actor, error=exc.message, values=entered, picked=picked)
    return see_other(f"/exceptions?status=active#exception-{exception.id}")
