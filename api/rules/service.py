"""Rules: list and inspect the loaded Sigma rules, enable or disable them everywhere, test an event.

Correlation rules (`DetectionEngine.correlations`) are listed beside the detection rules
(`kind`), with their definition and the rules they read; they are enabled and disabled through
the same shared state, by id: every correlation engine (embedded, the correlate workers, evidence
uploads) reads the ids its process's detection engine holds (`DetectionEngine.disabled`) between
batches. Their per-correlation engine statistics come from `AppContext.correlation_stats` where the
process runs one.

The engine is the context's (`AppContext.detect_engine`): the running one in embedded mode or, in
distributed mode, the API's own (built like the detect workers'), used only to list and to test.
The rule state (`detections.state`) is the source of truth for enable/disable: a change is written
there first, where every detect process polls it, then applied to this process's engine so the
answer already shows it. Reads apply the stored state too, so any API replica shows what the
detectors run.

Typed errors (routes map them): UnknownRule 404, RuleQuarantined 409, InvalidTestEvent,
InvalidRange and MissingReason 422, RulesUnavailable 503; a state store that cannot be read
raises `StoreError` (503).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from api.audit import service as audit
from api.auth.deps import Principal
from api.context import AppContext
from api.paging import ItemPage, Key, page_of
from api.rules.models import (
    Activation,
    CorrelationEngineRead,
    CorrelationRead,
    HistogramBucketRead,
    QuarantinedRead,
    RuleDetail,
    RuleHistogram,
    RuleListParams,
    RuleRef,
    RuleSummary,
    RuleTestHit,
    RuleTestRequest,
    RuleTestResult,
    RuleTiming,
    StateChangeRead,
    StateChangeResult,
)
from detections.correlation.engine import CorrelationStats
from detections.correlation.model import Correlation
from detections.engine import DetectionEngine, RuleStats
from detections.loader import QuarantinedRule, RuleInfo
from detections.tags import checklist_codes, threats
from soc_core.alert import Severity
from soc_core.errors import DetectionError, SocError
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from soc_core.rule_state import RuleState, RuleStateStore
from soc_core.store import AlertSearch, AlertStore, AuditQuery, AuditStore, Store

log = logging.getLogger(__name__)

#: How `detections.correlation.resolve` starts the reason of a correlation it quarantines.
CORRELATION_REASON = "correlation: "
StatsOf = Callable[[], Mapping[str, CorrelationStats]]
LEVEL_RANK = {"critical": 5, "high": 4, "medium": 3, "low": 2, "informational": 1}
TEST_SOURCE = "api:rule-test"
FACET_RULES = 10_000
"""Rules a per-rule count asks the store for: more than any rule set loads (SigmaHQ: about 3,750)."""
MAX_HISTOGRAM_DAYS = 366
CHANGE_ACTIONS = frozenset({"rule.enable", "rule.disable"})
CHANGES_SHOWN = 20
"""The newest changes a rule's detail carries; the audit log (`/api/v1/audit`) keeps them all."""


class RuleError(SocError):
    pass


class UnknownRule(RuleError):
    pass


class RuleQuarantined(RuleError):
    pass


class InvalidTestEvent(RuleError):
    pass


class RulesUnavailable(RuleError):
    pass


class InvalidRange(RuleError):
    pass


class MissingReason(RuleError):
    pass


# ---------------------------------------------------------------- wiring


def engine_of(ctx: AppContext) -> DetectionEngine:
    engine = ctx.detect_engine
    if engine is None:
        raise RulesUnavailable("this process has no detection engine")
    if ctx.rule_watcher is not None:
        ctx.rule_watcher.tick()  # rate-limited inside; picks up changed rule files in an API-only process
    return engine


def state_store_of(ctx: AppContext) -> RuleStateStore:
    """The mode's shared rule state, from the process's persistence backend."""
    return ctx.backend.rule_state


# ---------------------------------------------------------------- reading


def activation(info: RuleInfo) -> Activation:
    if not info.enabled:
        return Activation.DISABLED
    if info.dormant:
        return Activation.DORMANT
    return Activation.ENABLED


def _sync(engine: DetectionEngine, state_store: RuleStateStore) -> RuleState:
    state = state_store.load()
    engine.apply_state(state.disabled)
    return state


