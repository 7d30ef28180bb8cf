"""Rules: the detection and correlation rules with their state, filters, one rule's page (a
correlation's definition with the rules it reads, linked; what reads a rule; the engine's numbers
here), and enabling or disabling a rule or correlation for every process.

The pages call the rules API's service (`api.rules.service`), so they show what the API answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.i18n import N_
from api.rules import service
from api.rules.models import RuleDetail, RuleListParams
from soc_console.pages.common import Analyst, Reader, app_context, client_ip, render, see_other, url_with
from soc_core.errors import StoreError

router = APIRouter()

PAGE_SIZE = 100
KIND_LABELS = {"detection": N_("Detection"), "correlation": N_("Correlation")}
STATE_LABELS = {
    "enabled": N_("Enabled"),
    "disabled": N_("Disabled"),
    "dormant": N_("Dormant"),
    "quarantined": N_("Quarantined"),
}
CORRELATION_TYPE_LABELS = {
    "event_count": N_("Event count"),
    "value_count": N_("Distinct values"),
    "temporal": N_("Together in time"),
    "temporal_ordered": N_("In order"),
    "value_sum": N_("Sum of a field"),
    "value_avg": N_("Average of a field"),
    "value_percentile": N_("Percentile of a field"),
    "value_median": N_("Median of a field"),
}
LEVEL_LABELS = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    "informational": N_("Informational"),
}
OPERATORS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}
FILTERS = ("q", "kind", "state", "level")


def _labels() -> dict[str, object]:
    return {
        "KIND_LABELS": KIND_LABELS,
        "RULE_STATE_LABELS": STATE_LABELS,
        "CORRELATION_TYPE_LABELS": CORRELATION_TYPE_LABELS,
        "OPERATORS": OPERATORS,
        "LEVEL_LABELS": LEVEL_LABELS,
    }


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, principal: Reader) -> HTMLResponse:
    """Filters as the API's (`q`, `kind`, `state`, `level`); a filter value the API refuses is
    dropped, so an edited address still shows a page."""
    ctx = app_context(request)
    given = {k: request.query_params.get(k, "") for k in FILTERS}
    try:
        params = RuleListParams.model_validate({**given, "size": PAGE_SIZE})
    except ValidationError as exc:  # drop exactly the refused values (a `q` too long included)
        refused = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        given = {k: v for k, v in given.items() if k not in refused}
        params = RuleListParams.model_validate({**given, "size": PAGE_SIZE})
    cursor = request.query_params.get("cursor") or None
    error: str | None = None
    page = None
    try:
        engine = service.engine_of(ctx)
        page = service.list_rules(
            engine=engine,
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            params=params.model_copy(update={"cursor": cursor}),
        )
    except (service.RuleError, StoreError) as exc:
        error = exc.message
    return render(
        request,
        "rules.html",
        nav="rules",
        page=page,
        error=error,
        filters=given,
        next_url=url_with("/rules", given, cursor=page.next_cursor) if page and page.next_cursor else None,
        principal=principal,
        status_code=503 if error else 200,
        **_labels(),
    )


def _detail_page(
    request: Request, rule_id: str, principal: Reader, *, error: str | None = None, status: int = 200
) -> HTMLResponse:
    ctx = app_context(request)
    rule: RuleDetail | None = None
    try:
        rule = service.get_rule(
            engine=service.engine_of(ctx),
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            rule_id=rule_id,
            correlation_stats=ctx.correlation_stats,
        )
    except service.UnknownRule as exc:
        error, status = exc.message, 404
    except (service.RuleError, StoreError) as exc:
        error, status = exc.message, 503
    return render(
        request,
        "rule.html",
        nav="rules",
        rule=rule,
        rule_id=rule_id,
        error=error,
        principal=principal,
        status_code=status,
        **_labels(),
    )


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, rule_id: str, principal: Reader) -> HTMLResponse:
    return _detail_page(request, rule_id, principal)


def _change(request: Request, rule_id: str, enabled: bool, actor: Analyst, reason: str) -> Response:
    try:
        service.change_state(
            app_context(request), rule_id, enabled, actor, client_ip(request), reason.strip() or None
        )
    except service.RuleError as exc:
        status = 409 if isinstance(exc, service.RuleQuarantined) else 404
        return _detail_page(request, rule_id, actor, error=exc.message, status=status)
    except StoreError as exc:
        return _detail_page(request, rule_id, actor, error=exc.message, status=503)
    return see_other(f"/rules/{rule_id}")


@router.post("/rules/{rule_id}/enable")
def enable(
    request: Request, rule_id: str, actor: Analyst, reason: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    return _change(request, rule_id, True, actor, reason)


@router.post("/rules/{rule_id}/disable")
def disable(
    request: Request, rule_id: str, actor: Analyst, reason: Annotated[str, Form(max_length=500)] = ""
) -> Response:
    return _change(request, rule_id, False, actor, reason)
