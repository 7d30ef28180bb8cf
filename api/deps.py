"""What the JSON API's routes and the console's pages share: who may read and change, the
process's context and store, the caller's address.

Route functions take these as parameters (`store: StoreDep`, `ip: ClientIp`) so that each one is a
single service call; code that holds a request calls `app_context` / `client_ip` directly.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from api.context import AppContext
from soc_core.store import Store

Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _store(request: Request) -> Store:
    return app_context(request).store


StoreDep = Annotated[Store, Depends(_store)]
ClientIp = Annotated[str | None, Depends(client_ip)]