def _alert_counts(store: AlertStore, now: datetime, rule_id: str | None = None) -> tuple[dict[str, int], ...]:
    """Alerts per rule in the last 24 hours and 7 days, from the store (every process's alerts)."""
    out: list[dict[str, int]] = []
    for window in (timedelta(hours=24), timedelta(days=7)):
        query = AlertSearch(start=now - window, rule_id=rule_id)
        buckets = store.alert_facets(query, ["rule"], size=1 if rule_id else FACET_RULES).get("rule", [])
        out.append({b.value: b.count for b in buckets})
    return tuple(out)


DAY_S = 86_400
VN_DAY_OFFSET_S = -7 * 3600
"""Day buckets start at midnight in Asia/Ho_Chi_Minh (UTC+7, no daylight saving): 17:00 UTC."""


def day_start(at: datetime) -> datetime:
    """The start (as UTC) of the Asia/Ho_Chi_Minh day holding `at`: the store's day buckets."""
    unix = int(at.timestamp())
    return datetime.fromtimestamp(unix - (unix - VN_DAY_OFFSET_S) % DAY_S, UTC)


def last_days(now: datetime, days: int) -> list[datetime]:
    """The starts of the last `days` local days, today (still running) last."""
    today = day_start(now)
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


@dataclass(frozen=True, slots=True)
class AlertWindows:
    """Every rule's alerts in the listing's windows: the last 24 hours, the last 7 days, and per local
    day over the last `len(days)` days (today last, still running)."""

    days: list[datetime]
    daily: dict[str, list[int]]
    last_24h: dict[str, int]
    last_7d: dict[str, int]

    @property
    def counts(self) -> tuple[dict[str, int], ...]:
        """As `list_rules` takes them (`_alert_counts`' shape)."""
        return self.last_24h, self.last_7d


def alert_windows(store: AlertStore, now: datetime, days: int) -> AlertWindows:
    """`AlertWindows` for every rule at once, in `days` + 2 store queries whatever the number of rules.

    One rule facet per local day; the rolling 24 hours and 7 days are today plus the whole days
    before it plus one facet over the part of the oldest day they reach into, so each alert of the
    week is read about once rather than once per window. Today's facet has no end, like the
    rolling windows (an alert stamped a little in the future still counts)."""
    if days < 7:
        raise InvalidRange("the listing's windows need at least 7 days", days=days)
    starts = last_days(now, days)
    today = starts[-1]

    def facet(start: datetime, end: datetime | None) -> dict[str, int]:
        query = AlertSearch(start=start, end=end)
        return {
            b.value: b.count for b in store.alert_facets(query, ["rule"], size=FACET_RULES).get("rule", [])
        }

    daily: dict[str, list[int]] = {}
    for i, start in enumerate(starts):
        end = start + timedelta(days=1) if start != today else None
        for rule_id, n in facet(start, end).items():
            daily.setdefault(rule_id, [0] * days)[i] = n
    day_24h = facet(now - timedelta(hours=24), today)  # the end of yesterday inside the last 24 hours
    day_7d = facet(now - timedelta(days=7), today - timedelta(days=6))  # ... of the day 7 days ago
    last_24h = {r: counts[-1] for r, counts in daily.items() if counts[-1]}
    for r, n in day_24h.items():
        last_24h[r] = last_24h.get(r, 0) + n
    last_7d = {r: sum(counts[-7:]) for r, counts in daily.items() if any(counts[-7:])}
    for r, n in day_7d.items():
        last_7d[r] = last_7d.get(r, 0) + n
    return AlertWindows(starts, daily, last_24h, last_7d)


def rule_histogram(
    *, engine: DetectionEngine, store: AlertStore, rule_id: str, days: int, now: datetime | None = None
) -> RuleHistogram:
    """One rule's alerts per local day over the last `days` days, days without alerts as zeros
    (quarantined rules included: their alerts from before the quarantine stay in the store)."""
    if not 1 <= days <= MAX_HISTOGRAM_DAYS:
        raise InvalidRange(f"days must be between 1 and {MAX_HISTOGRAM_DAYS}", days=days)
    if not _known(engine, rule_id):
        raise UnknownRule("no such rule", rule_id=rule_id)
    now = now or datetime.now(UTC)
    starts = last_days(now, days)
    query = AlertSearch(rule_id=rule_id, start=starts[0], end=now)
    got = {b.start: b.count for b in store.alert_histogram(query, DAY_S, VN_DAY_OFFSET_S)}
    return RuleHistogram(
        rule_id=rule_id,
        interval_s=DAY_S,
        offset_s=VN_DAY_OFFSET_S,
        buckets=[HistogramBucketRead(start=s, count=got.get(s, 0)) for s in starts],
    )


