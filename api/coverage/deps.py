"""What the coverage API and the console's dashboard take from the running process."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth.deps import Principal, Role, require_roles
from api.context import AppContext
from soc_core.coverage import CoverageRepository

CanSee = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ANALYST, Role.POLICE, Role.VIEWER))]


def coverage_deps(request: Request) -> tuple[AppContext, CoverageRepository]:
    ctx: AppContext = request.app.state.ctx
    return ctx, ctx.backend.coverage
