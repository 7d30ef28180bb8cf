"""`POST /api/v1/notify/acknowledge`: the token of an early warning's link, no sign-in; and the
routing rules and guidance an admin edits (`/api/v1/notify/config/{routing|guidance}`: read by the
province-wide roles, saved by an admin as a new version, audited; `api.notify.config`), with the
on-call list and escalation chain they put in force (`/api/v1/notify/contacts`).

The token is the credential (signed, expiring, naming the alert and the recipient): a unit's
contact has no console account. Like every unsafe request of the API it carries the CSRF token
(the page behind the link sets the cookie and puts the token in its form). A GET never
acknowledges: mail scanners and link previews open links, so that page asks for a click that POSTs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.auth.csrf import csrf_protect
from api.auth.deps import PROVINCE_WIDE, Principal, Role, require_roles
from api.deps import ClientIp, StoreDep, app_context
from api.notify import config, service
from api.notify.models import Acknowledgement, AcknowledgeRequest, ConfigSave, ConfigVersionRead, ContactsRead
from soc_core.notify_config import ConfigKind, NotifyConfigStore
from soc_core.settings import NotifySettings

router = APIRouter(prefix="/api/v1/notify", tags=["notify"], dependencies=[Depends(csrf_protect)])


def _secret(request: Request) -> str:
    """The key links are signed with: the process secret, as the notifier signed them."""
    return app_context(request).settings.secret_key.get_secret_value()


SecretDep = Annotated[str, Depends(_secret)]


@router.post("/acknowledge", response_model=Acknowledgement)
def acknowledge(
    body: AcknowledgeRequest, store: StoreDep, ip: ClientIp, secret: SecretDep
) -> Acknowledgement:
    """403 for a forged, malformed or expired token; 404 when the alert is not (or no longer) stored."""
    return service.acknowledge(store=store, secret=secret, token=body.token, now=datetime.now(UTC), ip=ip)


Reader = Annotated[Principal, Depends(require_roles(*PROVINCE_WIDE))]  # not inspectors: addresses
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


def _repo(request: Request) -> NotifyConfigStore:
    return app_context(request).backend.notify_config


def _settings(request: Request) -> NotifySettings:
    return app_context(request).settings.notify


RepoDep = Annotated[NotifyConfigStore, Depends(_repo)]
SettingsDep = Annotated[NotifySettings, Depends(_settings)]


@router.get("/contacts", response_model=ContactsRead)
def contacts(_: Reader, repo: RepoDep, settings: SettingsDep) -> ContactsRead:
    """The on-call list and the escalation chain in force (part of the routing configuration); a
    422 problem naming the place when the stored routing version no longer parses (the notifiers
    then keep the version before it)."""
    return config.contacts(repo=repo, settings=settings)


@router.get("/config/{kind}", response_model=ConfigVersionRead)
def config_current(kind: ConfigKind, _: Reader, repo: RepoDep, settings: SettingsDep) -> ConfigVersionRead:
    """The version in force (version 0: the seed file, never saved)."""
    return config.current(repo=repo, settings=settings, kind=kind)


@router.get("/config/{kind}/versions", response_model=list[ConfigVersionRead])
def config_history(
    kind: ConfigKind, _: Reader, repo: RepoDep, settings: SettingsDep
) -> list[ConfigVersionRead]:
    """Newest first, at most `SOC_NOTIFY_CONFIG_HISTORY_LISTED`."""
    return config.history(repo=repo, settings=settings, kind=kind)


@router.get("/config/{kind}/versions/{number}", response_model=ConfigVersionRead)
def config_version(
    kind: ConfigKind, number: int, _: Reader, repo: RepoDep, settings: SettingsDep
) -> ConfigVersionRead:
    return config.version(repo=repo, settings=settings, kind=kind, number=number)


@router.put("/config/{kind}", response_model=ConfigVersionRead)
def config_save(
    kind: ConfigKind,
    body: ConfigSave,
    user: Admin,
    repo: RepoDep,
    settings: SettingsDep,
    store: StoreDep,
    ip: ClientIp,
) -> ConfigVersionRead:
    """422 naming each problem (`errors[].location`: `rules.1.to`), nothing saved; 409 when
    `base_version` is no longer the current version."""
    return config.save(
        repo=repo,
        audit_store=store,
        settings=settings,
        kind=kind,
        text=body.text,
        reason=body.reason,
        base_version=body.base_version,
        actor=user,
        ip=ip,
    )
