"""Incident service: create from alerts, change with a recorded history, notes, the merged timeline.

The clocks: `detected_at` is the earliest alert (or the creation); `acknowledged_at` is the first time
someone takes it (an owner is set or the status leaves "new"); `resolved_at` is when it is resolved or
closed (cleared if reopened). Time to acknowledge / resolve are measured from `detected_at`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from api.alerts import service as alerts
from api.alerts.errors import Conflict
from api.alerts.sla import DEFAULT_POLICY, alert_doc
from api.audit import service as audit
from api.auth.deps import Principal
from api.errors import InvalidChange, NotFound
from api.incidents import observables
from api.incidents.models import (
    IncidentCreate,
    IncidentDetail,
    IncidentRead,
    IncidentUpdate,
    TaskRead,
    TimelineItem,
)
from api.incidents.sla import summarize
from api.paging import check_store_cursor
from api.versioned import change_versioned
from soc_core.alert import Alert, Incident, IncidentEntry, IncidentStatus, Severity
from soc_core.inspections import VN_TZ
from soc_core.sla import SlaPolicy
from soc_core.store import AlertSearch, AlertStore, IncidentQuery, IncidentStore, Page, Store

MAX_TIMELINE_EVENTS = 100


def _entry(actor: str, kind: str, now: datetime, **kw: str | None) -> IncidentEntry:
    return IncidentEntry(id=uuid.uuid4().hex[:12], at=now, actor=actor, kind=kind, **kw)


def _load_alerts(store: AlertStore, alert_ids: Sequence[str]) -> list[Alert]:
    found = []
    for alert_id in dict.fromkeys(alert_ids):
        alert = store.get_alert(alert_id)
        if alert is None:
            raise InvalidChange("unknown alert", alert_id=alert_id)
        found.append(alert)
    return found


def _merge(values: list[str], more: Sequence[str | None]) -> list[str]:
    out = list(values)
    for v in more:
        if v and v not in out:
            out.append(v)
    return out


def create(*, store: Store, data: IncidentCreate, actor: Principal, ip: str | None = None) -> Incident:
    now = datetime.now(UTC)
    members = _load_alerts(store, data.alert_ids)
    severity = data.severity or max(
        (a.severity for a in members), key=lambda s: s.rank, default=Severity.MEDIUM
    )
    owner = (data.owner or "").strip() or None
    incident = Incident(
        id=f"INC-{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}",
        title=data.title.strip(),
        description=data.description,
        severity=severity,
        owner=owner,
        unit_ids=_merge(list(data.unit_ids), [a.soc.unit.id for a in members]),
        system_ids=_merge(list(data.system_ids), [a.soc.system.id for a in members]),
        alert_ids=[a.id for a in members],
        created_at=now,
        created_by=actor.username,
        updated_at=now,
        detected_at=min([a.timestamp for a in members], default=now),
        acknowledged_at=now if owner else None,
        entries=[_entry(actor.username, "created", now, text=data.title.strip())]
        + [_entry(actor.username, "alert_added", now, new=a.id, text=a.rule.name) for a in members],
    )
    store.create_incident(incident)
    audit.record(
        store=store,
        actor=actor.username,
        action="incident.create",
        target_type="incident",
        target_id=incident.id,
        ip=ip,
        details={"title": incident.title, "alerts": incident.alert_ids},
    )
    for alert in members:
        alerts.link_incident(store=store, alert_id=alert.id, incident_id=incident.id, actor=actor, ip=ip)
    return incident


def get(*, store: IncidentStore, incident_id: str) -> Incident:
    got = store.get_incident_versioned(incident_id)
    if got is None:
        raise NotFound("no such incident", incident_id=incident_id)
    return got[0]


def _change(
    store: Store,
    incident_id: str,
    mutate: Callable[[Incident, datetime], list[IncidentEntry]],
    *,
    actor: Principal,
    ip: str | None,
    action: str,
) -> tuple[Incident, list[IncidentEntry]]:
    """Change the incident under optimistic concurrency (`api.versioned`), audit what changed."""

    def change(incident: Incident, now: datetime) -> tuple[Incident, list[IncidentEntry]]:
        new = incident.model_copy(deep=True)
        entries = mutate(new, now)
        new.entries.extend(entries)
        new.updated_at = now
        return new, entries

    incident, entries = change_versioned(
        lambda: store.get_incident_versioned(incident_id),
        change,
        lambda incident, version: store.update_incident(incident, version=version),
        missing=lambda: NotFound("no such incident", incident_id=incident_id),
        conflict=lambda: Conflict("the incident kept changing; try again", incident_id=incident_id),
    )
    dumped = [e.model_dump(mode="json", exclude={"id", "at", "actor"}, exclude_none=True) for e in entries]
    audit.record_changes(
        store=store,
        actor=actor.username,
        ip=ip,
        action=action,
        target=("incident", incident_id),
        changes=dumped,
    )
    return incident, entries


def update(
    *, store: Store, incident_id: str, change: IncidentUpdate, actor: Principal, ip: str | None = None
) -> Incident:
    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        out: list[IncidentEntry] = []

        def rec(field: str, old: str | None, new: str | None) -> None:
            out.append(_entry(actor.username, "change", now, field=field, old=old, new=new))

        if change.title is not None and change.title.strip() and change.title.strip() != inc.title:
            rec("title", inc.title, change.title.strip())
            inc.title = change.title.strip()
        if change.description is not None and change.description != (inc.description or ""):
            rec("description", None, None)
            inc.description = change.description or None
        if change.severity is not None and change.severity is not inc.severity:
            rec("severity", inc.severity.value, change.severity.value)
            inc.severity = change.severity
        if change.owner is not None and (change.owner.strip() or None) != inc.owner:
            rec("owner", inc.owner, change.owner.strip() or None)
            inc.owner = change.owner.strip() or None
            if inc.owner and inc.acknowledged_at is None:
                inc.acknowledged_at = now
        if change.status is not None and change.status is not inc.status:
            rec("status", inc.status.value, change.status.value)
            inc.status = change.status
            if change.status is not IncidentStatus.NEW and inc.acknowledged_at is None:
                inc.acknowledged_at = now
            if change.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
                inc.resolved_at = inc.resolved_at or now
            else:
                inc.resolved_at = None
        for field in ("unit_ids", "system_ids"):
            values = getattr(change, field)
            if values is not None:
                cleaned = [v.strip() for v in values if v.strip()]
                if cleaned != getattr(inc, field):
                    rec(field, ", ".join(getattr(inc, field)) or None, ", ".join(cleaned) or None)
                    setattr(inc, field, cleaned)
        return out

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.update")
    return incident


def add_note(
    *, store: Store, incident_id: str, text: str, actor: Principal, ip: str | None = None
) -> Incident:
    incident, _ = _change(
        store,
        incident_id,
        lambda inc, now: [_entry(actor.username, "note", now, text=text.strip())],
        actor=actor,
        ip=ip,
        action="incident.note",
    )
    return incident


def add_alerts(
    *, store: Store, incident_id: str, alert_ids: Sequence[str], actor: Principal, ip: str | None = None
) -> Incident:
    members = _load_alerts(store, alert_ids)

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        out = []
        for a in members:
            if a.id not in inc.alert_ids:
                inc.alert_ids.append(a.id)
                out.append(_entry(actor.username, "alert_added", now, new=a.id, text=a.rule.name))
        if out:
            inc.unit_ids = _merge(inc.unit_ids, [a.soc.unit.id for a in members])
            inc.system_ids = _merge(inc.system_ids, [a.soc.system.id for a in members])
            inc.detected_at = min([inc.detected_at, *(a.timestamp for a in members)])
            if inc.severity.rank < max(a.severity.rank for a in members):
                inc.severity = max((a.severity for a in members), key=lambda s: s.rank)
        return out

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.add_alerts")
    for a in members:
        alerts.link_incident(store=store, alert_id=a.id, incident_id=incident_id, actor=actor, ip=ip)
    return incident


def remove_alert(
    *, store: Store, incident_id: str, alert_id: str, actor: Principal, ip: str | None = None
) -> Incident:
    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        if alert_id not in inc.alert_ids:
            return []
        inc.alert_ids.remove(alert_id)
        return [_entry(actor.username, "alert_removed", now, old=alert_id)]

    incident, entries = _change(
        store, incident_id, mutate, actor=actor, ip=ip, action="incident.remove_alert"
    )
    if entries:
        alerts.link_incident(store=store, alert_id=alert_id, incident_id=None, actor=actor, ip=ip)
    return incident


def search(*, store: IncidentStore, query: IncidentQuery) -> Page[Incident]:
    check_store_cursor(query.cursor)
    return store.search_incidents(query)


def detail(
    *, store: Store, incident_id: str, max_extracted: int, sla: SlaPolicy = DEFAULT_POLICY
) -> IncidentDetail:
    """The incident with its timeline (notes and changes, its alerts, and their triggering events),
    its tasks and its observables (at most `max_extracted` from the events), and the SLA breaches
    among its alerts (`sla`: the policy, `SOC_NOTIFY_SLA_*`)."""
    incident = get(store=store, incident_id=incident_id)
    members = store.search_alert_queue(
        AlertSearch(ids=incident.alert_ids, origin="all", size=max(1, len(incident.alert_ids)))
    )
    timeline: list[TimelineItem] = [
        TimelineItem(
            at=e.at,
            kind=e.kind,
            actor=e.actor,
            text=e.text,
            field=e.field,
            old=e.old,
            new=e.new,
            ref=e.new if e.kind == "alert_added" else e.old if e.kind == "alert_removed" else None,
        )
        for e in incident.entries
    ]
    events = 0
    for a in members.items:
        timeline.append(
            TimelineItem(at=a.timestamp, kind="alert", text=a.rule.name, ref=a.id, severity=a.severity.value)
        )
        for event_id in a.event_ids[:5]:
            if events >= MAX_TIMELINE_EVENTS:
                break
            event = store.get_event(event_id)
            if event is None:
                continue
            events += 1
            meta = event.event
            summary = (
                event.message or meta.get("original") or meta.get("action") or meta.get("code") or event_id
            )
            timeline.append(
                TimelineItem(
                    at=event.timestamp,
                    kind="event",
                    text=summary[:300],
                    ref=event_id,
                    actor=(event.host or {}).get("name"),
                )
            )
    timeline.sort(key=lambda item: item.at)
    read = IncidentRead.of(incident)
    now = datetime.now(UTC)
    today = now.astimezone(VN_TZ).date()
    return IncidentDetail(
        incident=read.incident,
        time_to_acknowledge_s=read.time_to_acknowledge_s,
        time_to_resolve_s=read.time_to_resolve_s,
        sla=summarize(members.items, sla, now),
        timeline=timeline,
        alerts=[alert_doc(a, sla, now) for a in members.items],
        tasks=[
            TaskRead(**t.model_dump(), overdue=not t.done and t.due is not None and t.due < today)
            for t in incident.tasks
        ],
        observables=observables.reads(incident, members.items, max_extracted),
    )
