"""Ad-hoc inspection candidates: units whose recent alerts show "signs of violation or risk".

The plans order an ad-hoc inspection "khi có dấu hiệu vi phạm hoặc nguy cơ mất an toàn" (Bắc Giang
2023-2024, II.2.b). We read that as two thresholds over a recent window: high or critical alerts,
and hits on the inspection checklist (VN-01..VN-12). False positives do not count, and neither do
the product's own bookkeeping alerts (silent log sources, deadline reminders), which say nothing
about what happens on the unit's machines. The counts come from the store's facets, so the whole
province is one query per threshold, not a scan of every alert.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.auth.deps import Principal
from api.coverage.jobs import SILENT_RULE
from api.i18n import translations
from api.inspections.jobs import REMINDER_RULE
from api.inspections.labels import CHECKLIST_CODES
from api.inspections.models import Suggestion, vn_today
from api.inspections.service import unit_names, visible_unit_ids
from api.paging import Key
from soc_core.alert import AlertStatus
from soc_core.inspections import InspectionRepository
from soc_core.store import AlertSearch, AlertStore, Store

INTERNAL_RULES = (SILENT_RULE.id, REMINDER_RULE.id)
COUNTED_STATUSES = [s.value for s in AlertStatus if s is not AlertStatus.FALSE_POSITIVE]
MAX_UNITS = 10_000


def _per_unit(store: AlertStore, query: AlertSearch) -> dict[str, int]:
    buckets = store.alert_facets(query, ["unit"], size=MAX_UNITS)["unit"]
    return {b.value: b.count for b in buckets}


def suggest_adhoc(
    *,
    store: Store,
    repo: InspectionRepository,
    principal: Principal,
    now: datetime | None = None,
    days: int = 7,
    high_threshold: int = 5,
    checklist_threshold: int = 3,
) -> list[Suggestion]:
    """Units at or over either threshold in the last `days`, most alarming first, with the reasons."""
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    high_query = AlertSearch(start=start, end=end, severity=["high", "critical"], status=COUNTED_STATUSES)
    high = _per_unit(store, high_query)
    for rule_id in INTERNAL_RULES:
        high_query.rule_id = rule_id
        for unit_id, count in _per_unit(store, high_query).items():
            high[unit_id] = high.get(unit_id, 0) - count
    checklist: dict[str, dict[str, int]] = {}
    for code in CHECKLIST_CODES:
        hits = _per_unit(store, AlertSearch(start=start, end=end, checklist=code, status=COUNTED_STATUSES))
        for unit_id, count in hits.items():
            checklist.setdefault(unit_id, {})[code] = count
    names = unit_names(store.load_registry())
    visible = visible_unit_ids(repo=repo, principal=principal)
    today = vn_today(end)
    upcoming: dict[str, datetime] = {}
    for plan in repo.list_plans():
        for entry in plan.units:
            if entry.visit_date >= today:
                current = upcoming.get(entry.unit_id)
                when = datetime.combine(entry.visit_date, datetime.min.time())
                if current is None or when < current:
                    upcoming[entry.unit_id] = when
    out: list[Suggestion] = []
    for unit_id in sorted(set(high) | set(checklist)):
        if not unit_id or (visible is not None and unit_id not in visible):
            continue
        n_high = max(0, high.get(unit_id, 0))
        codes = checklist.get(unit_id, {})
        n_checklist = sum(codes.values())
        reasons: dict[str, list[str]] = {"vi": [], "en": []}
        for lang, found in reasons.items():
            t = translations(lang)
            if n_high >= high_threshold:
                found.append(
                    t.ngettext(
                        "%(num)d high/critical alert in %(days)d days (threshold %(threshold)d)",
                        "%(num)d high/critical alerts in %(days)d days (threshold %(threshold)d)",
                        n_high,
                    )
                    % {"num": n_high, "days": days, "threshold": high_threshold}
                )
            if n_checklist >= checklist_threshold:
                detail = ", ".join(f"{c} ×{n}" for c, n in sorted(codes.items()))
                found.append(
                    t.ngettext(
                        "%(num)d checklist hit in %(days)d days (%(detail)s; threshold %(threshold)d)",
                        "%(num)d checklist hits in %(days)d days (%(detail)s; threshold %(threshold)d)",
                        n_checklist,
                    )
                    % {"num": n_checklist, "days": days, "detail": detail, "threshold": checklist_threshold}
                )
        if not reasons["vi"]:
            continue
        planned = upcoming.get(unit_id)
        out.append(
            Suggestion(
                unit_id=unit_id,
                unit_name=names.get(unit_id, unit_id),
                window_start=start,
                window_end=end,
                high_alerts=n_high,
                checklist_hits=dict(sorted(codes.items())),
                reasons=reasons["vi"],
                reasons_en=reasons["en"],
                planned_visit=planned.date() if planned else None,
            )
        )
    return sorted(out, key=suggestion_order)


def suggestion_order(s: Suggestion) -> Key:
    """Most high-severity alerts first, then most checklist hits (one suggestion per unit)."""
    return (-s.high_alerts, -sum(s.checklist_hits.values()), s.unit_id)
