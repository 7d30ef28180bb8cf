"""The admin's edits of the routing rules and the response guidance: validate, version, audit.

A save names the version it was edited from (`base_version`): the new text becomes the next version
only if that is still the current one, so two admins editing at once cannot undo each other (the
second gets a 409 and reloads). The text is parsed first (`notify.config.parse`): a text with a
problem is refused with every problem named (a 422 problem, or the form's errors) and nothing is
stored. Each save writes an audit entry with the versions, the reason and the changed lines (and,
for the routing, the on-call list and escalation chain before and after when they change: who is
on duty is the first thing an auditor asks). The running notifiers pick the new version up within
`SOC_NOTIFY_CONFIG_POLL_S`.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime

from api.alerts.errors import Conflict
from api.audit import service as audit
from api.auth.models import Principal
from api.errors import InvalidChange, NotFound
from api.notify.models import ConfigVersionRead, ContactsRead, ListName
from notify.config import NotifyConfigInvalid, parse, seed_text
from notify.rules import RoutingRules
from soc_core.notify_config import ConfigKind, ConfigVersionTaken, NotifyConfigStore, NotifyConfigVersion
from soc_core.settings import NotifySettings
from soc_core.store import AuditStore

DIFF_KEPT = 8_000
"""Characters of the changed lines kept in the audit entry (the whole text is in the version)."""


def _read(v: NotifyConfigVersion) -> ConfigVersionRead:
    return ConfigVersionRead(
        kind=v.kind, version=v.version, text=v.text, author=v.author, reason=v.reason, created_at=v.created_at
    )


def seed(kind: ConfigKind, settings: NotifySettings) -> ConfigVersionRead:
    return ConfigVersionRead(
        kind=kind, version=0, text=seed_text(kind, settings), author=None, reason=None, created_at=None
    )


def current(*, repo: NotifyConfigStore, settings: NotifySettings, kind: ConfigKind) -> ConfigVersionRead:
    """The version in force: the newest saved one, else the seed."""
    found = repo.current(kind)
    return _read(found) if found is not None else seed(kind, settings)


def history(
    *, repo: NotifyConfigStore, settings: NotifySettings, kind: ConfigKind
) -> list[ConfigVersionRead]:
    """The newest `SOC_NOTIFY_CONFIG_HISTORY_LISTED` versions, newest first, the seed last when it fits."""
    found = [_read(v) for v in repo.history(kind, settings.config_history_listed)]
    if len(found) < settings.config_history_listed:
        found.append(seed(kind, settings))
    return found


def version(
    *, repo: NotifyConfigStore, settings: NotifySettings, kind: ConfigKind, number: int
) -> ConfigVersionRead:
    if number == 0:
        return seed(kind, settings)
    found = repo.get(kind, number)
    if found is None:
        raise NotFound("no such version", kind=kind.value, version=number)
    return _read(found)


def _lists(settings: NotifySettings, text: str) -> tuple[dict[str, list[str]], list[ListName]]:
    """The on-call list and escalation chain a routing text puts in force, and which of them it
    leaves to the settings."""
    rules: RoutingRules = parse(ConfigKind.ROUTING, text)
    stated: dict[ListName, list[str] | None] = {"oncall": rules.oncall, "escalation": rules.escalation}
    defaults = {"oncall": list(settings.oncall), "escalation": list(settings.escalation)}
    return (
        {k: defaults[k] if v is None else list(v) for k, v in stated.items()},
        [k for k, v in stated.items() if v is None],
    )


def contacts(*, repo: NotifyConfigStore, settings: NotifySettings) -> ContactsRead:
    """Who is on duty by the routing version in force (a stored text that no longer parses raises
    `NotifyConfigInvalid`, as saving it would)."""
    routing = current(repo=repo, settings=settings, kind=ConfigKind.ROUTING)
    found, defaulted = _lists(settings, routing.text)
    return ContactsRead(
        version=routing.version,
        oncall=found["oncall"],
        escalation=found["escalation"],
        from_settings=defaulted,
    )


def _contacts_changed(settings: NotifySettings, before: str, after: str) -> dict[str, dict[str, list[str]]]:
    """`{"oncall": {"before": [...], "after": [...]}}` for each list the save changes."""
    try:
        old, _ = _lists(settings, before)
    except NotifyConfigInvalid:
        old = {}  # the version replaced no longer parses: every list is news
    new, _ = _lists(settings, after)
    return {k: {"before": old.get(k, []), "after": v} for k, v in new.items() if old.get(k) != v}


def save(
    *,
    repo: NotifyConfigStore,
    audit_store: AuditStore,
    settings: NotifySettings,
    kind: ConfigKind,
    text: str,
    reason: str,
    base_version: int,
    actor: Principal,
    ip: str | None,
) -> ConfigVersionRead:
    """Raises `NotifyConfigInvalid` (nothing stored) or `Conflict` when `base_version` is not current."""
    if not reason.strip():
        raise InvalidChange("say why you change it (the reason is kept with the version)", kind=kind.value)
    parse(kind, text)
    before = current(repo=repo, settings=settings, kind=kind)
    stale = Conflict(
        "the configuration changed since you opened it; reload and apply your change again",
        kind=kind.value,
        current_version=before.version,
    )
    if before.version != base_version:
        raise stale
    saved = NotifyConfigVersion(
        kind=kind,
        version=before.version + 1,
        text=text,
        author=actor.username,
        reason=reason.strip(),
        created_at=datetime.now(UTC),
    )
    try:
        repo.put(saved)
    except ConfigVersionTaken as exc:
        raise stale from exc
    diff = "\n".join(
        difflib.unified_diff(
            before.text.splitlines(),
            text.splitlines(),
            f"v{before.version}",
            f"v{saved.version}",
            lineterm="",
        )
    )
    details: dict[str, object] = {
        "version": saved.version,
        "previous_version": before.version,
        "reason": saved.reason,
        "diff": diff[:DIFF_KEPT],
    }
    if kind is ConfigKind.ROUTING:
        details.update(_contacts_changed(settings, before.text, text))
    audit.record(
        store=audit_store,
        actor=actor.username,
        action="notify.config.save",
        target_type="notify_config",
        target_id=kind.value,
        ip=ip,
        details=details,
        at=saved.created_at,
    )
    return _read(saved)
