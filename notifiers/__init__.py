"""Channel adapters for the notification port (`soc_core.notify.Channel`): email over SMTP, a
generic signed webhook, and Telegram's Bot API. Like `stores/` and `buses/` they implement a
kernel port and import nothing else of the project; `build_channels` makes the ones the settings
configure."""

from __future__ import annotations

from notifiers.smtp import SmtpChannel
from notifiers.telegram import TelegramChannel
from notifiers.webhook import WebhookChannel
from soc_core.notify import Channel
from soc_core.settings import NotifySettings


def build_channels(settings: NotifySettings) -> dict[str, Channel]:
    """The channels whose settings are given (an unconfigured channel's messages become dead letters)."""
    channels: dict[str, Channel] = {}
    if settings.smtp_host:
        channels["email"] = SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            sender=settings.smtp_from,
            timeout_s=settings.timeout_s,
            ca_file=settings.smtp_ca_file,
        )
    if settings.telegram_token:
        channels["telegram"] = TelegramChannel(
            settings.telegram_token.get_secret_value(),
            settings.telegram_api_url,
            timeout_s=settings.timeout_s,
        )
    if settings.webhook_secret:
        channels["webhook"] = WebhookChannel(
            settings.webhook_secret.get_secret_value(), timeout_s=settings.timeout_s
        )
    return channels


__all__ = ["SmtpChannel", "TelegramChannel", "WebhookChannel", "build_channels"]
