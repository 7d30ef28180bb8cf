"""The console's pages, one module per area; `router` holds them all behind the CSRF check."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth.csrf import csrf_protect
from soc_console.pages import (
    acknowledge,
    alerts,
    audit,
    coverage,
    events,
    exceptions,
    incidents,
    inspections,
    notify_settings,
    overview,
    registry,
    reports,
    rules,
    saved_views,
    session,
)

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
for area in (
    session,
    overview,
    alerts,
    events,
    exceptions,
    rules,
    incidents,
    audit,
    coverage,
    registry,
    inspections,
    reports,
    acknowledge,
    notify_settings,
):
    router.include_router(area.router)
router.include_router(saved_views.router)  # the saved-views box any page includes
