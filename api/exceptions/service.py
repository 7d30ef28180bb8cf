"""Exceptions: create (by hand, or from an alert closed as a false positive), list, read, revoke.

An exception is written to the backend's `ExceptionRepository` with its Sigma filter document
(`soc_core.exceptions.sigma_filter_yaml`); every detect process picks it up within seconds
(`detections.state.RuleWatcher`). The rule's title and logsource come from this process's engine,
so an exception names a rule that is loaded. Every change is one audit line.

Typed errors (`api.problems` answers them): NotFound 404 (exception, alert), InvalidChange 422 (an
unknown rule, an expiry in the past or too far, a field the event does not have), Conflict 409 (an
alert not closed as a false positive, revoking twice, too many active exceptions).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api.alerts.errors import Conflict
from api.audit import service as audit
from api.auth.deps import Principal
from api.errors import InvalidChange, NotFound
from api.exceptions.models import (
    DraftField,
    ExceptionCreate,
    ExceptionDraft,
    ExceptionFromAlert,
    ExceptionListParams,
    ExceptionRead,
    as_list,
)
from api.paging import ItemPage, page_of
from api.versioned import change_versioned
from detections.engine import DetectionEngine
from soc_core.alert import Alert, AlertStatus
from soc_core.errors import DetectionError
from soc_core.event import flatten
from soc_core.exceptions import (
    SCOPE_FIELDS,
    AnalystException,
    ExceptionRepository,
    ExceptionState,
    FieldValue,
    sigma_filter_yaml,
)
from soc_core.settings import DetectionSettings
from soc_core.store import AlertStore, AuditStore

#: Event fields that never make an exception: they differ for every event, or are its whole text.
VOLATILE_FIELDS = frozenset(
    {"@timestamp", "event.created", "event.ingested", "event.id", "event.original", "message", "log.offset"}
)
VOLATILE_PREFIXES = ("soc.",)  # the context is offered as unit/system/host, not as fields
MAX_DRAFT_VALUE = 1000


def read_model(exception: AnalystException, settings: DetectionSettings, now: datetime) -> ExceptionRead:
    return ExceptionRead(
        **exception.model_dump(),
        status=exception.state(now),
        expiring_soon=exception.expiring_within(now, settings.exception_expiring_days),
    )


def get(*, repo: ExceptionRepository, exception_id: str) -> AnalystException:
    got = repo.get_versioned(exception_id)
    if got is None:
        raise NotFound("no such exception", exception_id=exception_id)
    return got[0]


def listing(
    *, repo: ExceptionRepository, settings: DetectionSettings, params: ExceptionListParams
) -> ItemPage[ExceptionRead]:
    """Soonest expiry first, with the suppressed counts; filters: status, rule, expiring within N days."""
    now = datetime.now(UTC)
    found = repo.list_all(rule_id=params.rule, limit=settings.exception_limit)
    if params.status is not None:
        found = [e for e in found if e.state(now) is params.status]
    if params.expiring_within_days is not None:
        found = [e for e in found if e.expiring_within(now, params.expiring_within_days)]
    page = page_of(
        found, key=lambda e: (e.expires_at.isoformat(), e.id), size=params.size, cursor=params.cursor
    )
    return page.map(lambda e: read_model(e, settings, now))


# -- drafting from an alert ---------------------------------------------------------------------------


def _event_fields(alert: Alert) -> dict[str, FieldValue]:
    """The alert's event as the rules saw it (dotted names), scalar values an exception can name."""
    out: dict[str, FieldValue] = {}
    for name, value in flatten(alert.event).items():
        if name in VOLATILE_FIELDS or name.startswith(VOLATILE_PREFIXES) or "." not in name:
            continue
        if isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_DRAFT_VALUE:
            out[name] = value
    return out


def _rule_fields(engine: DetectionEngine, rule_id: str) -> set[str]:
    try:
        return engine.rule_fields(rule_id)
    except DetectionError:
        return set()


def draft(*, store: AlertStore, engine: DetectionEngine, alert_id: str) -> ExceptionDraft:
    alert = _alert(store, alert_id)
    used = _rule_fields(engine, alert.rule.id)
    fields = [
        DraftField(name=name, value=value, suggested=name in used)
        for name, value in sorted(_event_fields(alert).items())
    ]
    return ExceptionDraft(
        alert_id=alert.id,
        rule_id=alert.rule.id,
        rule_title=alert.rule.name,
        fields=fields,
        unit_id=alert.soc.unit.id,
        system_id=alert.soc.system.id,
        host_name=alert.host_name,
    )


def _alert(store: AlertStore, alert_id: str) -> Alert:
    alert = store.get_alert(alert_id)
    if alert is None:
        raise NotFound("no such alert", alert_id=alert_id)
    return alert


# -- creating -----------------------------------------------------------------------------------------


def create(
    *,
    repo: ExceptionRepository,
    audit_store: AuditStore,
    engine: DetectionEngine,
    settings: DetectionSettings,
    body: ExceptionCreate,
    actor: Principal,
    ip: str | None,
) -> AnalystException:
    fields: dict[str, list[FieldValue]] = {name: as_list(v) for name, v in body.fields.items()}
    context = {"unit": body.unit_id, "system": body.system_id, "host": body.host_name}
    for key, value in context.items():
        if value is not None:
            fields[SCOPE_FIELDS[key]] = [value]
    return _create(
        repo=repo,
        audit_store=audit_store,
        engine=engine,
        settings=settings,
        rule_id=body.rule_id,
        fields=fields,
        reason=body.reason,
        owner=body.owner or actor.username,
        expires_at=body.expires_at,
        alert_id=None,
        actor=actor,
        ip=ip,
    )


