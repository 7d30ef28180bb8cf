"""Triage service: search the queue, change alerts (recording who, when, from, to), build the detail view.

Changes use optimistic concurrency (the store's version of the alert, `api.versioned`): two analysts
acting on the same alert at the same moment both see their change applied in order, never one lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from api.alerts.errors import Conflict
from api.alerts.models import (
    OPEN_STATUSES,
    AlertDetail,
    AlertSearchParams,
    BulkResult,
    GroupRead,
    GroupTriageResult,
    NewAlerts,
    RuleFrequency,
    TriageEdit,
)
from api.alerts.pivots import around, kql_phrase, pivots
from api.alerts.sla import DEFAULT_POLICY, alert_doc
from api.audit import service as audit
from api.auth.deps import Principal
from api.errors import InvalidChange, InvalidCursor, NotFound
from api.paging import NOT_OURS, check_store_cursor, decode, encode
from api.versioned import change_versioned
from soc_core.alert import Alert, AlertStatus, Comment, Severity, Triage, TriageChange
from soc_core.event import flatten
from soc_core.kql import ALERT_FIELDS, And, parse_for
from soc_core.sla import SlaPolicy
from soc_core.store import (
    AlertGroup,
    AlertSearch,
    AlertStore,
    EventStore,
    FacetBucket,
    Page,
    Store,
    order_members,
)

SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
RELATED_WINDOW = timedelta(hours=1)
RELATED_BY = ("host", "user", "source_ip", "rule")
"""What a related alert shares with the alert: its host, user, source IP (of its event) or rule."""
RELATED_CANDIDATES = 200
"""Alerts read whose text holds the source address, before keeping those whose source it is."""


# -- search -----------------------------------------------------------------------------------------


def search(*, store: AlertStore, params: AlertSearchParams) -> Page[Alert]:
    """One page of the queue. Severity order walks the severities one by one (each by keyset), so the
    cursor is (severity index, the store's cursor) and deep pages stay as cheap as by time."""
    query = params.to_search()
    if params.sort != "severity":
        check_store_cursor(query.cursor)
        return store.search_alert_queue(query)
    wanted = [s.value for s in SEVERITY_ORDER if not query.severity or s.value in query.severity]
    index, inner = _severity_cursor(query.cursor, len(wanted))
    items: list[Alert] = []
    while len(items) < query.size and index < len(wanted):
        part = AlertSearch(**{**_fields(query), "severity": [wanted[index]], "size": query.size - len(items)})
        part.cursor = inner
        page = store.search_alert_queue(part)
        items.extend(page.items)
        if page.cursor:
            inner = page.cursor
        else:
            index, inner = index + 1, None
    total = store.search_alert_queue(AlertSearch(**{**_fields(query), "size": 1, "cursor": None})).total
    more = len(items) == query.size and index < len(wanted)
    return Page(items, total, encode([index, inner]) if more else None)


def search_groups(*, store: AlertStore, params: AlertSearchParams) -> Page[AlertGroup]:
    """One page of the queue collapsed by alert group (newest or oldest first; the cursor is the last
    group's `[time, key]`, the shape of the flat queue's)."""
    query = params.to_search()
    check_store_cursor(query.cursor)
    return store.search_alert_groups(query)


def group_read(group: AlertGroup, doc: Callable[[Alert], dict[str, Any]] = Alert.to_doc) -> GroupRead:
    """`doc`: how each member is answered (the API adds its SLA, `api.alerts.sla.alert_doc`)."""
    return GroupRead(
        group=group.key,
        size=group.size,
        severity=group.lead.severity,
        rules=[{"id": a.rule.id, "name": a.rule.name} for a in group.members],
        alerts=[doc(a) for a in group.members],
    )


def group_members(*, store: AlertStore, alert: Alert) -> list[Alert]:
    """Every alert of `alert`'s group, whatever its status or origin, most severe first."""
    if not alert.group:
        return [alert]
    members: list[Alert] = []
    cursor: str | None = None
    while True:
        page = store.search_alert_queue(AlertSearch(group=alert.group, origin="all", size=500, cursor=cursor))
        members.extend(page.items)
        cursor = page.cursor
        if cursor is None:
            return order_members(members)


def _severity_cursor(cursor: str | None, severities: int) -> tuple[int, str | None]:
    """`[index of the severity, the store's cursor within it or null]`, as `search` hands it out."""
    if not cursor:
        return 0, None
    key = decode(cursor)
    index_ok = len(key) == 2 and type(key[0]) is int and 0 <= key[0] < severities
    if not index_ok or not isinstance(key[1], str | None):
        raise InvalidCursor(NOT_OURS)
    check_store_cursor(key[1])
    return key[0], key[1]


def _fields(query: AlertSearch) -> dict[str, Any]:
    return {name: getattr(query, name) for name in AlertSearch.__slots__}


def facets(
    *, store: AlertStore, params: AlertSearchParams, names: Sequence[str], size: int = 10
) -> dict[str, list[FacetBucket]]:
    query = params.to_search()
    query.cursor = None
    return store.alert_facets(query, names, size)


def get(*, store: AlertStore, alert_id: str) -> Alert:
    alert = store.get_alert(alert_id)
    if alert is None:
        raise NotFound("no such alert", alert_id=alert_id)
    return alert


# -- changes ----------------------------------------------------------------------------------------


def _apply(
    change: TriageEdit, triage: Triage, actor: str, now: datetime
) -> tuple[Triage, list[TriageChange]]:
    """The new triage state and the list of field changes (empty when nothing changes)."""
    new = triage.model_copy(deep=True)
    changes: list[TriageChange] = []

    def record(field: str, old: str | None, value: str | None) -> None:
        changes.append(TriageChange(at=now, actor=actor, field=field, old=old, new=value))

    if change.status is not None and change.status is not triage.status:
        record("status", triage.status.value, change.status.value)
        new.status = change.status
        if change.status is not AlertStatus.NEW and new.acknowledged_at is None:
            new.acknowledged_at = now
        if change.status in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE):
            new.resolved_at = now
        else:
            new.resolved_at = None
    if change.assignee is not None:
        assignee = change.assignee.strip() or None
        if assignee != triage.assignee:
            record("assignee", triage.assignee, assignee)
            new.assignee = assignee
    tags = list(triage.tags)
    for tag in change.add_tags:
        tag = tag.strip()
        if tag and tag not in tags:
            tags.append(tag)
    tags = [t for t in tags if t not in {r.strip() for r in change.remove_tags}]
    if tags != triage.tags:
        record("tags", ", ".join(triage.tags) or None, ", ".join(tags) or None)
        new.tags = tags
    if change.comment and change.comment.strip():
        new.comments.append(
            Comment(id=uuid.uuid4().hex[:12], at=now, author=actor, text=change.comment.strip())
        )
        record("comment", None, change.comment.strip()[:200])
    if changes:
        new.history.extend(changes)
        new.updated_at = now
    return new, changes