def history(store: AuditStore, rule_id: str, size: int = CHANGES_SHOWN) -> list[StateChangeRead]:
    """The rule's enables and disables from the audit log, newest first: who, when, why."""
    page = store.search_audit(AuditQuery(target_id=rule_id, size=size))
    return [
        StateChangeRead(
            enabled=e.action == "rule.enable",
            changed_at=e.at,
            changed_by=e.actor,
            reason=e.details.get("reason"),
        )
        for e in page.items
        if e.target_type == "rule" and e.action in CHANGE_ACTIONS
    ]


def _last_change(state: RuleState, rule_id: str) -> StateChangeRead | None:
    override = state.rules.get(rule_id)
    if override is None:
        return None
    return StateChangeRead(
        enabled=override.enabled,
        changed_at=override.changed_at,
        changed_by=override.changed_by,
        reason=override.reason,
    )


def _summary(
    info: RuleInfo, state: RuleState, counts: tuple[dict[str, int], ...] = ({}, {}), *, attack: bool = True
) -> dict[str, Any]:
    return {
        "id": info.id,
        "title": info.title,
        "state": activation(info),
        "level": info.level,
        "status": info.status,
        "author": info.author,
        "ruleset": info.ruleset,
        "logsource": dict(info.logsource),
        **_tagged(info.id, info.tags, state, counts, attack=attack),
    }


def _tagged(
    rule_id: str,
    tags: Sequence[str],
    state: RuleState,
    counts: tuple[dict[str, int], ...],
    *,
    attack: bool = True,
) -> dict[str, Any]:
    """What rules and correlations show alike: tags (ATT&CK, checklist), alert counts, last change.
    Without `attack` the ATT&CK entries are left for later (`list_rules` fills them in for its page
    only: resolving them for thousands of rules was most of the listing's time)."""
    return {
        "tags": list(tags),
        "attack": threats(tags) if attack else [],
        "checklist": checklist_codes(tags),
        "alerts_24h": counts[0].get(rule_id, 0),
        "alerts_7d": counts[1].get(rule_id, 0),
        "last_change": _last_change(state, rule_id),
    }


def _ref(engine: DetectionEngine, by_id: Mapping[str, Correlation], ref: str, rule_id: str) -> RuleRef:
    inner = by_id.get(rule_id)
    if inner is not None:
        return RuleRef(ref=ref, id=rule_id, title=inner.title, kind="correlation")
    try:
        title = engine.rule(rule_id).title
    except DetectionError:  # resolved against this rule set: only a reload in between gets here
        title = rule_id
    return RuleRef(ref=ref, id=rule_id, title=title, kind="detection")


def _definition(c: Correlation, engine: DetectionEngine, by_id: Mapping[str, Correlation]) -> CorrelationRead:
    return CorrelationRead(
        type=c.type.value,
        rules=[_ref(engine, by_id, s.ref, s.rule_id) for s in c.sources],
        group_by=list(c.group_by),
        timespan_s=c.timespan_s,
        condition=dict(c.condition.bounds),
        field=c.value_field,
        percentile=c.percentile,
        expression=c.expression_text,
        generate=c.generate,
    )


def _correlation_summary(
    c: Correlation,
    engine: DetectionEngine,
    by_id: Mapping[str, Correlation],
    state: RuleState,
    counts: tuple[dict[str, int], ...] = ({}, {}),
    *,
    attack: bool = True,
) -> dict[str, Any]:
    """A correlation rule as the listing shows rules; it runs unless the shared state disabled it."""
    return {
        "id": c.id,
        "title": c.title,
        "kind": "correlation",
        "state": Activation.DISABLED if c.id in engine.disabled else Activation.ENABLED,
        "level": c.level,
        "author": c.author,
        "ruleset": c.ruleset,
        **_tagged(c.id, c.tags, state, counts, attack=attack),
        "correlation": _definition(c, engine, by_id),
    }


