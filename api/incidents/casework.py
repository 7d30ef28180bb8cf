"""Case work on an incident: tasks, observables added or dismissed by hand, attachments.

All of it lives in the incident document and changes through `service._change`: the same
optimistic versioning, a timeline entry for each change (who, when, what) and an audit record, so
neither store needed a new method. Attachments are kept like inspection evidence
(`api.inspections.evidence.receiving`: by SHA-256 under the data folder, read-only, the upload
limit enforced while the body is read, filed only once the incident lists them), and checked
against their hash when handed out. Tasks and attachments can be removed (in the timeline and
the audit like every change).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO

from api.auth.deps import Principal
from api.errors import InvalidChange, NotFound
from api.incidents import observables as obs
from api.incidents.models import ObservableCreate, TaskCreate, TaskUpdate
from api.incidents.service import _change, _entry, get
from api.inspections import evidence
from soc_core.alert import (
    Alert,
    Incident,
    IncidentAttachment,
    IncidentEntry,
    IncidentObservable,
    IncidentTask,
    observable_id,
)
from soc_core.store import AlertSearch, Store


def _assignee(store: Store, name: str | None) -> str | None:
    """A console user's name, or None; an unknown or disabled user is refused."""
    name = (name or "").strip()
    if not name:
        return None
    user = store.get_user_by_name(name)
    if user is None or not user.active:
        raise InvalidChange("no such active user", assignee=name)
    return user.username


def _task(inc: Incident, task_id: str) -> IncidentTask:
    task = next((t for t in inc.tasks if t.id == task_id), None)
    if task is None:
        raise NotFound("no such task", incident_id=inc.id, task_id=task_id)
    return task


def add_task(
    *,
    store: Store,
    incident_id: str,
    data: TaskCreate,
    limit: int,
    actor: Principal,
    ip: str | None = None,
) -> tuple[Incident, IncidentTask]:
    """`limit`: most tasks on one incident (`SOC_INCIDENT_MAX_ITEMS`)."""
    assignee = _assignee(store, data.assignee)
    made: list[IncidentTask] = []

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        if len(inc.tasks) >= limit:
            raise InvalidChange(
                f"the incident has its most tasks (SOC_INCIDENT_MAX_ITEMS: {limit})", limit=limit
            )
        task = IncidentTask(
            id=uuid.uuid4().hex[:12],
            title=data.title.strip(),
            assignee=assignee,
            due=data.due,
            created_at=now,
            created_by=actor.username,
        )
        inc.tasks.append(task)
        made[:] = [task]
        due = data.due.isoformat() if data.due else None
        return [_entry(actor.username, "task_added", now, text=task.title, new=assignee, old=due)]

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.task.add")
    return incident, made[0]


def update_task(
    *,
    store: Store,
    incident_id: str,
    task_id: str,
    change: TaskUpdate,
    actor: Principal,
    ip: str | None = None,
) -> Incident:
    assignee = _assignee(store, change.assignee) if change.assignee is not None else None

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        task = _task(inc, task_id)
        out: list[IncidentEntry] = []

        def rec(kind: str, field: str | None = None, old: str | None = None, new: str | None = None) -> None:
            out.append(_entry(actor.username, kind, now, text=task.title, field=field, old=old, new=new))

        if change.title is not None and change.title.strip() != task.title:
            rec("task_changed", "title", task.title, change.title.strip())
            task.title = change.title.strip()
        if change.assignee is not None and assignee != task.assignee:
            rec("task_changed", "assignee", task.assignee, assignee)
            task.assignee = assignee
        due: date | None = None if change.clear_due else change.due or task.due
        if due != task.due:
            rec("task_changed", "due", _day(task.due), _day(due))
            task.due = due
        if change.done is not None and change.done != task.done:
            rec("task_done" if change.done else "task_reopened")
            task.done = change.done
            task.done_at = now if change.done else None
            task.done_by = actor.username if change.done else None
        return out

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.task.update")
    return incident


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def add_observable(
    *,
    store: Store,
    incident_id: str,
    data: ObservableCreate,
    limit: int,
    actor: Principal,
    ip: str | None = None,
) -> Incident:
    """Add by hand (or bring back a dismissed one); adding what is already kept changes nothing.
    `limit`: most kept observables on one incident (`SOC_INCIDENT_MAX_ITEMS`)."""
    value = obs.normalize(data.type, data.value)
    key = observable_id(data.type, value)
    note = (data.note or "").strip() or None

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        mine = next((o for o in inc.observables if o.id == key), None)
        if mine is not None and not mine.dismissed:
            return []
        if mine is not None:
            inc.observables.remove(mine)
        elif len(inc.observables) >= limit:
            raise InvalidChange(
                f"the incident has its most observables (SOC_INCIDENT_MAX_ITEMS: {limit})", limit=limit
            )
        inc.observables.append(
            IncidentObservable(
                id=key, type=data.type, value=value, added_at=now, added_by=actor.username, note=note
            )
        )
        return [_entry(actor.username, "observable_added", now, field=data.type, new=value, text=note)]

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.observable.add")
    return incident


