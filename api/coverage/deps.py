"""What the coverage API and the console's dashboard take from the running process.

The repository comes from `AppContext.extras["coverage_repo"]` for now; this accessor is the only
place that reads the key, so moving it to a typed field changes this module alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth.deps import Principal, Role, require_roles
from api.context import AppContext
from api.coverage.repository import CoverageRepository

CanSee = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.ANALYST, Role.POLICE, Role.VIEWER))]


def coverage_deps(request: Request) -> tuple[AppContext, CoverageRepository]:
    ctx: AppContext = request.app.state.ctx
    repo: CoverageRepository = ctx.extras["coverage_repo"]  # type: ignore[assignment]
    return ctx, repo
