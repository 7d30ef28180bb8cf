"""The notification port: a `Message` for one recipient, and the `Channel` that delivers it.

The notify stage (`notify/`) decides what to say to whom; channel adapters (`notifiers/`: SMTP,
webhook, Telegram Bot API) deliver. A channel tells the stage how a failure should be treated by
the error it raises: `DeliveryRetryable` (the server is down, busy or rate-limiting: try again
later, `retry_after` when the server said how long) or `DeliveryRefused` (the server refused this
message for good: a wrong address, a bad token; retrying cannot help). Anything that cannot be
delivered ends as a dead letter of stage "notify" with the reason, never silently.

One message has one recipient, so a retry or a dead letter concerns exactly one address. Its
`key` is deterministic (what was said, to whom, about what): a replay after a crash re-sends with
the same key, which SMTP carries as the Message-ID and webhooks as a header, so receivers can
drop the duplicate (the Bot API has no such field; at-least-once there).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from soc_core.errors import ConfigError, SocError

ChannelName = Literal["email", "telegram", "webhook"]
CHANNELS: tuple[ChannelName, ...] = ("email", "telegram", "webhook")


@dataclass(frozen=True, slots=True, order=True)
class Recipient:
    """Where a message goes: `email:an@so.gov.vn`, `telegram:<chat id>`, `webhook:<https URL>`."""

    channel: ChannelName
    address: str

    @classmethod
    def parse(cls, text: str) -> Recipient:
        channel, sep, address = text.strip().partition(":")
        if not sep or not address.strip():
            raise ConfigError("a recipient is <channel>:<address>", recipient=text)
        for name in CHANNELS:
            if channel.lower() == name:
                return cls(name, address.strip())
        raise ConfigError(f"unknown channel (known: {', '.join(CHANNELS)})", recipient=text)

    def __str__(self) -> str:
        return f"{self.channel}:{self.address}"


MessageKind = Literal["alert", "digest", "escalation", "report"]


class Attachment(BaseModel):
    """A file sent with a message (the periodic report's PDF); channels without files ignore it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filename: str
    content_type: str = Field(pattern=r"^[a-z]+/[a-zA-Z0-9.+-]+$")
    data: bytes = Field(
        exclude=True, repr=False, description="left out of dumps: a dead letter names the file, not its bytes"
    )


class Message(BaseModel):
    """One notification to one recipient: plain text always, HTML where the channel shows it,
    and `data` (the alert ids, severity, link...) for machine receivers (webhooks)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(description="idempotency key: the same notification always has the same key")
    kind: MessageKind
    recipient: Recipient
    subject: str
    text: str
    html: str | None = None
    alert_ids: tuple[str, ...] = ()
    data: dict[str, Any] = Field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


def message_key(kind: str, recipient: Recipient, *parts: str) -> str:
    """A deterministic key for what a message is about (its kind, recipient and subject ids)."""
    h = hashlib.blake2b(digest_size=16)
    for part in (kind, str(recipient), *parts):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


class DeliveryError(SocError):
    """A channel could not deliver a message; `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class DeliveryRetryable(DeliveryError):
    """Down, busy, timed out or rate-limited: try again (after `retry_after` seconds if given)."""

    retryable = True


class DeliveryRefused(DeliveryError):
    """Refused for good (unknown address, bad credentials, malformed request): do not retry."""


class Channel(Protocol):
    """A way to reach people. `send` returns once the server accepted the message, else raises
    `DeliveryRetryable` or `DeliveryRefused` (never anything else for a delivery failure)."""

    @property
    def name(self) -> ChannelName: ...

    def send(self, message: Message) -> None: ...

    def close(self) -> None: ...