def remove_observable(
    *,
    store: Store,
    incident_id: str,
    observable: str,
    max_extracted: int,
    actor: Principal,
    ip: str | None = None,
) -> Incident:
    """One added by hand is forgotten; an extracted one is dismissed (kept as such, so it stays off
    the list while its alerts are in the incident)."""
    current = get(store=store, incident_id=incident_id)
    extracted = {f.id: f for f in obs.extract(_members(store, current), max_extracted)}

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        mine = next((o for o in inc.observables if o.id == observable), None)
        found = extracted.get(observable)
        if mine is not None and mine.dismissed:
            return []
        if mine is not None:
            inc.observables.remove(mine)
            kind, value = mine.type, mine.value
        elif found is not None:
            kind, value = found.kind, found.value
        else:
            raise NotFound("no such observable", incident_id=inc.id, observable_id=observable)
        if found is not None:
            inc.observables.append(
                IncidentObservable(
                    id=observable,
                    type=kind,
                    value=value,
                    added_at=now,
                    added_by=actor.username,
                    dismissed=True,
                )
            )
        return [_entry(actor.username, "observable_removed", now, field=kind, old=value)]

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.observable.remove")
    return incident


def _members(store: Store, incident: Incident) -> list[Alert]:
    if not incident.alert_ids:
        return []
    return store.search_alert_queue(
        AlertSearch(ids=incident.alert_ids, origin="all", size=len(incident.alert_ids))
    ).items


def add_attachment(
    *,
    store: Store,
    incident_id: str,
    source: BinaryIO,
    filename: str,
    data_dir: Path,
    max_bytes: int,
    limit: int,
    actor: Principal,
    ip: str | None = None,
) -> tuple[Incident, IncidentAttachment, bool]:
    """Keep the file (evidence storage) and list it on the incident; the same bytes twice are one
    attachment (False: it was already there). `max_bytes`: `SOC_MAX_UPLOAD_BYTES`, as for evidence;
    `limit`: most attachments on one incident (`SOC_INCIDENT_MAX_ITEMS`)."""
    get(store=store, incident_id=incident_id)  # 404 before the file is taken in
    name = Path(filename.replace("\\", "/")).name[:255] or "attachment"
    result: list[tuple[IncidentAttachment, bool]] = []
    # the file is filed by its hash only once the incident lists it: a refusal (the incident at its
    # limit, gone, or changing too fast) leaves no file behind that nothing names
    with evidence.receiving(source, data_dir, max_bytes) as received:

        def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
            same = next((a for a in inc.attachments if a.sha256 == received.sha256), None)
            if same is not None:
                result[:] = [(same, False)]
                return []
            if len(inc.attachments) >= limit:
                raise InvalidChange(
                    f"the incident has its most attachments (SOC_INCIDENT_MAX_ITEMS: {limit})", limit=limit
                )
            att = IncidentAttachment(
                id=uuid.uuid4().hex[:12],
                filename=name,
                sha256=received.sha256,
                size=received.size,
                stored_as=received.stored_as,
                uploaded_at=now,
                uploaded_by=actor.username,
            )
            inc.attachments.append(att)
            result[:] = [(att, True)]
            return [_entry(actor.username, "attachment_added", now, text=name, new=received.sha256)]

        incident, _ = _change(
            store, incident_id, mutate, actor=actor, ip=ip, action="incident.attachment.add"
        )
        received.commit()
    return incident, *result[0]


def remove_task(
    *, store: Store, incident_id: str, task_id: str, actor: Principal, ip: str | None = None
) -> Incident:
    """A task added by mistake goes; the timeline and the audit keep what it was."""

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        task = _task(inc, task_id)
        inc.tasks.remove(task)
        return [_entry(actor.username, "task_removed", now, text=task.title, old=task.assignee)]

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.task.remove")
    return incident


def remove_attachment(
    *, store: Store, incident_id: str, attachment_id: str, actor: Principal, ip: str | None = None
) -> Incident:
    """The incident no longer lists the file; the bytes stay in the evidence folder, which is
    content-addressed and shared (inspection evidence or another incident may hold the same file,
    and evidence is never rewritten), and the timeline and the audit keep its name and hash."""

    def mutate(inc: Incident, now: datetime) -> list[IncidentEntry]:
        att = next((a for a in inc.attachments if a.id == attachment_id), None)
        if att is None:
            raise NotFound("no such attachment", incident_id=inc.id, attachment_id=attachment_id)
        inc.attachments.remove(att)
        return [_entry(actor.username, "attachment_removed", now, text=att.filename, old=att.sha256)]

    incident, _ = _change(store, incident_id, mutate, actor=actor, ip=ip, action="incident.attachment.remove")
    return incident


def open_attachment(
    *, store: Store, incident_id: str, attachment_id: str, data_dir: Path
) -> tuple[Path, IncidentAttachment]:
    """The kept file, checked against its SHA-256, and its record."""
    incident = get(store=store, incident_id=incident_id)
    att = next((a for a in incident.attachments if a.id == attachment_id), None)
    if att is None:
        raise NotFound("no such attachment", incident_id=incident_id, attachment_id=attachment_id)
    return evidence.open_kept(data_dir, att), att
