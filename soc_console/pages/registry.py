"""The registry as tables (units, systems, sources, endpoints, targets) and the admins' file import."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from api.auth.deps import Principal, Role
from api.registry import service
from soc_console.pages.common import Admin, Reader, app_context, client_ip, render

router = APIRouter()


def _registry_page(request: Request, user: Principal, **extra: Any) -> HTMLResponse:
    registry = app_context(request).store.load_registry()
    values: dict[str, Any] = {
        "registry": registry,
        "units": {u.id: u for u in registry.units},
        "systems": {s.id: s for s in registry.systems},
        "kinds": list(service.KINDS),
        "problems": [],
        "imported": None,
        "can_import": user.role is Role.ADMIN,
    }
    return render(
        request,
        "registry.html",
        nav="registry",
        status_code=422 if extra.get("problems") else 200,
        **(values | extra),
    )


@router.get("/registry", response_class=HTMLResponse)
def registry_page(request: Request, user: Reader) -> HTMLResponse:
    """The registry as tables: units in their hierarchy, systems, sources, endpoints, targets."""
    return _registry_page(request, user)


@router.post("/registry/import", response_class=HTMLResponse)
async def registry_import_page(request: Request, user: Admin) -> HTMLResponse:
    """Admins upload a YAML file (whole registry) or a CSV file (one kind); all-or-nothing."""
    form = await request.form()
    upload = form.get("file")
    kind = str(form.get("kind") or "") or None
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _registry_page(request, user, problems=["choose a YAML or CSV file to import"])
    text = (await upload.read()).decode("utf-8", "replace")
    ctx = app_context(request)
    try:
        if upload.filename.lower().endswith(".csv"):
            if kind not in service.KINDS:
                raise service.RegistryInvalid(["a CSV file holds one kind: choose which"])
            incoming = service.parse_csv(str(kind), text)
        else:
            incoming = service.parse_yaml(text)
        counts = await run_in_threadpool(
            lambda: service.import_entries(
                store=ctx.store,
                reload=ctx.registry.reload,
                incoming=incoming,
                user=user,
                ip=client_ip(request),
                details={"file": upload.filename},
            )
        )
    except service.RegistryInvalid as exc:
        return _registry_page(request, user, problems=exc.problems)
    return _registry_page(request, user, imported=counts)
