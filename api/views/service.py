"""Saved views: save (or replace by name), list, read and delete the caller's own views.

A view belongs to the user who saved it (`Principal.user_id`): nobody else lists, opens through the
API or deletes it, and another user's id answers 404 as if it did not exist. The query string is
kept as the page will read it back: paging state and empty fields dropped, and its KQL `q` read
against the page's fields, so a view that could not open is refused when saved (422) rather than
when clicked. Saving and deleting are audited like every other change people make.

Typed errors: NotFound 404, InvalidChange 422 (a query that does not parse), Conflict 409 (the
user keeps `SOC_SAVED_VIEWS_PER_USER` views of that page already).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from api.alerts.errors import Conflict
from api.audit import service as audit
from api.auth.deps import Principal
from api.context import AppContext
from api.errors import InvalidChange, NotFound
from api.views.models import ViewCreate
from soc_core.errors import QueryError
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS, QueryLimits, Schema, parse_for
from soc_core.saved_views import SavedView, SavedViewStore, ViewKind, view_id
from soc_core.store import AuditStore

PAGE_STATE = frozenset({"cursor", "done", "csrf_token"})
"""Parameters that say where the analyst was, not what they searched: never part of a view."""
FIELDS: dict[ViewKind, Schema] = {ViewKind.ALERTS: ALERT_FIELDS, ViewKind.EVENTS: EVENT_FIELDS}


def page_query(query: str) -> str:
    """What a page's query string says it searched: paging state and empty fields dropped (how a
    view is kept, and how the page tells which saved view it shows)."""
    pairs = parse_qsl(query.strip().removeprefix("?"), keep_blank_values=False)
    return urlencode([(key, value) for key, value in pairs if key not in PAGE_STATE and value.strip()])


def clean_query(kind: ViewKind, query: str, limits: QueryLimits) -> str:
    """The query string as a view keeps it; InvalidChange when its `q` is not KQL the page reads."""
    kept = page_query(query)
    for key, value in parse_qsl(kept):
        if key == "q":
            try:
                parse_for(value, FIELDS[kind], limits)
            except QueryError as exc:
                raise InvalidChange(f"q: {exc.explain()}", field="query") from None
    return kept


def listing(*, repo: SavedViewStore, owner: Principal, kind: ViewKind | None = None) -> list[SavedView]:
    return repo.list_for(owner.user_id, kind)


def get(*, repo: SavedViewStore, owner: Principal, view_id: str) -> SavedView:
    view = repo.get(owner.user_id, view_id)
    if view is None:
        raise NotFound("no such saved view", view_id=view_id)
    return view


def save(
    *,
    repo: SavedViewStore,
    audit_store: AuditStore,
    body: ViewCreate,
    actor: Principal,
    per_user: int,
    limits: QueryLimits,
    ip: str | None,
) -> tuple[SavedView, bool]:
    """Store the view (or replace the query of the one with that name); True when it is new."""
    query = clean_query(body.kind, body.query, limits)
    key = view_id(actor.user_id, body.kind, body.name)
    kept = repo.list_for(actor.user_id, body.kind)
    if len(kept) >= per_user and all(v.id != key for v in kept):
        raise Conflict(
            "too many saved views on this page: delete one first", kind=body.kind.value, limit=per_user
        )
    now = datetime.now(UTC)
    view = SavedView(
        id=key,
        owner=actor.user_id,
        kind=body.kind,
        name=body.name,
        query=query,
        created_at=now,
        updated_at=now,
    )
    created = repo.put(view)
    audit.record(
        store=audit_store,
        actor=actor.username,
        action="view.create" if created else "view.update",
        target_type="view",
        target_id=key,
        ip=ip,
        details={"kind": body.kind.value, "name": body.name, "query": query},
    )
    return (view if created else get(repo=repo, owner=actor, view_id=key)), created


def save_in(ctx: AppContext, *, body: ViewCreate, actor: Principal, ip: str | None) -> tuple[SavedView, bool]:
    """`save` with the process's views, audit log and limits (the API's and the console's form)."""
    return save(
        repo=ctx.backend.saved_views,
        audit_store=ctx.store,
        body=body,
        actor=actor,
        per_user=ctx.settings.saved_views_per_user,
        limits=ctx.settings.query_limits,
        ip=ip,
    )


def delete(
    *, repo: SavedViewStore, audit_store: AuditStore, actor: Principal, view_id: str, ip: str | None
) -> SavedView:
    view = get(repo=repo, owner=actor, view_id=view_id)
    if not repo.delete(actor.user_id, view_id):
        raise NotFound("no such saved view", view_id=view_id)
    audit.record(
        store=audit_store,
        actor=actor.username,
        action="view.delete",
        target_type="view",
        target_id=view_id,
        ip=ip,
        details={"kind": view.kind.value, "name": view.name},
    )
    return view