def _set_incident(
    incident_id: str | None, triage: Triage, actor: str, now: datetime
) -> tuple[Triage, list[TriageChange]]:
    if triage.incident_id == incident_id:
        return triage, []
    change = TriageChange(at=now, actor=actor, field="incident", old=triage.incident_id, new=incident_id)
    new = triage.model_copy(deep=True, update={"incident_id": incident_id, "updated_at": now})
    new.history.append(change)
    return new, [change]


def _change_triage(
    store: Store,
    alert_id: str,
    mutate: Callable[[Triage, str, datetime], tuple[Triage, list[TriageChange]]],
    *,
    actor: Principal,
    ip: str | None,
) -> Alert:
    """Change the alert's triage under optimistic concurrency (`api.versioned`), audit what changed."""

    def change(alert: Alert, now: datetime) -> tuple[Alert, list[TriageChange]]:
        triage, changes = mutate(alert.triage, actor.username, now)
        return alert.model_copy(update={"triage": triage}), changes

    alert, changes = change_versioned(
        lambda: store.get_alert_versioned(alert_id),
        change,
        lambda alert, version: store.update_alert_triage(alert_id, alert.triage, version=version),
        missing=lambda: NotFound("no such alert", alert_id=alert_id),
        conflict=lambda: Conflict("the alert kept changing; try again", alert_id=alert_id),
    )
    dumped = [c.model_dump(mode="json", exclude={"at", "actor"}) for c in changes]
    audit.record_changes(
        store=store,
        actor=actor.username,
        ip=ip,
        action="alert.update",
        target=("alert", alert_id),
        changes=dumped,
    )
    return alert


