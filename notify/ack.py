"""Acknowledgement links: a unit confirms it received an early warning by opening one.

The token is `<alert id>.<recipient>.<expiry>` signed with HMAC-SHA256 under the process secret
(`SOC_SECRET_KEY`), all base64url, so the link needs no stored state, names who acknowledged, and
stops working at its expiry. The endpoint that records the acknowledgement verifies it with
`verify_ack`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from soc_core.errors import SocError

_PURPOSE = b"socpipe-ack-v1\x00"


class AckLinkInvalid(SocError):
    """An acknowledgement token that was tampered with, is malformed, or has expired."""


@dataclass(frozen=True, slots=True)
class AckClaim:
    alert_id: str
    recipient: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + body, hashlib.sha256).digest()


def sign_ack(secret: str, alert_id: str, recipient: str, expires: datetime) -> str:
    body = "\x00".join((alert_id, recipient, str(int(expires.timestamp())))).encode()
    return f"{_b64(body)}.{_b64(_mac(secret, body))}"


def verify_ack(secret: str, token: str, now: datetime) -> AckClaim:
    """The claim a valid, unexpired token carries; raises `AckLinkInvalid` otherwise."""
    try:
        body_part, mac_part = token.split(".")
        body, mac = _unb64(body_part), _unb64(mac_part)
        alert_id, recipient, expiry = body.decode().split("\x00")
        expires = datetime.fromtimestamp(int(expiry), UTC)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AckLinkInvalid("malformed acknowledgement link") from exc
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise AckLinkInvalid("acknowledgement link signature does not match", alert_id=alert_id)
    if now >= expires:
        raise AckLinkInvalid("acknowledgement link expired", alert_id=alert_id, expired=expires.isoformat())
    return AckClaim(alert_id, recipient, expires)


def ack_url(console_url: str, token: str) -> str:
    return f"{console_url.rstrip('/')}/acknowledge/{token}"