def create_from_alert(
    *,
    repo: ExceptionRepository,
    store: AlertStore,
    audit_store: AuditStore,
    engine: DetectionEngine,
    settings: DetectionSettings,
    body: ExceptionFromAlert,
    actor: Principal,
    ip: str | None,
) -> AnalystException:
    alert = _alert(store, body.alert_id)
    if alert.triage.status is not AlertStatus.FALSE_POSITIVE:
        raise Conflict(
            "close the alert as a false positive before making an exception of it", alert_id=alert.id
        )
    event = _event_fields(alert)
    fields: dict[str, list[FieldValue]] = {}
    for name in body.fields:
        if name not in event:
            raise InvalidChange(f"the alert's event has no usable value for {name}", field=name)
        fields[name] = [event[name]]
    for name, value in body.values.items():
        fields[name] = as_list(value)
    context = {"unit": alert.soc.unit.id, "system": alert.soc.system.id, "host": alert.host_name}
    for key, wanted in (("unit", body.unit), ("system", body.system), ("host", body.host)):
        if wanted:
            if not context[key]:
                raise InvalidChange(f"the alert has no {key} to narrow the exception to", scope=key)
            fields[SCOPE_FIELDS[key]] = [str(context[key])]
    return _create(
        repo=repo,
        audit_store=audit_store,
        engine=engine,
        settings=settings,
        rule_id=alert.rule.id,
        fields=fields,
        reason=body.reason,
        owner=body.owner or actor.username,
        expires_at=body.expires_at,
        alert_id=alert.id,
        actor=actor,
        ip=ip,
    )


def _create(
    *,
    repo: ExceptionRepository,
    audit_store: AuditStore,
    engine: DetectionEngine,
    settings: DetectionSettings,
    rule_id: str,
    fields: dict[str, list[FieldValue]],
    reason: str,
    owner: str,
    expires_at: datetime,
    alert_id: str | None,
    actor: Principal,
    ip: str | None,
) -> AnalystException:
    now = datetime.now(UTC)
    try:
        rule = engine.rule(rule_id)
    except DetectionError:
        raise InvalidChange("no such rule is loaded", rule_id=rule_id) from None
    if expires_at <= now:
        raise InvalidChange("the expiry must be in the future", expires_at=expires_at.isoformat())
    if expires_at > now + timedelta(days=settings.exception_max_days):
        raise InvalidChange(
            f"an exception lasts at most {settings.exception_max_days} days",
            expires_at=expires_at.isoformat(),
        )
    if len(repo.active(now, limit=settings.exception_limit)) >= settings.exception_limit:
        raise Conflict(f"{settings.exception_limit} exceptions are active already; revoke some first")
    exception_id = str(uuid.uuid4())
    scope: dict[str, Any] = {
        "rule_id": rule.id,
        "rule_title": rule.title,
        "logsource": dict(rule.logsource),
        "fields": fields,
        "reason": reason,
        "owner": owner,
        "created_at": now,
        "expires_at": expires_at.astimezone(UTC),
    }
    exception = AnalystException(
        id=exception_id,
        created_by=actor.username,
        alert_id=alert_id,
        sigma=sigma_filter_yaml(exception_id=exception_id, **scope),
        **scope,
    )
    repo.create(exception)
    audit.record(
        store=audit_store,
        actor=actor.username,
        action="exception.create",
        target_type="exception",
        target_id=exception.id,
        ip=ip,
        details={
            "rule_id": rule.id,
            "fields": fields,
            "reason": reason,
            "owner": owner,
            "expires_at": exception.expires_at.isoformat(),
            "alert_id": alert_id,
        },
    )
    return exception


# -- revoking -----------------------------------------------------------------------------------------


def revoke(
    *,
    repo: ExceptionRepository,
    audit_store: AuditStore,
    exception_id: str,
    reason: str | None,
    actor: Principal,
    ip: str | None,
) -> AnalystException:
    """End an exception now (revoked: it stops applying within seconds); 409 when it no longer applies."""

    def change(exception: AnalystException, now: datetime) -> tuple[AnalystException, list[dict[str, Any]]]:
        state = exception.state(now)
        if state is not ExceptionState.ACTIVE:
            raise Conflict(f"the exception is {state.value} already", exception_id=exception_id)
        revoked = exception.model_copy(
            update={"revoked_at": now, "revoked_by": actor.username, "revoke_reason": reason}
        )
        return revoked, [{"field": "state", "old": state.value, "new": "revoked", "reason": reason}]

    exception, changes = change_versioned(
        lambda: repo.get_versioned(exception_id),
        change,
        lambda new, version: repo.update(new, version=version),
        missing=lambda: NotFound("no such exception", exception_id=exception_id),
        conflict=lambda: Conflict("the exception kept changing; try again", exception_id=exception_id),
    )
    if changes:
        audit.record(
            store=audit_store,
            actor=actor.username,
            action="exception.revoke",
            target_type="exception",
            target_id=exception_id,
            ip=ip,
            details={"changes": changes},
        )
    return exception
