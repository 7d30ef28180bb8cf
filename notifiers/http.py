"""What the HTTP channels share: how an HTTP answer or a transport failure maps to the port's errors."""

from __future__ import annotations

from typing import Any

import httpx

from soc_core.notify import DeliveryError, DeliveryRefused, DeliveryRetryable


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (the HTTP-date form is rare for APIs and is ignored)."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def status_error(status: int, detail: str, *, after: float | None, **context: Any) -> DeliveryError:
    """429 and 5xx are worth another try (408 too); any other refusal is final."""
    if status in (408, 429) or status >= 500:
        return DeliveryRetryable(f"HTTP {status}: {detail}", retry_after=after, status=status, **context)
    return DeliveryRefused(f"HTTP {status}: {detail}", status=status, **context)


def transport_error(exc: httpx.TransportError, **context: Any) -> DeliveryRetryable:
    """Connection refused, DNS, TLS handshake or timeout: the server may be back later. The
    exception's text is kept, not its request (whose URL may hold a bot token)."""
    return DeliveryRetryable(f"{type(exc).__name__}: {exc}", **context)