def _quarantined_summary(q: QuarantinedRule, state: RuleState) -> dict[str, Any]:
    assert q.rule_id is not None
    return {
        "id": q.rule_id,
        "title": q.title or Path(q.path).name,
        "kind": "correlation" if q.reason.startswith(CORRELATION_REASON) else "detection",
        "state": Activation.QUARANTINED,
        "ruleset": Path(q.path).parent.name,
        "last_change": _last_change(state, q.rule_id),
    }


def _haystack(row: RuleSummary, description: str | None) -> str:
    parts: list[str] = [row.id, row.title, row.author or "", *row.tags]
    if description:
        parts.append(description)
    return "\n".join(parts).casefold()


def _wanted(row: RuleSummary, description: str | None, params: RuleListParams) -> bool:
    if params.kind and row.kind != params.kind:
        return False
    if params.level and row.level != params.level:
        return False
    if params.state and row.state is not params.state:
        return False
    if params.checklist and params.checklist.strip().upper() not in row.checklist:
        return False
    if params.ruleset and row.ruleset != params.ruleset:
        return False
    return not (params.q and params.q.strip().casefold() not in _haystack(row, description))


def _sort_key(params: RuleListParams) -> Callable[[RuleSummary], Key]:
    """The listing's order, ending in the rule id so that it is total (a paging key)."""
    if params.sort == "level":
        return lambda r: (-LEVEL_RANK.get(r.level or "", 0), r.title.casefold(), r.id)
    if params.sort == "alerts":
        return lambda r: (-r.alerts_7d, -r.alerts_24h, r.title.casefold(), r.id)
    return lambda r: (r.title.casefold(), r.id)


def _quarantined_with_ids(engine: DetectionEngine) -> Iterable[QuarantinedRule]:
    """Quarantined entries that have an id no loaded rule uses (a duplicate id is the loaded one)."""
    loaded = {info.id for info in engine.rules} | engine.correlations.by_id().keys()
    seen: set[str] = set()
    for q in engine.quarantined:
        if q.rule_id is not None and q.rule_id not in loaded and q.rule_id not in seen:
            seen.add(q.rule_id)
            yield q


def list_rules(
    *,
    engine: DetectionEngine,
    state_store: RuleStateStore,
    store: Store,
    params: RuleListParams,
    now: datetime | None = None,
    counts: tuple[dict[str, int], ...] | None = None,
) -> ItemPage[RuleSummary]:
    """`counts`: the alerts per rule in the last 24 hours and 7 days when the caller has them already
    (the console, from `alert_windows`); else two rule facets ask the store."""
    state = _sync(engine, state_store)
    counts = counts if counts is not None else _alert_counts(store, now or datetime.now(UTC))
    rows: list[tuple[RuleSummary, str | None]] = [
        (RuleSummary.model_validate(_summary(info, state, counts, attack=False)), info.description)
        for info in engine.rules
    ]
    by_id = engine.correlations.by_id()
    rows += [
        (
            RuleSummary.model_validate(_correlation_summary(c, engine, by_id, state, counts, attack=False)),
            c.description,
        )
        for c in by_id.values()
    ]
    rows += [
        (RuleSummary.model_validate(_quarantined_summary(q, state)), None)
        for q in _quarantined_with_ids(engine)
    ]
    selected = (row for row, description in rows if _wanted(row, description, params))
    page = page_of(selected, key=_sort_key(params), size=params.size, cursor=params.cursor)
    for row in page.items:
        row.attack = threats(row.tags)
    return page


def _timing(stats: RuleStats | None) -> RuleTiming | None:
    if stats is None:
        return None
    mean = stats.seconds / stats.evaluations * 1e6 if stats.evaluations else None
    return RuleTiming(
        evaluations=stats.evaluations,
        matches=stats.matches,
        errors=stats.errors,
        seconds=stats.seconds,
        mean_microseconds=mean,
        last_error=stats.last_error,
    )


