"""Inspection service: who may see which unit, plans, visits, findings and their deadlines.

Visibility is decided here, once, and every route and export goes through it: administrators, the
police and SOC analysts see every unit; an inspector sees only the units of the plans whose team
lists them, and only those plans. Writes follow the same rule (an inspector records visits,
findings and evidence for the plans they belong to); plans themselves are the police's.

Every change is written to the audit log (`api.audit.service.record`) with the actor and the fields
that changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from api.audit import service as audit
from api.auth.deps import Principal, Role
from api.errors import InvalidChange, NotFound
from api.inspections.errors import AccessDenied
from api.inspections.models import (
    REMEDIATION_DAYS,
    EvidenceFile,
    Finding,
    FindingChange,
    FindingCreate,
    FindingEvidence,
    FindingRead,
    FindingStatus,
    FindingUpdate,
    InspectionPlan,
    PlanCreate,
    PlanRead,
    PlanUnit,
    PlanUnitRead,
    PlanUpdate,
    Reminder,
    SelfAssessmentReceived,
    TeamMember,
    TeamMemberIn,
    Visit,
    VisitCreate,
    VisitRead,
    VisitUpdate,
    vn_today,
)
from api.paging import Key
from soc_core.inspections import InspectionRepository
from soc_core.registry import Registry
from soc_core.store import AccountStore, RegistryStore, Store

SEE_ALL = frozenset({Role.ADMIN, Role.POLICE, Role.ANALYST})
"""Roles that see every unit; inspectors see their plans' units; viewers see no inspection data."""
PLAN_WRITERS = frozenset({Role.ADMIN, Role.POLICE})
FIELD_WRITERS = frozenset({Role.ADMIN, Role.POLICE, Role.INSPECTOR})


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _new_id(prefix: str, now: datetime) -> str:
    return f"{prefix}-{now:%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"


def unit_names(registry: Registry) -> dict[str, str]:
    return {u.id: u.name for u in registry.units}


# -- visibility ------------------------------------------------------------------------------------


def member_plans(*, repo: InspectionRepository, principal: Principal) -> list[InspectionPlan]:
    return [p for p in repo.list_plans() if p.has_member(principal.user_id)]


def visible_unit_ids(*, repo: InspectionRepository, principal: Principal) -> set[str] | None:
    """None means every unit; otherwise the units of the inspector's plans (possibly none)."""
    if principal.role in SEE_ALL:
        return None
    if principal.role is not Role.INSPECTOR:
        return set()
    return {u.unit_id for p in member_plans(repo=repo, principal=principal) for u in p.units}


def ensure_unit_visible(*, repo: InspectionRepository, principal: Principal, unit_id: str) -> None:
    visible = visible_unit_ids(repo=repo, principal=principal)
    if visible is not None and unit_id not in visible:
        raise AccessDenied("this unit is not in an inspection plan of yours", unit_id=unit_id)


def filter_visible(*, repo: InspectionRepository, principal: Principal, unit_ids: Iterable[str]) -> list[str]:
    visible = visible_unit_ids(repo=repo, principal=principal)
    return [u for u in unit_ids if visible is None or u in visible]


class _OfUnit(Protocol):
    @property
    def unit_id(self) -> str: ...


Item = TypeVar("Item", bound=_OfUnit)


def _visible_one(
    item: Item | None, what: str, *, repo: InspectionRepository, principal: Principal, **ids: str
) -> Item:
    """One visit, finding or file by id: NotFound when missing, AccessDenied when not the caller's unit."""
    if item is None:
        raise NotFound(f"no such {what}", **ids)
    ensure_unit_visible(repo=repo, principal=principal, unit_id=item.unit_id)
    return item


def _visible_only(
    items: Iterable[Item], *, repo: InspectionRepository, principal: Principal, unit_id: str | None
) -> list[Item]:
    """A listing cut to the caller's units; asking for one unit the caller cannot see is refused."""
    if unit_id is not None:
        ensure_unit_visible(repo=repo, principal=principal, unit_id=unit_id)
    visible = visible_unit_ids(repo=repo, principal=principal)
    return [i for i in items if visible is None or i.unit_id in visible]


def can_record(plan: InspectionPlan, principal: Principal) -> bool:
    """Whether the console offers the visit/finding/evidence forms (the service checks again on write)."""
    return principal.role in (Role.ADMIN, Role.POLICE) or plan.has_member(principal.user_id)


