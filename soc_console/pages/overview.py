"""The overview (`/`): which systems send logs, the latest events, alerts and dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth.deps import Principal, Role, require_roles
from api.context import AppContext
from soc_console.pages.common import app_context, render, see_other
from soc_core.store import AlertQuery, DeadLetterQuery, EventQuery

router = APIRouter()


def source_rows(ctx: AppContext, now: datetime) -> list[dict[str, Any]]:
    """Each registered log source with its system, unit, event count and state (ok, silent, never)."""
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
        return see_other("/inspections")
    ctx = app_context(request)
    now = datetime.now(UTC)
    rows = source_rows(ctx, now)
    receiving = {r["system"].id for r in rows if r["system"] and r["state"] == "ok"}
    failing = {r["system"].id for r in rows if r["system"] and r["state"] != "ok"}
    return render(
        request,
        "overview.html",
        nav="overview",
        now=now,
        rows=rows,
        events=ctx.store.search_events(EventQuery(size=15)),
        alerts=ctx.store.search_alerts(AlertQuery(size=10)),
        deadletters=ctx.store.list_deadletters(DeadLetterQuery(size=5)),
        systems_total=len(ctx.registry.registry.systems),
        systems_receiving=len(receiving - failing),
    )