def update(
    *, store: Store, alert_id: str, change: TriageEdit, actor: Principal, ip: str | None = None
) -> Alert:
    return _change_triage(store, alert_id, partial(_apply, change), actor=actor, ip=ip)


def bulk_update(
    *, store: Store, ids: Sequence[str], change: TriageEdit, actor: Principal, ip: str | None = None
) -> BulkResult:
    """Each alert is changed on its own (and audited on its own); one failure does not stop the rest."""
    if not ids:
        raise InvalidChange("no alerts selected")
    updated: list[str] = []
    failed: dict[str, str] = {}
    for alert_id in dict.fromkeys(ids):
        try:
            update(store=store, alert_id=alert_id, change=change, actor=actor, ip=ip)
            updated.append(alert_id)
        except (NotFound, Conflict) as exc:
            failed[alert_id] = exc.message
    return BulkResult(updated=updated, failed=failed)


def update_group(
    *, store: Store, alert_id: str, change: TriageEdit, actor: Principal, ip: str | None = None
) -> GroupTriageResult:
    """Triage a whole group: the same change on every member, each changed and audited on its own.

    What closing a group means: every member alert is closed with that status (resolved or false
    positive), so the group leaves the open queue. The members stay separate alerts: each keeps its
    own history and repeats, and a member raised later on the same evidence (another rule matching
    those events, after it was enabled and the events replayed) arrives new and brings the group back
    to the open queue until it is closed too.
    """
    alert = get(store=store, alert_id=alert_id)
    ids = [a.id for a in group_members(store=store, alert=alert)]
    result = bulk_update(store=store, ids=ids, change=change, actor=actor, ip=ip)
    return GroupTriageResult(group=alert.group or alert.id, updated=result.updated, failed=result.failed)


def link_incident(
    *, store: Store, alert_id: str, incident_id: str | None, actor: Principal, ip: str | None = None
) -> Alert:
    """Record that the alert now belongs to an incident (or to none), on the alert's own history."""
    return _change_triage(store, alert_id, partial(_set_incident, incident_id), actor=actor, ip=ip)


# -- detail -----------------------------------------------------------------------------------------


def rule_frequency(
    *, store: AlertStore, rule_id: str, unit_id: str | None, now: datetime | None = None
) -> RuleFrequency:
    now = now or datetime.now(UTC)

    def count(days: int | None) -> int:
        start = now - timedelta(days=days) if days else None
        return store.search_alert_queue(
            AlertSearch(rule_id=rule_id, unit_id=unit_id, start=start, size=1)
        ).total

    return RuleFrequency(last_24h=count(1), last_7d=count(7), last_30d=count(30), total=count(None))


def related(*, store: AlertStore, alert: Alert, limit: int = 20) -> list[tuple[Alert, list[str]]]:
    """Alerts on the same host, by the same user, from the same source IP or of the same rule within
    an hour either side, newest first, each with what it shares (`RELATED_BY`), at most `limit` per
    kind. Alerts keep their event whole but index no `source.ip`: those from the same source are
    found by the address as a phrase in their text, then kept only when their event's `source.ip`
    is that address (an address merely mentioned elsewhere is not a source)."""
    found: dict[str, Alert] = {}
    reasons: dict[str, list[str]] = {}
    start, end = around(alert, RELATED_WINDOW)
    source_ip = event_value(alert.event, "source.ip")
    searches: list[tuple[str, AlertSearch, Callable[[Alert], bool]]] = []
    if alert.host_name:
        searches.append(("host", AlertSearch(host_name=alert.host_name), lambda a: True))
    if alert.user_name:
        searches.append(("user", AlertSearch(user_name=alert.user_name), lambda a: True))
    if source_ip:
        phrase = AlertSearch(kql=parse_for(kql_phrase(source_ip), ALERT_FIELDS))
        searches.append(("source_ip", phrase, lambda a: event_value(a.event, "source.ip") == source_ip))
    searches.append(("rule", AlertSearch(rule_id=alert.rule.id), lambda a: True))
    for reason, search, keep in searches:
        search.origin, search.start, search.end = "all", start, end
        search.size = limit + 1 if reason != "source_ip" else RELATED_CANDIDATES
        kept = 0
        for other in store.search_alert_queue(search).items:
            if other.id == alert.id or not keep(other) or kept == limit:
                continue
            kept += 1
            found.setdefault(other.id, other)
            reasons.setdefault(other.id, []).append(reason)
    ordered = sorted(found.values(), key=lambda a: a.timestamp, reverse=True)
    return [(a, reasons[a.id]) for a in ordered]