def _find_quarantined(engine: DetectionEngine, rule_id: str) -> QuarantinedRule | None:
    return next((q for q in _quarantined_with_ids(engine) if q.rule_id == rule_id), None)


def _known(engine: DetectionEngine, rule_id: str) -> bool:
    """A loaded rule, a correlation, or a quarantined rule with an id."""
    if rule_id in engine.correlations.by_id():
        return True
    try:
        engine.rule(rule_id)
    except DetectionError:
        return _find_quarantined(engine, rule_id) is not None
    return True


def get_rule(
    *,
    engine: DetectionEngine,
    state_store: RuleStateStore,
    store: Store,
    rule_id: str,
    correlation_stats: StatsOf | None = None,
    now: datetime | None = None,
) -> RuleDetail:
    state = _sync(engine, state_store)
    by_id = engine.correlations.by_id()
    used_by = [_ref(engine, by_id, c.id, c.id) for c in engine.correlations.readers.get(rule_id, ())]
    correlation = by_id.get(rule_id)
    if correlation is not None:
        counts = _alert_counts(store, now or datetime.now(UTC), rule_id=rule_id)
        held = correlation_stats().get(rule_id) if correlation_stats is not None else None
        return RuleDetail.model_validate(
            {
                **_correlation_summary(correlation, engine, by_id, state, counts),
                "description": correlation.description,
                "references": list(correlation.references),
                "path": correlation.path,
                "correlation_engine": _correlation_engine(held),
                "used_by": used_by,
                "changes": history(store, rule_id),
            }
        )
    try:
        info = engine.rule(rule_id)
    except DetectionError:
        q = _find_quarantined(engine, rule_id)
        if q is None:
            raise UnknownRule("no such rule", rule_id=rule_id) from None
        return RuleDetail.model_validate(
            {
                **_quarantined_summary(q, state),
                "path": q.path,
                "quarantine_reason": q.reason,
                "changes": history(store, rule_id),
            }
        )
    counts = _alert_counts(store, now or datetime.now(UTC), rule_id=rule_id)
    stats = next((s for s in engine.stats() if s.rule_id == rule_id), None)
    return RuleDetail.model_validate(
        {
            **_summary(info, state, counts),
            "description": info.description,
            "references": list(info.references),
            "falsepositives": list(info.falsepositives),
            "path": info.path,
            "dormant_reason": info.dormant,
            "engine": _timing(stats),
            "used_by": used_by,
            "changes": history(store, rule_id),
        }
    )


def _correlation_engine(stats: CorrelationStats | None) -> CorrelationEngineRead | None:
    return None if stats is None else CorrelationEngineRead.model_validate(stats, from_attributes=True)


def quarantined(*, engine: DetectionEngine) -> list[QuarantinedRead]:
    """Each quarantined rule once: pySigma reports a bad rule both for its file (no id) and for itself."""
    named = {(q.path, q.reason) for q in engine.quarantined if q.rule_id is not None}
    return [
        QuarantinedRead(path=q.path, rule_id=q.rule_id, title=q.title, reason=q.reason)
        for q in engine.quarantined
        if q.rule_id is not None or (q.path, q.reason) not in named
    ]


# ---------------------------------------------------------------- changing


def set_enabled(
    *,
    engine: DetectionEngine,
    state_store: RuleStateStore,
    store: Store,
    rule_id: str,
    enabled: bool,
    actor: Principal,
    ip: str | None = None,
    reason: str,
) -> StateChangeResult:
    """Write the change to the shared state (every detector follows within its poll), then audit it.
    The reason is required: the audit entry and the rule's page say why."""
    reason = reason.strip()
    if not reason:
        raise MissingReason("say why the rule is enabled or disabled", rule_id=rule_id)
    title, summary = _changeable(engine, rule_id)
    current = state_store.load()
    was_enabled = rule_id not in current.disabled
    if was_enabled == enabled:
        engine.apply_state(current.disabled)
        return StateChangeResult(rule=RuleSummary.model_validate(summary(current)), changed=False)
    state = state_store.set_enabled(rule_id, enabled, actor=actor.username, reason=reason)
    engine.apply_state(state.disabled)
    audit.record(
        store=store,
        actor=actor.username,
        action="rule.enable" if enabled else "rule.disable",
        target_type="rule",
        target_id=rule_id,
        ip=ip,
        details={"title": title, "reason": reason, "state_version": state.version},
    )
    log.info("rule %s rule_id=%s by=%s", "enabled" if enabled else "disabled", rule_id, actor.username)
    return StateChangeResult(rule=RuleSummary.model_validate(summary(state)), changed=True)


