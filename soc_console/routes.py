"""The console: server-rendered pages (Jinja2) over the same store the API reads.

This first page is the live overview a newcomer sees after `make run`: the province's systems and
whether each of their log sources is delivering, the latest alerts, events and dead letters.
No inline scripts (a strict Content-Security-Policy is set by the app); Jinja2 autoescapes
every field, since log content is hostile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.context import AppContext
from soc_core.store import AlertQuery, DeadLetterQuery, EventQuery

HERE = Path(__file__).parent
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
templates = Jinja2Templates(directory=str(HERE / "templates"))


def vn_datetime(value: datetime | str | None) -> str:
    """dd/MM/yyyy HH:mm in Asia/Ho_Chi_Minh, the console's convention."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def vn_number(value: int | float) -> str:
    """1.234,5 in Vietnamese."""
    text = f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


templates.env.filters["vn_datetime"] = vn_datetime
templates.env.filters["vn_number"] = vn_number

router = APIRouter()


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


@router.get("/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    ctx: AppContext = request.app.state.ctx
    now = datetime.now(UTC)
    rows = source_rows(ctx, now)
    systems = ctx.registry.registry.systems
    receiving = {r["system"].id for r in rows if r["system"] and r["state"] == "ok"}
    failing = {r["system"].id for r in rows if r["system"] and r["state"] != "ok"}
    events = ctx.store.search_events(EventQuery(size=15))
    alerts = ctx.store.search_alerts(AlertQuery(size=10))
    deadletters = ctx.store.list_deadletters(DeadLetterQuery(size=5))
    return templates.TemplateResponse(
        request,
        "overview.html",
        {
            "now": now,
            "rows": rows,
            "events": events,
            "alerts": alerts,
            "deadletters": deadletters,
            "systems_total": len(systems),
            "systems_receiving": len(receiving - failing),
            "mode": ctx.settings.mode.value,
        },
    )
