"""`POST /api/v1/notify/acknowledge`: the token of an early warning's link, no sign-in.

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
from api.deps import ClientIp, StoreDep, app_context
from api.notify import service
from api.notify.models import Acknowledgement, AcknowledgeRequest

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