def change_state(
    ctx: AppContext, rule_id: str, enabled: bool, actor: Principal, ip: str | None, reason: str
) -> StateChangeResult:
    """`set_enabled` with the context's engine, shared state and store (the API and the console)."""
    return set_enabled(
        engine=engine_of(ctx),
        state_store=state_store_of(ctx),
        store=ctx.store,
        rule_id=rule_id,
        enabled=enabled,
        actor=actor,
        ip=ip,
        reason=reason,
    )


def _changeable(engine: DetectionEngine, rule_id: str) -> tuple[str, Callable[[RuleState], dict[str, Any]]]:
    """The title of a loaded rule or correlation, and how to summarise it under a state."""
    by_id = engine.correlations.by_id()
    correlation = by_id.get(rule_id)
    if correlation is not None:
        return correlation.title, lambda st: _correlation_summary(correlation, engine, by_id, st)
    try:
        info = engine.rule(rule_id)
    except DetectionError:
        if _find_quarantined(engine, rule_id) is not None:
            raise RuleQuarantined(
                "a quarantined rule does not run; fix its YAML first", rule_id=rule_id
            ) from None
        raise UnknownRule("no such rule", rule_id=rule_id) from None
    return info.title, lambda st: _summary(info, st)


# ---------------------------------------------------------------- testing


def _unflatten(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys (`winlog.event_data.Image`, as the pack's sample files) into nested ECS objects."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        parts = [key] if key.startswith("@") else key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidTestEvent(f"field {key!r} conflicts with a value at {part!r}")
            node = child
        leaf = parts[-1]
        if isinstance(value, Mapping):
            existing = node.setdefault(leaf, {})
            if not isinstance(existing, dict):
                raise InvalidTestEvent(f"field {key!r} is both a value and an object")
            existing.update(_unflatten(value))
        elif leaf in node and isinstance(node[leaf], dict):
            raise InvalidTestEvent(f"field {key!r} is both a value and an object")
        else:
            node[leaf] = value
    return out


def _record(body: RuleTestRequest) -> RawRecord:
    if body.event is not None:
        doc = _unflatten(body.event)
        doc.setdefault("@timestamp", datetime.now(UTC).isoformat())
        try:
            payload = orjson.dumps(doc).decode()
        except orjson.JSONEncodeError as exc:  # an integer beyond 64 bits, a lone surrogate, deep nesting
            raise InvalidTestEvent(f"the event is not one the pipeline could carry: {exc}") from exc
        fmt: str | None = "ecs"
    else:
        assert body.raw is not None
        payload, fmt = body.raw, body.format
    return RawRecord(id=record_id(TEST_SOURCE, payload), source_id=TEST_SOURCE, format=fmt, payload=payload)


def explain_event(*, engine: DetectionEngine, body: RuleTestRequest) -> RuleTestResult:
    """Normalize the event the way the pipeline does, then explain every rule it reaches."""
    from normalizers.stage import NormalizeStage

    result = NormalizeStage()(_record(body))
    if not isinstance(result, Event):
        raise InvalidTestEvent(f"the event does not normalize: {result.reason}", format=result.format_tried)
    flat = result.flat()
    explanation = engine.explain(flat, include_unmatched=body.include_unmatched)
    hits = [
        RuleTestHit(
            rule_id=r.rule.id,
            title=r.rule.title,
            level=r.rule.level,
            state=activation(r.rule),
            matched=r.matched,
            selections=dict(r.selections),
            error=r.error,
            filtered_by=list(r.filtered_by),
        )
        for r in explanation.results
    ]
    hits.sort(key=lambda h: (-Severity.from_sigma_level(h.level).rank, h.title.casefold()))
    return RuleTestResult(
        format=result.soc.source.format or "",
        dispatched=explanation.dispatched,
        matched=[h for h in hits if h.matched],
        partial=[h for h in hits if not h.matched],
        event=flat,
    )
