"""The page behind an early warning's acknowledgement link (issue 16), for a unit's contact who has
no console account: the signed token is the credential.

Opening the link shows the alert in a few words and a button; only the button's POST acknowledges
(`api.notify.service`), since mail scanners and link previews open links by themselves. A
forged, malformed or expired link gets a 403 page saying so; an alert already acknowledged shows
when, and the button is gone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.errors import NotFound
from api.i18n import N_
from api.notify import service
from notify.ack import AckLinkInvalid, verify_ack
from soc_console.pages.common import app_context, client_ip, render, see_other

router = APIRouter()


def _refused(request: Request, exc: AckLinkInvalid) -> HTMLResponse:
    expired = "expired" in exc.message
    error = N_("This link has expired.") if expired else N_("This link is not valid.")
    return render(request, "acknowledge.html", status_code=403, error=error, alert=None, token="")


@router.get("/acknowledge/{token}", response_class=HTMLResponse)
def acknowledge_page(request: Request, token: str) -> HTMLResponse:
    ctx = app_context(request)
    try:
        claim = verify_ack(ctx.settings.secret_key.get_secret_value(), token, datetime.now(UTC))
    except AckLinkInvalid as exc:
        return _refused(request, exc)
    alert = ctx.store.get_alert(claim.alert_id)
    if alert is None:
        raise NotFound("no such alert", alert_id=claim.alert_id)
    return render(
        request, "acknowledge.html", alert=alert, recipient=claim.recipient, token=token, error=None
    )


@router.post("/acknowledge/{token}", response_class=HTMLResponse)
def acknowledge_submit(request: Request, token: str) -> Response:
    ctx = app_context(request)
    try:
        service.acknowledge(
            store=ctx.store,
            secret=ctx.settings.secret_key.get_secret_value(),
            token=token,
            now=datetime.now(UTC),
            ip=client_ip(request),
        )
    except AckLinkInvalid as exc:
        return _refused(request, exc)
    return see_other(f"/acknowledge/{token}")