def _ensure_plan_visible(plan: InspectionPlan, principal: Principal) -> None:
    if principal.role in SEE_ALL:
        return
    if principal.role is Role.INSPECTOR and plan.has_member(principal.user_id):
        return
    raise AccessDenied("you are not on this plan's inspection team", plan_id=plan.id)


def _ensure_field_writer(plan: InspectionPlan, principal: Principal) -> None:
    """Visits, findings and evidence: the plan's own inspectors, the police, administrators."""
    if principal.role in (Role.ADMIN, Role.POLICE):
        return
    if principal.role is Role.INSPECTOR and plan.has_member(principal.user_id):
        return
    raise AccessDenied("only the plan's inspection team or the police may record this", plan_id=plan.id)


def _ensure_plan_writer(principal: Principal) -> None:
    if principal.role not in PLAN_WRITERS:
        raise AccessDenied("only the police or an administrator may change inspection plans")


def record_change(
    store: Store,
    actor: Principal | str,
    action: str,
    target_type: str,
    target_id: str,
    ip: str | None,
    details: dict[str, Any],
) -> None:
    """One audit line per change, written before the caller answers (positional: it is plumbing)."""
    audit.record(
        store=store,
        actor=actor if isinstance(actor, str) else actor.username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        details=details,
    )


# -- plans -----------------------------------------------------------------------------------------


def _resolve_team(store: AccountStore, members: Sequence[TeamMemberIn]) -> list[TeamMember]:
    """Team members are console users with the inspector role, named by id or username."""
    team: list[TeamMember] = []
    for m in members:
        user = store.get_user(m.user) or store.get_user_by_name(m.user)
        if user is None or not user.active:
            raise InvalidChange("no such active user", user=m.user)
        if user.role != Role.INSPECTOR.value:
            raise InvalidChange("team members must have the inspector role", user=m.user, role=user.role)
        if any(t.user_id == user.id for t in team):
            raise InvalidChange("a team member is listed twice", user=m.user)
        team.append(
            TeamMember(
                user_id=user.id, username=user.username, display_name=user.display_name, team_role=m.team_role
            )
        )
    return team


def _check_units(registry: Registry, unit_ids: Iterable[str]) -> None:
    known = {u.id for u in registry.units}
    missing = sorted(set(unit_ids) - known)
    if missing:
        raise InvalidChange("units not in the registry", units=",".join(missing))


