"""What the JSON API's routes share: who may read and change, the store, the caller's address.

Route functions take these as parameters (`store: StoreDep`, `ip: ClientIp`) so that each one is a
single service call.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from soc_core.store import Store

Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]


def _store(request: Request) -> Store:
    store: Store = request.app.state.ctx.store
    return store


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


StoreDep = Annotated[Store, Depends(_store)]
ClientIp = Annotated[str | None, Depends(_client_ip)]
