"""Telegram: `sendMessage` of the Bot API over HTTPS, to a chat id (a person or a group).

The base URL is a setting: a self-hosted Bot API server, a proxy the province's network allows,
or a local stand-in in tests. The text is sent plain (no parse mode), so nothing from a log can
turn into markup; Telegram's 4,096-character limit cuts a longer one. The bot token is part of
every request path, so it is kept out of every error this channel raises.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from notifiers.http import retry_after, status_error, transport_error
from soc_core.notify import DeliveryError, Message

MAX_TEXT = 4096  # Bot API: the longest message text


class TelegramChannel:
    name: Literal["telegram"] = "telegram"

    def __init__(self, token: str, api_url: str, *, timeout_s: float) -> None:
        self._token = token
        self._path = f"/bot{token}/sendMessage"
        self._client = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout_s, follow_redirects=False)

    def send(self, message: Message) -> None:
        text = message.text if len(message.text) <= MAX_TEXT else message.text[: MAX_TEXT - 1] + "…"
        chat = message.recipient.address
        try:
            response = self._client.post(
                self._path, json={"chat_id": chat, "text": text, "disable_web_page_preview": True}
            )
        except httpx.TransportError as exc:
            raise self._redacted(transport_error(exc, chat=chat)) from None
        try:
            answer: Any = response.json()
        except ValueError:
            answer = {}
        if response.is_success and isinstance(answer, dict) and answer.get("ok") is True:
            return
        answer = answer if isinstance(answer, dict) else {}
        description = str(answer.get("description") or response.text[:300])
        params = answer.get("parameters")
        after = params.get("retry_after") if isinstance(params, dict) else None
        error = status_error(
            response.status_code,
            description,
            after=float(after) if isinstance(after, int | float) else retry_after(response),
            chat=chat,
        )
        raise self._redacted(error)

    def _redacted(self, error: DeliveryError) -> DeliveryError:
        error.message = error.message.replace(self._token, "<token>")
        error.args = (error.message,)
        return error

    def close(self) -> None:
        self._client.close()