def create_plan(
    *,
    store: Store,
    repo: InspectionRepository,
    data: PlanCreate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> InspectionPlan:
    _ensure_plan_writer(actor)
    now = _now(now)
    _check_units(store.load_registry(), [u.unit_id for u in data.units])
    plan = InspectionPlan(
        id=_new_id("KH", now),
        number=data.number,
        title=data.title.strip(),
        kind=data.kind,
        legal_basis=[b.strip() for b in data.legal_basis],
        issuing_body=data.issuing_body.strip(),
        place=data.place,
        scope_start=data.scope_start,
        units=[u.build() for u in data.units],
        team=_resolve_team(store, data.team),
        signer_title=data.signer_title,
        signer_name=data.signer_name,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
    )
    _check_scope(plan)
    repo.put_plan(plan)
    record_change(
        store,
        actor,
        "inspection.plan.create",
        "inspection_plan",
        plan.id,
        ip,
        {
            "title": plan.title,
            "units": [u.unit_id for u in plan.units],
            "team": [m.username for m in plan.team],
            "scope_start": plan.scope_start.isoformat(),
        },
    )
    return plan


def _check_scope(plan: InspectionPlan) -> None:
    early = [u.unit_id for u in plan.units if u.visit_date < plan.scope_start]
    if early:
        raise InvalidChange("a visit is scheduled before the scope start", units=",".join(early))


def get_plan(*, repo: InspectionRepository, plan_id: str, principal: Principal) -> InspectionPlan:
    plan = repo.get_plan(plan_id)
    if plan is None:
        raise NotFound("no such inspection plan", plan_id=plan_id)
    _ensure_plan_visible(plan, principal)
    return plan


def plan_order(plan: InspectionPlan) -> Key:
    """Newest scope first, then the newest plan; the id makes the order total (a paging key)."""
    return (-plan.scope_start.toordinal(), -plan.created_at.timestamp(), plan.id)


def list_plans(*, repo: InspectionRepository, principal: Principal) -> list[InspectionPlan]:
    """In `plan_order`; inspectors get only their own plans."""
    plans = repo.list_plans()
    if principal.role not in SEE_ALL:
        plans = [p for p in plans if principal.role is Role.INSPECTOR and p.has_member(principal.user_id)]
    return sorted(plans, key=plan_order)


def plan_reads(
    *, repo: InspectionRepository, principal: Principal, registry: Registry, now: datetime | None = None
) -> list[PlanRead]:
    """The plans the caller may see, with unit names and self-assessment states."""
    return [plan_read(p, registry, now) for p in list_plans(repo=repo, principal=principal)]


def plan_read(plan: InspectionPlan, registry: Registry, now: datetime | None = None) -> PlanRead:
    names = unit_names(registry)
    now = _now(now)
    return PlanRead(
        plan=plan,
        units=[
            PlanUnitRead(
                unit_id=u.unit_id,
                unit_name=names.get(u.unit_id, u.unit_id),
                visit_date=u.visit_date,
                self_assessment_due=u.self_assessment_due,
                self_assessment_received_at=u.self_assessment_received_at,
                self_assessment_state=u.self_assessment_state(now),
            )
            for u in sorted(plan.units, key=lambda x: (x.visit_date, x.unit_id))
        ],
    )


def update_plan(
    *,
    store: Store,
    repo: InspectionRepository,
    plan_id: str,
    change: PlanUpdate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> InspectionPlan:
    _ensure_plan_writer(actor)
    now = _now(now)
    plan = get_plan(repo=repo, plan_id=plan_id, principal=actor)
    fields = change.model_dump(exclude_unset=True)
    updates: dict[str, Any] = {}
    for key in ("number", "title", "kind", "legal_basis", "issuing_body", "place", "scope_start"):
        if key in fields:
            updates[key] = getattr(change, key)
    for key in ("signer_title", "signer_name"):
        if key in fields:
            updates[key] = getattr(change, key)
    if change.units is not None:
        _check_units(store.load_registry(), [u.unit_id for u in change.units])
        old = {u.unit_id: u for u in plan.units}
        units: list[PlanUnit] = []
        for item in change.units:
            built = item.build()
            kept = old.get(item.unit_id)
            if kept is not None:  # the report already received stays received
                built = built.model_copy(
                    update={"self_assessment_received_at": kept.self_assessment_received_at}
                )
            units.append(built)
        updates["units"] = units
    if change.team is not None:
        updates["team"] = _resolve_team(store, change.team)
    if not updates:
        return plan
    changed = plan.model_copy(update={**updates, "updated_at": now})
    InspectionPlan.model_validate(changed.model_dump())  # the update is still a valid plan
    _check_scope(changed)
    repo.put_plan(changed)
    record_change(
        store,
        actor,
        "inspection.plan.update",
        "inspection_plan",
        plan.id,
        ip,
        {k: _plain(getattr(changed, k)) for k in updates},
    )
    return changed


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value if value is None or isinstance(value, int | float | bool) else str(value)


def mark_self_assessment(
    *,
    store: Store,
    repo: InspectionRepository,
    plan_id: str,
    unit_id: str,
    data: SelfAssessmentReceived,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> InspectionPlan:
    """Record (or clear) that the unit's self-assessment report arrived, and when."""
    now = _now(now)
    plan = get_plan(repo=repo, plan_id=plan_id, principal=actor)
    _ensure_field_writer(plan, actor)
    entry = plan.unit(unit_id)
    if entry is None:
        raise NotFound("this unit is not in the plan", plan_id=plan_id, unit_id=unit_id)
    received = (data.received_at or now) if data.received else None
    units = [
        u.model_copy(update={"self_assessment_received_at": received}) if u.unit_id == unit_id else u
        for u in plan.units
    ]
    changed = plan.model_copy(update={"units": units, "updated_at": now})
    repo.put_plan(changed)
    record_change(
        store,
        actor,
        "inspection.self_assessment",
        "inspection_plan",
        plan.id,
        ip,
        {
            "unit_id": unit_id,
            "old": _plain(entry.self_assessment_received_at),
            "new": _plain(received),
        },
    )
    return changed


# -- visits ----------------------------------------------------------------------------------------


def create_visit(
    *,
    store: Store,
    repo: InspectionRepository,
    data: VisitCreate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> Visit:
    now = _now(now)
    plan = get_plan(repo=repo, plan_id=data.plan_id, principal=actor)
    _ensure_field_writer(plan, actor)
    entry = plan.unit(data.unit_id)
    if entry is None:
        raise InvalidChange("this unit is not in the plan", plan_id=plan.id, unit_id=data.unit_id)
    visit = Visit(
        id=_new_id("KT", now),
        plan_id=plan.id,
        unit_id=data.unit_id,
        visit_date=data.visit_date or entry.visit_date,
        minutes_number=data.minutes_number,
        minutes_date=data.minutes_date,
        notes=data.notes,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
    )
    repo.put_visit(visit)
    record_change(
        store, actor, "inspection.visit.create", "inspection_visit", visit.id, ip, _plain_fields(visit)
    )
    return visit


def _plain_fields(model: Any, keys: Iterable[str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(mode="json")
    wanted = set(keys) if keys is not None else set(data) - {"history", "created_at", "updated_at"}
    return {k: v for k, v in data.items() if k in wanted}


def get_visit(*, repo: InspectionRepository, visit_id: str, principal: Principal) -> Visit:
    return _visible_one(repo.get_visit(visit_id), "visit", repo=repo, principal=principal, visit_id=visit_id)


def list_visits(
    *,
    repo: InspectionRepository,
    principal: Principal,
    plan_id: str | None = None,
    unit_id: str | None = None,
) -> list[Visit]:
    if plan_id is not None:
        get_plan(repo=repo, plan_id=plan_id, principal=principal)
    visits = repo.list_visits(plan_id=plan_id, unit_id=unit_id)
    return sorted(_visible_only(visits, repo=repo, principal=principal, unit_id=unit_id), key=visit_order)


def visit_order(visit: Visit) -> Key:
    """Latest visit first (a paging key, like `plan_order`)."""
    return (-visit.visit_date.toordinal(), -visit.created_at.timestamp(), visit.id)


def update_visit(
    *,
    store: Store,
    repo: InspectionRepository,
    visit_id: str,
    change: VisitUpdate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> Visit:
    now = _now(now)
    visit = get_visit(repo=repo, visit_id=visit_id, principal=actor)
    plan = get_plan(repo=repo, plan_id=visit.plan_id, principal=actor)
    _ensure_field_writer(plan, actor)
    updates = change.model_dump(exclude_unset=True)
    if not updates:
        return visit
    changed = visit.model_copy(update={**updates, "updated_at": now})
    repo.put_visit(changed)
    record_change(
        store,
        actor,
        "inspection.visit.update",
        "inspection_visit",
        visit.id,
        ip,
        {k: {"old": _plain(getattr(visit, k)), "new": _plain(getattr(changed, k))} for k in updates},
    )
    return changed


def visit_read(
    *, repo: InspectionRepository, visit: Visit, registry: Registry, now: datetime | None = None
) -> VisitRead:
    now = _now(now)
    plan = repo.get_plan(visit.plan_id)
    name = unit_names(registry).get(visit.unit_id, visit.unit_id)
    findings = sorted(repo.list_findings(visit_id=visit.id), key=lambda f: f.created_at)
    return VisitRead(
        visit=visit,
        unit_name=name,
        plan_title=plan.title if plan else visit.plan_id,
        findings=[FindingRead.of(f, now, name) for f in findings],
        evidence=repo.list_files(visit_id=visit.id),
    )


# -- findings --------------------------------------------------------------------------------------


def _check_evidence(
    store: Store, repo: InspectionRepository, unit_id: str, evidence: FindingEvidence
) -> FindingEvidence:
    """Evidence must exist and concern the unit: a finding never points at another unit's data."""
    for alert_id in evidence.alert_ids:
        alert = store.get_alert(alert_id)
        if alert is None:
            raise InvalidChange("unknown alert", alert_id=alert_id)
        if alert.soc.unit.id != unit_id:
            raise InvalidChange("the alert belongs to another unit", alert_id=alert_id)
    for incident_id in evidence.incident_ids:
        found = store.get_incident_versioned(incident_id)
        if found is None:
            raise InvalidChange("unknown incident", incident_id=incident_id)
        if unit_id not in found[0].unit_ids:
            raise InvalidChange("the incident does not concern this unit", incident_id=incident_id)
    for file_id in evidence.file_ids:
        file = repo.get_file(file_id)
        if file is None or file.unit_id != unit_id:
            raise InvalidChange("unknown evidence file for this unit", file_id=file_id)
    return FindingEvidence(
        alert_ids=list(dict.fromkeys(evidence.alert_ids)),
        incident_ids=list(dict.fromkeys(evidence.incident_ids)),
        file_ids=list(dict.fromkeys(evidence.file_ids)),
    )


def create_finding(
    *,
    store: Store,
    repo: InspectionRepository,
    visit_id: str,
    data: FindingCreate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> Finding:
    """A finding written in the minutes; its deadline is the minutes' date plus 20 days by default."""
    now = _now(now)
    visit = get_visit(repo=repo, visit_id=visit_id, principal=actor)
    plan = get_plan(repo=repo, plan_id=visit.plan_id, principal=actor)
    _ensure_field_writer(plan, actor)
    minutes = visit.minutes_or_visit_date
    deadline = data.remediation_deadline or minutes + timedelta(days=REMEDIATION_DAYS)
    if deadline < minutes:
        raise InvalidChange("the remediation deadline is before the minutes' date", deadline=deadline)
    evidence = _check_evidence(
        store,
        repo,
        visit.unit_id,
        FindingEvidence(alert_ids=data.alert_ids, incident_ids=data.incident_ids, file_ids=data.file_ids),
    )
    finding = Finding(
        id=_new_id("TT", now),
        visit_id=visit.id,
        plan_id=visit.plan_id,
        unit_id=visit.unit_id,
        checklist_code=data.checklist_code,
        description=data.description.strip(),
        severity=data.severity,
        evidence=evidence,
        minutes_date=minutes,
        remediation_deadline=deadline,
        created_at=now,
        created_by=actor.username,
        updated_at=now,
        history=[FindingChange(at=now, actor=actor.username, field="status", new=FindingStatus.OPEN.value)],
    )
    repo.put_finding(finding)
    record_change(
        store,
        actor,
        "inspection.finding.create",
        "inspection_finding",
        finding.id,
        ip,
        _plain_fields(finding),
    )
    return finding


def get_finding(*, repo: InspectionRepository, finding_id: str, principal: Principal) -> Finding:
    found = repo.get_finding(finding_id)
    return _visible_one(found, "finding", repo=repo, principal=principal, finding_id=finding_id)


def update_finding(
    *,
    store: Store,
    repo: InspectionRepository,
    finding_id: str,
    change: FindingUpdate,
    actor: Principal,
    ip: str | None = None,
    now: datetime | None = None,
) -> Finding:
    """Edit a finding or move it along open -> remediated -> verified (or back to open)."""
    now = _now(now)
    finding = get_finding(repo=repo, finding_id=finding_id, principal=actor)
    plan = get_plan(repo=repo, plan_id=finding.plan_id, principal=actor)
    _ensure_field_writer(plan, actor)
    sent = change.model_dump(exclude_unset=True)
    updates: dict[str, Any] = {}
    for key in ("checklist_code", "description", "severity", "remediation_deadline", "remediation_note"):
        if key in sent and getattr(change, key) != getattr(finding, key):
            updates[key] = getattr(change, key)
    if "remediation_deadline" in updates and updates["remediation_deadline"] is None:
        raise InvalidChange("a finding always has a remediation deadline")
    if {"alert_ids", "incident_ids", "file_ids"} & set(sent):
        evidence = FindingEvidence(
            alert_ids=change.alert_ids if change.alert_ids is not None else finding.evidence.alert_ids,
            incident_ids=change.incident_ids
            if change.incident_ids is not None
            else finding.evidence.incident_ids,
            file_ids=change.file_ids if change.file_ids is not None else finding.evidence.file_ids,
        )
        checked = _check_evidence(store, repo, finding.unit_id, evidence)
        if checked != finding.evidence:
            updates["evidence"] = checked
    if change.status is not None and change.status is not finding.status:
        updates.update(_transition(finding, change.status, change.remediated_at, actor, now))
    elif change.remediated_at is not None and finding.status is not FindingStatus.OPEN:
        updates["remediated_at"] = change.remediated_at
    updates = {k: v for k, v in updates.items() if v != getattr(finding, k)}
    if not updates:
        return finding
    history = list(finding.history)
    for key, value in updates.items():
        history.append(
            FindingChange(
                at=now,
                actor=actor.username,
                field=key,
                old=_text(getattr(finding, key)),
                new=_text(value),
            )
        )
    changed = finding.model_copy(update={**updates, "updated_at": now, "history": history})
    Finding.model_validate(changed.model_dump())
    repo.put_finding(changed)
    record_change(
        store,
        actor,
        "inspection.finding.update",
        "inspection_finding",
        finding.id,
        ip,
        {k: {"old": _plain(getattr(finding, k)), "new": _plain(v)} for k, v in updates.items()},
    )
    return changed


def _text(value: Any) -> str | None:
    plain = _plain(value)
    return None if plain is None else str(plain)


def _transition(
    finding: Finding,
    status: FindingStatus,
    remediated_at: datetime | None,
    actor: Principal,
    now: datetime,
) -> dict[str, Any]:
    """The fields a status change sets: remediation and verification are dated and attributed."""
    if status is FindingStatus.OPEN:
        return {"status": status, "remediated_at": None, "verified_at": None, "verified_by": None}
    when = remediated_at or finding.remediated_at or now
    if status is FindingStatus.REMEDIATED:
        return {"status": status, "remediated_at": when, "verified_at": None, "verified_by": None}
    return {"status": status, "remediated_at": when, "verified_at": now, "verified_by": actor.username}


def list_findings(
    *,
    repo: InspectionRepository,
    principal: Principal,
    unit_id: str | None = None,
    status: Sequence[str] = (),
    overdue: bool = False,
    now: datetime | None = None,
) -> list[Finding]:
    """Findings the caller may see; `overdue`: still open after their deadline (for the police)."""
    now = _now(now)
    if overdue:
        yesterday = vn_today(now) - timedelta(days=1)
        found = repo.list_findings(unit_id=unit_id, status=[FindingStatus.OPEN.value], due_before=yesterday)
    else:
        found = repo.list_findings(unit_id=unit_id, status=status)
    return sorted(_visible_only(found, repo=repo, principal=principal, unit_id=unit_id), key=finding_order)


def finding_order(finding: Finding) -> Key:
    """Nearest remediation deadline first (a paging key, like `plan_order`)."""
    return (finding.remediation_deadline.toordinal(), finding.unit_id, finding.id)


def finding_read(store: RegistryStore, finding: Finding, now: datetime | None = None) -> FindingRead:
    """A finding with its remediation state and its unit's name, as the API and the console show it."""
    names = unit_names(store.load_registry())
    return FindingRead.of(finding, _now(now), names.get(finding.unit_id, finding.unit_id))


# -- evidence files (the upload itself is in api.inspections.evidence) -----------------------------


def get_file(*, repo: InspectionRepository, file_id: str, principal: Principal) -> EvidenceFile:
    return _visible_one(
        repo.get_file(file_id), "evidence file", repo=repo, principal=principal, file_id=file_id
    )


def list_files(
    *,
    repo: InspectionRepository,
    principal: Principal,
    unit_id: str | None = None,
    visit_id: str | None = None,
) -> list[EvidenceFile]:
    if visit_id is not None:
        get_visit(repo=repo, visit_id=visit_id, principal=principal)
    files = repo.list_files(unit_id=unit_id, visit_id=visit_id)
    return sorted(_visible_only(files, repo=repo, principal=principal, unit_id=unit_id), key=file_order)


def file_order(file: EvidenceFile) -> Key:
    """Latest upload first (a paging key, like `plan_order`)."""
    return (-file.uploaded_at.timestamp(), file.id)


def list_reminders(
    *, repo: InspectionRepository, principal: Principal, unit_id: str | None = None, limit: int = 200
) -> list[Reminder]:
    """Deadline reminders of the caller's units, newest first."""
    found = repo.list_reminders(unit_id=unit_id, limit=limit)
    return _visible_only(found, repo=repo, principal=principal, unit_id=unit_id)


def upload_target(
    *, repo: InspectionRepository, visit_id: str, principal: Principal
) -> tuple[Visit, InspectionPlan]:
    """The visit an upload belongs to, once the caller is known to be allowed to add evidence to it."""
    visit = get_visit(repo=repo, visit_id=visit_id, principal=principal)
    plan = get_plan(repo=repo, plan_id=visit.plan_id, principal=principal)
    _ensure_field_writer(plan, principal)
    return visit, plan


def plans_of_unit(
    *, repo: InspectionRepository, principal: Principal, unit_id: str
) -> list[tuple[InspectionPlan, PlanUnit]]:
    """The plans (visible to the caller) that schedule a visit to the unit, latest visit first."""
    out = []
    for plan in list_plans(repo=repo, principal=principal):
        entry = plan.unit(unit_id)
        if entry is not None:
            out.append((plan, entry))
    return sorted(out, key=lambda pe: pe[1].visit_date, reverse=True)
