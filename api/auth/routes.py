"""Auth API: who am I, users and API tokens (administrators). The login form is a console page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from api.audit import service as audit
from api.auth import service
from api.auth.csrf import csrf_protect
from api.auth.deps import Principal, Role, require_roles
from api.auth.models import TokenCreate, TokenCreated, TokenRead, UserCreate, UserRead, UserUpdate
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from soc_core.store import Store, UserRecord

router = APIRouter(prefix="/api/v1", tags=["auth"], dependencies=[Depends(csrf_protect)])
Anyone = Annotated[Principal, Depends(require_roles())]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _user_read(user: UserRecord) -> UserRead:
    return UserRead.model_validate(user.model_dump(exclude={"password_hash", "password_changed_at"}))


@router.get("/auth/me", response_model=Principal)
def me(principal: Anyone) -> Principal:
    return principal


@router.get("/users", response_model=ItemPage[UserRead])
def list_users(
    request: Request, _: Admin, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[UserRead]:
    users = _store(request).list_users()
    return page_of(users, key=lambda u: (u.username, u.id), size=size, cursor=cursor).map(_user_read)


@router.post("/users", response_model=UserRead, status_code=201)
def create_user(request: Request, body: UserCreate, actor: Admin) -> UserRead:
    user = service.create_user(
        store=_store(request),
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        actor=actor.username,
    )
    return _user_read(user)


@router.patch("/users/{user_id}", response_model=UserRead)
def update_user(request: Request, user_id: str, body: UserUpdate, actor: Admin) -> UserRead:
    store = _store(request)
    user = store.get_user(user_id)
    if user is None:
        raise HTTPException(404, "no such user")
    changes = body.model_dump(exclude_none=True, exclude={"password"})
    if "role" in changes:
        changes["role"] = Role(changes["role"]).value
    user = user.model_copy(update=changes)
    store.put_user(user)
    if body.password:
        user = service.set_password(store=store, user=user, password=body.password, actor=actor.username)
    if body.active is False or body.role is not None:
        store.delete_user_sessions(user.id)  # a demoted or disabled user signs in again
    audit.record(
        store=store,
        actor=actor.username,
        action="user.update",
        target_type="user",
        target_id=user_id,
        details={k: str(v) for k, v in changes.items()},
    )
    return _user_read(user)


@router.get("/auth/tokens", response_model=ItemPage[TokenRead])
def list_tokens(
    request: Request, _: Admin, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[TokenRead]:
    tokens = page_of(
        _store(request).list_api_tokens(), key=lambda t: (t.name, t.id), size=size, cursor=cursor
    )
    return tokens.map(lambda t: TokenRead.model_validate(t.model_dump()))


@router.post("/auth/tokens", response_model=TokenCreated, status_code=201)
def create_token(request: Request, body: TokenCreate, actor: Admin) -> TokenCreated:
    token, record = service.create_api_token(
        store=_store(request), name=body.name, role=body.role, actor=actor.username
    )
    return TokenCreated.model_validate({**record.model_dump(), "token": token})


@router.delete("/auth/tokens/{token_id}", response_model=TokenRead)
def revoke_token(request: Request, token_id: str, actor: Admin) -> TokenRead:
    record = service.revoke_api_token(store=_store(request), token_id=token_id, actor=actor.username)
    if record is None:
        raise HTTPException(404, "no such token")
    return TokenRead.model_validate(record.model_dump())
