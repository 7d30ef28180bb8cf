"""The saved-views box's form (`templates/_saved_views.html`), shared by every page that keeps views.

One POST handler for saving and deleting, so a page only includes the partial with its kind. It
calls the same service as the JSON API (`api.views.service`): the same per-user limit, query check
and audit line. Saving answers with the view's page (the view now shown); deleting goes back.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from api.errors import InvalidChange
from api.views import service
from api.views.models import ViewCreate
from soc_console.pages.common import Reader, app_context, client_ip, local_path, see_other
from soc_core.saved_views import MAX_NAME, MAX_QUERY, PAGE_OF_KIND, ViewKind

router = APIRouter()


@router.post("/views")
def saved_view_form(
    request: Request,
    actor: Reader,
    kind: Annotated[ViewKind, Form()],
    action: Annotated[str, Form(pattern="^(save|delete)$")] = "save",
    name: Annotated[str, Form(max_length=MAX_NAME)] = "",
    query: Annotated[str, Form(max_length=MAX_QUERY)] = "",
    view_id: Annotated[str, Form(max_length=64)] = "",
    back: Annotated[str, Form(max_length=MAX_QUERY + 200)] = "",
) -> Response:
    ctx = app_context(request)
    repo, ip = ctx.backend.saved_views, client_ip(request)
    if action == "delete":
        service.delete(repo=repo, audit_store=ctx.store, actor=actor, view_id=view_id, ip=ip)
        return see_other(local_path(back, PAGE_OF_KIND[kind]))
    try:
        body = ViewCreate(kind=kind, name=name, query=query)
    except ValidationError as exc:
        raise InvalidChange("a saved view needs a name", field="name") from exc
    view, _ = service.save_in(ctx, body=body, actor=actor, ip=ip)
    return see_other(view.url)
