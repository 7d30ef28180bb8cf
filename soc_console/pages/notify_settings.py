"""The early warnings' routing rules and response guidance, edited by an admin (issue 16).

One page per kind (`/settings/notify?kind=routing|guidance`): the YAML in force in a text box, who
saved it, when and why, who is on duty by the routing in force (the on-call list and the
escalation chain, which the routing text names), and the previous versions (any of them opens
in the box, so going back is saving an old text again). Saving goes through `api.notify.config`
like the JSON API: a text with a problem is shown again with each problem named by rule and field
and nothing is saved; a save over a version someone saved meanwhile is refused. The notifiers
pick a saved version up within `SOC_NOTIFY_CONFIG_POLL_S`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.alerts.errors import Conflict
from api.auth.deps import Principal
from api.errors import InvalidChange
from api.i18n import N_
from api.notify import config
from api.notify.models import ContactsRead
from notify.config import ConfigProblem, NotifyConfigInvalid
from soc_console.pages.common import Admin, app_context, client_ip, render, see_other
from soc_console.pages.forms import choice
from soc_core.notify_config import ConfigKind, NotifyConfigStore
from soc_core.settings import NotifySettings

router = APIRouter()

KIND_LABELS = {ConfigKind.ROUTING: N_("Routing rules"), ConfigKind.GUIDANCE: N_("Response guidance")}


def _page(
    request: Request,
    kind: ConfigKind,
    *,
    shown: int | None = None,
    text: str | None = None,
    reason: str = "",
    problems: list[ConfigProblem] | None = None,
    error: str | None = None,
    status_code: int = 200,
    saved: int | None = None,
) -> HTMLResponse:
    ctx = app_context(request)
    settings, repo = ctx.settings.notify, ctx.backend.notify_config
    current = config.current(repo=repo, settings=settings, kind=kind)
    viewed = (
        config.version(repo=repo, settings=settings, kind=kind, number=shown)
        if shown is not None
        else current
    )
    values: dict[str, Any] = {
        "kind": kind.value,
        "kinds": [(k.value, KIND_LABELS[k]) for k in ConfigKind],
        "current": current,
        "viewed": viewed,
        "text": viewed.text if text is None else text,
        "reason": reason,
        "problems": problems or [],
        "error": error,
        "saved": saved,
        "versions": config.history(repo=repo, settings=settings, kind=kind),
        "poll_s": settings.config_poll_s,
        "contacts": _contacts(repo, settings) if kind is ConfigKind.ROUTING else None,
    }
    return render(request, "notify_settings.html", nav="notify", status_code=status_code, **values)


def _contacts(repo: NotifyConfigStore, settings: NotifySettings) -> ContactsRead | None:
    """Who is on duty; None when the stored version no longer parses (the notifiers keep the one
    before it, and say so in their log)."""
    try:
        return config.contacts(repo=repo, settings=settings)
    except NotifyConfigInvalid:
        return None


def _kind(value: str) -> ConfigKind:
    return choice(ConfigKind, value, field="kind") or ConfigKind.ROUTING


@router.get("/settings/notify", response_class=HTMLResponse)
def notify_settings_page(
    request: Request, _: Admin, kind: str = "", version: int | None = None, saved: int | None = None
) -> HTMLResponse:
    return _page(request, _kind(kind), shown=version, saved=saved)


@router.post("/settings/notify/{kind}", response_class=HTMLResponse)
async def notify_settings_save(
    request: Request,
    kind: str,
    user: Admin,
    text: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    base_version: Annotated[str, Form()] = "0",
) -> Response:
    which = _kind(kind)
    text = text.replace("\r\n", "\n")  # a text box sends CRLF
    try:
        base = int(base_version)
    except ValueError:
        raise InvalidChange("base_version must be a number", field="base_version") from None
    try:
        saved = await run_in_threadpool(_save, request, which, text, reason, base, user)
    except NotifyConfigInvalid as exc:
        return _page(request, which, text=text, reason=reason, problems=exc.problems, status_code=422)
    except Conflict:
        error = N_(
            "Someone saved a newer version while you were editing: your text is below, the list shows theirs."
        )
        return _page(request, which, text=text, reason=reason, error=error, status_code=409)
    except InvalidChange:
        error = N_("Say why you change it: the reason is kept with the version.")
        return _page(request, which, text=text, reason=reason, error=error, status_code=422)
    return see_other(f"/settings/notify?kind={which.value}&saved={saved}")


def _save(request: Request, kind: ConfigKind, text: str, reason: str, base: int, user: Principal) -> int:
    ctx = app_context(request)
    return config.save(
        repo=ctx.backend.notify_config,
        audit_store=ctx.store,
        settings=ctx.settings.notify,
        kind=kind,
        text=text,
        reason=reason,
        base_version=base,
        actor=user,
        ip=client_ip(request),
    ).version
