"""Saved view API: the caller's own views of the alert queue and the event explorer.

Any province-wide role may keep views (the pages they search are theirs to read); inspectors, who
see neither page, get 403. Mounted by `api.app.install`; views live in the backend's
`SavedViewStore`, saves and deletes go to the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth.csrf import csrf_protect
from api.deps import ClientIp, Reader, app_context
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.views import service
from api.views.models import ViewCreate, ViewRead
from soc_core.saved_views import SavedViewStore, ViewKind

router = APIRouter(prefix="/api/v1/views", tags=["views"], dependencies=[Depends(csrf_protect)])


def _repo(request: Request) -> SavedViewStore:
    return app_context(request).backend.saved_views


@router.get("", response_model=ItemPage[ViewRead])
def list_views(
    request: Request,
    owner: Reader,
    kind: Annotated[ViewKind | None, Query(description="alerts or events; unset: both")] = None,
    size: Size = DEFAULT_SIZE,
    cursor: Cursor = None,
) -> ItemPage[ViewRead]:
    """The caller's views, by page then name."""
    views = service.listing(repo=_repo(request), owner=owner, kind=kind)
    page = page_of(views, key=lambda v: (v.kind.value, v.name, v.id), size=size, cursor=cursor)
    return page.map(ViewRead.of)


@router.post("", response_model=ViewRead, status_code=201, responses={200: {"model": ViewRead}})
def save_view(
    request: Request, response: Response, body: ViewCreate, actor: Reader, ip: ClientIp
) -> ViewRead:
    """201 with a new view; 200 when a view of that name existed and its query was replaced."""
    view, created = service.save_in(app_context(request), body=body, actor=actor, ip=ip)
    if not created:
        response.status_code = 200
    return ViewRead.of(view)


@router.get("/{view_id}", response_model=ViewRead)
def read_view(request: Request, view_id: str, owner: Reader) -> ViewRead:
    return ViewRead.of(service.get(repo=_repo(request), owner=owner, view_id=view_id))


@router.delete("/{view_id}", status_code=204)
def delete_view(request: Request, view_id: str, actor: Reader, ip: ClientIp) -> Response:
    service.delete(
        repo=_repo(request), audit_store=app_context(request).store, actor=actor, view_id=view_id, ip=ip
    )
    return Response(status_code=204)
