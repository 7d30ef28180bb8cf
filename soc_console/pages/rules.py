"""Rules: the detection and correlation rules with their state, alerts per day and quarantine
reasons, filters, one rule's page (its alerts per day as a chart, a correlation's definition with
the rules it reads, linked; what reads a rule; the engine's numbers here; who enabled or disabled it,
when and why), and enabling or disabling a rule or correlation for every process, with a reason.

The pages call the rules API's service (`api.rules.service`), so they show what the API answers.
The listing's counts and sparklines come from one rule facet per day plus two for the rolling
windows' oldest part (`service.alert_windows`: a constant number of store queries for thousands of
rules); the per-rule histogram is asked for only on the rule's own page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from api.i18n import N_
from api.rules import service
from api.rules.models import QuarantinedRead, RuleDetail, RuleListParams, StateChange
from api.rules.routes import STATUS
from soc_console.bars import VN, BarChart, bar_chart, sparkline
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
SPARK_DAYS = 7
"""Days in each row's sparkline (today last)."""
CHART_DAYS = (7, 30, 90)
"""The spans (days) a rule's page offers for its chart."""
DEFAULT_CHART_DAYS = 30
REASON_REQUIRED = N_("Say why: the reason goes to the audit log and onto this page.")
REASON_TOO_LONG = N_("The reason is too long (at most 500 characters).")


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
    sparks: dict[str, BarChart] = {}
    quarantined: list[QuarantinedRead] = []
    try:
        engine = service.engine_of(ctx)
        windows = service.alert_windows(ctx.store, datetime.now(UTC), SPARK_DAYS)
        page = service.list_rules(
            engine=engine,
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            params=params.model_copy(update={"cursor": cursor}),
            counts=windows.counts,
        )
        zeros = [0] * SPARK_DAYS
        sparks = {
            r.id: sparkline(list(zip(windows.days, windows.daily.get(r.id, zeros), strict=True)))
            for r in page.items
        }
        quarantined = service.quarantined(engine=engine)
    except (service.RuleError, StoreError) as exc:
        error = exc.message
    return render(
        request,
        "rules.html",
        nav="rules",
        page=page,
        sparks=sparks,
        quarantined=quarantined,
        error=error,
        filters=given,
        next_url=url_with("/rules", given, cursor=page.next_cursor) if page and page.next_cursor else None,
        principal=principal,
        status_code=503 if error else 200,
        **_labels(),
    )


def _chart_days(request: Request) -> int:
    """The chart's span from `?days=`; anything but an offered span is the default (an edited address
    still shows a page)."""
    given = request.query_params.get("days", "")
    return int(given) if given in {str(d) for d in CHART_DAYS} else DEFAULT_CHART_DAYS


def _queue_of_day(rule_id: str, start: datetime) -> str:
    """The alert queue filtered to the rule and the local day a bar of its chart counts."""
    day = start.astimezone(VN).date().isoformat()
    return url_with("/alerts", {"rule": rule_id, "start": day, "end": day})


def _detail_page(
    request: Request,
    rule_id: str,
    principal: Reader,
    *,
    error: str | None = None,
    form_error: str | None = None,
    reason: str = "",
    status: int = 200,
) -> HTMLResponse:
    ctx = app_context(request)
    rule: RuleDetail | None = None
    chart: BarChart | None = None
    chart_total = 0
    days = _chart_days(request)
    try:
        engine = service.engine_of(ctx)
        rule = service.get_rule(
            engine=engine,
            state_store=service.state_store_of(ctx),
            store=ctx.store,
            rule_id=rule_id,
            correlation_stats=ctx.correlation_stats,
        )
        histogram = service.rule_histogram(engine=engine, store=ctx.store, rule_id=rule_id, days=days)
        chart = bar_chart(
            [(b.start, b.count) for b in histogram.buckets],
            histogram.interval_s,
            lambda start, _end: _queue_of_day(rule_id, start),
        )
        chart_total = sum(b.count for b in histogram.buckets)
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
        chart=chart,
        chart_total=chart_total,
        chart_days=days,
        CHART_DAYS=CHART_DAYS,
        error=error,
        form_error=form_error,
        reason=reason,
        principal=principal,
        status_code=status,
        **_labels(),
    )


@router.get("/rules/{rule_id}", response_class=HTMLResponse)
def rule_page(request: Request, rule_id: str, principal: Reader) -> HTMLResponse:
    return _detail_page(request, rule_id, principal)


def _change(request: Request, rule_id: str, enabled: bool, actor: Analyst, reason: str) -> Response:
    """A blank or too long reason is the page again with the form, what was typed, and why (422)."""
    try:
        why = StateChange(reason=reason).reason
    except ValidationError:
        problem = REASON_TOO_LONG if reason.strip() else REASON_REQUIRED
        return _detail_page(request, rule_id, actor, form_error=problem, reason=reason, status=422)
    try:
        service.change_state(app_context(request), rule_id, enabled, actor, client_ip(request), why)
    except service.RuleError as exc:
        return _detail_page(request, rule_id, actor, error=exc.message, status=STATUS.get(type(exc), 400))
    except StoreError as exc:
        return _detail_page(request, rule_id, actor, error=exc.message, status=503)
    return see_other(f"/rules/{rule_id}")


@router.post("/rules/{rule_id}/enable")
def enable(request: Request, rule_id: str, actor: Analyst, reason: Annotated[str, Form()] = "") -> Response:
    return _change(request, rule_id, True, actor, reason)


@router.post("/rules/{rule_id}/disable")
def disable(request: Request, rule_id: str, actor: Analyst, reason: Annotated[str, Form()] = "") -> Response:
    return _change(request, rule_id, False, actor, reason)
