"""Rule API: list, detail, quarantined, enable/disable (audited), test an event against the rules.

Reading needs any signed-in role; enabling, disabling (with a required reason) and testing need
analyst (or admin). Mounted
by `api.app.install`; the engine comes from `AppContext.detect_engine` (`api.rules.service`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from api.auth.csrf import csrf_protect
from api.auth.deps import Principal, Role, require_roles
from api.deps import app_context, client_ip
from api.paging import DEFAULT_SIZE, Cursor, ItemPage, Size, page_of
from api.rules import service
from api.rules.models import (
    QuarantinedRead,
    RuleDetail,
    RuleHistogram,
    RuleListParams,
    RuleSummary,
    RuleTestRequest,
    RuleTestResult,
    StateChange,
    StateChangeResult,
)
from soc_core.errors import StoreError

router = APIRouter(prefix="/api/v1/rules", tags=["rules"], dependencies=[Depends(csrf_protect)])
Reader = Annotated[Principal, Depends(require_roles(*Role))]
Analyst = Annotated[Principal, Depends(require_roles(Role.ANALYST))]

STATUS: dict[type[service.RuleError], int] = {
    service.UnknownRule: 404,
    service.RuleQuarantined: 409,
    service.InvalidTestEvent: 422,
    service.InvalidRange: 422,
    service.MissingReason: 422,
    service.RulesUnavailable: 503,
}


@contextmanager
def _answers() -> Iterator[None]:
    """Typed errors become HTTP answers with our message (never a stack trace)."""
    try:
        yield
    except service.RuleError as exc:
        raise HTTPException(STATUS.get(type(exc), 400), str(exc)) from exc
    except StoreError as exc:
        raise HTTPException(503, f"rule state unavailable: {exc.message}") from exc


@router.get("", response_model=ItemPage[RuleSummary])
def list_rules(
    request: Request, _: Reader, params: Annotated[RuleListParams, Query()]
) -> ItemPage[RuleSummary]:
    """Filters: q, kind (detection|correlation), level, state (enabled|disabled|dormant|quarantined),
    checklist (VN-05), ruleset;
    sort title|level|alerts; size, cursor (`api.paging`)."""
    ctx = app_context(request)
    with _answers():
        return service.list_rules(
            engine=service.engine_of(ctx),
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            params=params,
        )


@router.get("/quarantined", response_model=ItemPage[QuarantinedRead])
def quarantined_rules(
    request: Request, _: Reader, size: Size = DEFAULT_SIZE, cursor: Cursor = None
) -> ItemPage[QuarantinedRead]:
    with _answers():
        found = service.quarantined(engine=service.engine_of(app_context(request)))
    return page_of(found, key=lambda q: (q.path, q.rule_id or "", q.reason), size=size, cursor=cursor)


@router.post("/test", response_model=RuleTestResult)
def test_rules(request: Request, body: RuleTestRequest, _: Analyst) -> RuleTestResult:
    """Which rules match one event, and which of their selections matched (disabled rules included)."""
    with _answers():
        return service.explain_event(engine=service.engine_of(app_context(request)), body=body)


@router.get("/{rule_id}", response_model=RuleDetail)
def get_rule(request: Request, rule_id: str, _: Reader) -> RuleDetail:
    ctx = app_context(request)
    with _answers():
        return service.get_rule(
            engine=service.engine_of(ctx),
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            rule_id=rule_id,
            correlation_stats=ctx.correlation_stats,
        )


@router.get("/{rule_id}/histogram", response_model=RuleHistogram)
def rule_histogram(
    request: Request,
    rule_id: str,
    _: Reader,
    days: Annotated[int, Query(ge=1, le=service.MAX_HISTOGRAM_DAYS)] = 30,
) -> RuleHistogram:
    """The rule's alerts per day (00:00 Asia/Ho_Chi_Minh) over the last `days` days, today last."""
    ctx = app_context(request)
    with _answers():
        return service.rule_histogram(
            engine=service.engine_of(ctx), store=ctx.store, rule_id=rule_id, days=days
        )


def _change(
    request: Request, rule_id: str, enabled: bool, actor: Principal, body: StateChange
) -> StateChangeResult:
    with _answers():
        return service.change_state(
            app_context(request), rule_id, enabled, actor, client_ip(request), body.reason
        )


@router.post("/{rule_id}/enable", response_model=StateChangeResult)
def enable_rule(
    request: Request, rule_id: str, actor: Analyst, body: Annotated[StateChange, Body()]
) -> StateChangeResult:
    """Enable everywhere; the body's `reason` is required and goes to the audit log."""
    return _change(request, rule_id, True, actor, body)


@router.post("/{rule_id}/disable", response_model=StateChangeResult)
def disable_rule(
    request: Request, rule_id: str, actor: Analyst, body: Annotated[StateChange, Body()]
) -> StateChangeResult:
    """Disable everywhere; the body's `reason` is required and goes to the audit log."""
    return _change(request, rule_id, False, actor, body)
