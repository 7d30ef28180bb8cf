"""Recording and reading the audit log; every service that changes something calls `record`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from api.paging import check_store_cursor
from soc_core.store import AuditEntry, AuditQuery, AuditStore, Page, Store


def record(
    *,
    store: AuditStore,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append one entry. Written synchronously: an audit line that may be lost is not an audit line."""
    entry = AuditEntry(
        id=uuid.uuid4().hex,
        at=at or datetime.now(UTC),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        ip=ip,
        details=details or {},
    )
    store.append_audit([entry])
    return entry


def record_changes(
    *, store: Store, actor: str, ip: str | None, action: str, target: tuple[str, str], changes: list[Any]
) -> None:
    """One entry for a change to `target` (type, id) listing its field `changes`; none when the change
    changed nothing (a repeated click is not an action)."""
    if changes:
        record(
            store=store,
            actor=actor,
            action=action,
            target_type=target[0],
            target_id=target[1],
            ip=ip,
            details={"changes": changes},
        )


def search(*, store: AuditStore, query: AuditQuery) -> Page[AuditEntry]:
    check_store_cursor(query.cursor)
    return store.search_audit(query)
