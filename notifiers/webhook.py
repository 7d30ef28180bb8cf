"""Generic webhook: the message as JSON, POSTed to the recipient's URL, signed with HMAC-SHA256.

The receiver checks `X-Socpipe-Signature: sha256=<hex>` = HMAC-SHA256(secret, "<timestamp>." +
body), with `X-Socpipe-Timestamp` (Unix seconds) so an old request replayed later can be refused;
`Idempotency-Key` is the message key, the same on every retry and replay.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

import httpx
import orjson

from notifiers.http import retry_after, status_error, transport_error
from soc_core.notify import DeliveryRefused, Message

SIGNATURE_HEADER = "X-Socpipe-Signature"
TIMESTAMP_HEADER = "X-Socpipe-Timestamp"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookChannel:
    name: Literal["webhook"] = "webhook"

    def __init__(self, secret: str, *, timeout_s: float) -> None:
        self._secret = secret
        self._client = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def send(self, message: Message) -> None:
        url = message.recipient.address
        if not url.startswith(("https://", "http://")):
            raise DeliveryRefused("a webhook address must be an http(s) URL", url=url)
        body = orjson.dumps(
            {
                "key": message.key,
                "kind": message.kind,
                "subject": message.subject,
                "text": message.text,
                "data": message.data,
            }
        )
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
            TIMESTAMP_HEADER: timestamp,
            "Idempotency-Key": message.key,
        }
        try:
            response = self._client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, url=url) from exc
        if response.is_success:
            return
        raise status_error(response.status_code, response.text[:300], after=retry_after(response), url=url)

    def close(self) -> None:
        self._client.close()
