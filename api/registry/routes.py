"""Registry API: read, export (YAML/CSV), import (YAML/CSV, admin), upsert and delete one entry (admin).

Every change is validated as a whole (see `service.problems`); when inconsistent, `RegistryInvalid`
is answered 422 with the full list of problems (`errors` of the problem details, `api.problems`).
The registry cache is reloaded after a change so ingest and normalization use it at once. The
console's registry page calls the same service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.auth.csrf import csrf_protect
from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from api.deps import app_context, client_ip
from api.media import FILE, file_responses
from api.registry import service

router = APIRouter(prefix="/api/v1/registry", dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Kind = Annotated[str, Query(pattern="^(units|systems|sources|endpoints|targets)$")]


def _audit(
    request: Request, user: Principal, action: str, target_id: str | None, details: dict[str, Any]
) -> None:
    service.record_change(app_context(request).store, user, action, target_id, client_ip(request), details)


@router.get("")
def get_registry(request: Request, user: Reader) -> dict[str, Any]:
    return app_context(request).store.load_registry().model_dump(mode="json")


@router.get(
    "/export",
    response_class=FILE,
    responses=file_responses("application/yaml", "text/csv", description="YAML, or one kind as CSV"),
)
def export(
    request: Request,
    user: Reader,
    format: Annotated[str, Query(pattern="^(yaml|csv)$")] = "yaml",
    kind: Kind | None = None,
) -> Response:
    registry = app_context(request).store.load_registry()
    if format == "csv":
        if kind is None:
            raise HTTPException(400, "CSV export needs ?kind=units|systems|sources|endpoints|targets")
        return Response(
            service.to_csv(registry, kind),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="registry-{kind}.csv"'},
        )
    return Response(
        service.to_yaml(registry),
        media_type="application/yaml; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="registry.yaml"'},
    )


@router.post("/import")
async def import_registry(request: Request, user: Admin, kind: Kind | None = None) -> dict[str, Any]:
    body = (await request.body()).decode("utf-8", "replace")
    ctype = request.headers.get("content-type", "")
    if "csv" in ctype and kind is None:
        raise service.RegistryInvalid(["a CSV import needs ?kind=units|systems|sources|endpoints|targets"])
    incoming = service.parse_csv(kind, body) if kind else service.parse_yaml(body)
    ctx = app_context(request)
    counts = await run_in_threadpool(
        lambda: service.import_entries(
            store=ctx.store, reload=ctx.registry.reload, incoming=incoming, user=user, ip=client_ip(request)
        )
    )
    return {"imported": counts}


@router.put("/{kind}/{entry_id}")
async def upsert_entry(request: Request, user: Admin, kind: str, entry_id: str) -> dict[str, Any]:
    if kind not in service.KINDS:
        raise HTTPException(404, f"unknown registry kind {kind!r}")
    try:
        data = await request.json()
    except ValueError:
        raise HTTPException(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HTTPException(422, "expected a JSON object")
    data["id"] = entry_id
    before = next(
        (i for i in getattr(app_context(request).store.load_registry(), kind) if i.id == entry_id), None
    )
    incoming = service._validate({kind: [data]})
    await run_in_threadpool(service.apply_import, app_context(request).store, incoming)
    app_context(request).registry.reload()
    after = getattr(incoming, kind)[0]
    _audit(
        request,
        user,
        f"registry.{kind}.upsert",
        f"{kind}/{entry_id}",
        {"from": before.model_dump(mode="json") if before else None, "to": after.model_dump(mode="json")},
    )
    return dict(after.model_dump(mode="json"))


@router.delete("/{kind}/{entry_id}", status_code=204)
def delete_entry(request: Request, user: Admin, kind: str, entry_id: str) -> Response:
    if kind not in service.KINDS:
        raise HTTPException(404, f"unknown registry kind {kind!r}")
    service.delete_entry(app_context(request).store, kind, entry_id)
    app_context(request).registry.reload()
    _audit(request, user, f"registry.{kind}.delete", f"{kind}/{entry_id}", {})
    return Response(status_code=204)