def event_value(event: dict[str, Any], field: str) -> str | None:
    """One field of an event document (nested or dotted), as text; None when absent or a list."""
    value = flatten(event).get(field)
    return str(value) if isinstance(value, str | int | float) and str(value).strip() else None


def status_counts(*, store: AlertStore, params: AlertSearchParams) -> dict[str, int]:
    """The queue's tabs: how many alerts each status holds under every filter but the status, with
    `open` (new, acknowledged, in progress) and `all`."""
    query = params.to_search()
    query.status, query.cursor = [], None
    buckets = store.alert_facets(query, ["status"], len(AlertStatus))["status"]
    counts = {s.value: 0 for s in AlertStatus} | {b.value: b.count for b in buckets}
    counts["open"] = sum(counts[s.value] for s in OPEN_STATUSES)
    counts["all"] = sum(counts[s.value] for s in AlertStatus)
    return counts


def news(*, store: AlertStore, params: AlertSearchParams, since: datetime, lookback: timedelta) -> NewAlerts:
    """What an open queue polls: alerts matching its filters that were stored after `since` (when the
    page was shown; by storage time, so an alert on a late event counts too) on events of at most
    `lookback` before it, and the tabs' counts. The bound is what keeps a poll cheap where the
    storage time is not indexed (SQLite reads it from each alert's document); alerts on older events
    (a replayed archive) still show in the tab counts."""
    query = params.to_search()
    after = parse_for(f'created_at > "{since.astimezone(UTC).isoformat()}"', ALERT_FIELDS)
    query.kql = And((query.kql, after)) if query.kql is not None else after
    earliest = since - lookback
    query.start = max(query.start, earliest) if query.start else earliest
    query.size, query.cursor = 1, None
    return NewAlerts(
        since=since,
        checked_at=datetime.now(UTC),
        new=store.search_alert_queue(query).total,
        status_counts=status_counts(store=store, params=params),
    )


def _seconds(end: datetime | None, start: datetime) -> float | None:
    return (end - start).total_seconds() if end else None


def event_of(*, store: EventStore, alert: Alert) -> dict[str, Any] | None:
    """The alert's first triggering event as stored, else the copy the alert carries."""
    if alert.event_ids:
        stored = store.get_event(alert.event_ids[0])
        if stored is not None:
            return stored.to_doc()
    return alert.event or None


def detail(*, store: Store, alert_id: str, sla: SlaPolicy = DEFAULT_POLICY) -> AlertDetail:
    """`sla`: the policy the alert documents' `sla_*` fields are computed with."""
    alert = get(store=store, alert_id=alert_id)
    now = datetime.now(UTC)

    def doc(a: Alert) -> dict[str, Any]:
        return alert_doc(a, sla, now)

    event_doc = event_of(store=store, alert=alert)
    fields: list[tuple[str, str]] = []
    original: str | None = None
    near = related(store=store, alert=alert)
    if event_doc:
        flat = flatten(event_doc)
        original_value = flat.pop("event.original", None)
        original = str(original_value) if original_value is not None else None
        fields = sorted((k, v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in flat.items())
    return AlertDetail(
        alert=doc(alert),
        event=event_doc,
        event_fields=fields,
        original=original,
        related=[doc(a) for a, _ in near],
        related_by={a.id: why for a, why in near},
        pivots=pivots(alert, event_doc or {}),
        siblings=[doc(a) for a in group_members(store=store, alert=alert) if a.id != alert.id],
        visit_id=alert.visit_id,
        rule_frequency=rule_frequency(store=store, rule_id=alert.rule.id, unit_id=alert.soc.unit.id),
        # from when the alert was raised, as the SLA, the early warning's link and the dossier count
        # (an event replayed from last month is not a month-long wait)
        time_to_acknowledge_s=_seconds(alert.triage.acknowledged_at, alert.created_at),
        time_to_resolve_s=_seconds(alert.triage.resolved_at, alert.created_at),
    )
