"""Posting records to the HTTP intake, with retries that never give up on data.

`/ingest/v1/records` answers 202 only when every record is durable. Everything that can pass
later is retried with exponential backoff and jitter (tenacity), honouring `Retry-After`:
connection errors and timeouts, 429 (rate limit), 503 (Kafka down), other 5xx, and 401 (a token
being rotated: the data stays spooled until an operator fixes it, logged as an error). 400 and
413 will never pass: the caller quarantines what was sent.
"""

from __future__ import annotations

import gzip
import logging
import ssl
import threading
from collections.abc import Iterable
from typing import Any

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from soc_core.errors import IngestError

log = logging.getLogger(__name__)


class SendError(IngestError):
    """The intake did not accept a batch."""


class RetryableSendError(SendError):
    def __init__(self, message: str, retry_after: float | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class RejectedBatch(SendError):
    """The intake refused the batch for good (400, 413): resending it cannot help."""


class Stopped(SendError):
    """The shipper is stopping; the batch stays where it was (spool) and is sent next time."""


#: Level 1 makes a batch of log lines about 10% larger than level 5 did (40 KiB instead of 37 KiB
#: for 2,000 syslog lines) for 40% less CPU, and the shipper shares its host with what it ships.
GZIP_LEVEL = 1


def compress(body: bytes) -> bytes:
    """The request body as sent (`Content-Encoding: gzip`)."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL)


def encode_batch(records: Iterable[dict[str, Any]]) -> bytes:
    return compress(b"".join(orjson.dumps(r) + b"\n" for r in records))


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


class IntakeClient:
    """One HTTP client to `<url>/ingest/v1/records` for one source token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        max_backoff_s: float = 30.0,
        stop: threading.Event | None = None,
        verify: bool | str = True,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/ingest/v1/records"
        self._client = httpx.Client(
            timeout=timeout_s,
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/x-ndjson",
                "Content-Encoding": "gzip",
                "User-Agent": "socpipe-ship/1",
            },
        )
        self.stop = stop or threading.Event()
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=max_backoff_s, jitter=0.5)
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def post_once(self, body: bytes) -> dict[str, Any]:
        try:
            resp = self._client.post(self.endpoint, content=body)
        except httpx.TransportError as exc:
            raise RetryableSendError(f"intake unreachable: {exc}", url=self.endpoint) from exc
        if resp.status_code == 202:
            answer: dict[str, Any] = resp.json()
            return answer
        detail = resp.text[:300]
        if resp.status_code in (400, 413):
            raise RejectedBatch(f"intake refused the batch ({resp.status_code}): {detail}")
        if resp.status_code == 401:
            log.error("intake refused the token (401): check the shipper's token; data stays spooled")
        raise RetryableSendError(
            f"intake answered {resp.status_code}: {detail}",
            retry_after=_retry_after(resp),
            status=resp.status_code,
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, RetryableSendError) and exc.retry_after:
            return max(backoff, exc.retry_after)
        return backoff

    def _log_retry(self, state: RetryCallState) -> None:
        self.retries += 1
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning("send failed (attempt %d), retrying in %.1fs: %s", state.attempt_number, wait, exc)

    def post(self, body: bytes) -> dict[str, Any]:
        """Post until accepted; raises RejectedBatch (never passes) or Stopped (shutting down)."""
        retrying = Retrying(
            retry=retry_if_exception_type(RetryableSendError),
            wait=self._wait,
            stop=self._stopping,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self.post_once(body)
        except RetryableSendError as exc:
            raise Stopped(f"stopped while retrying: {exc}") from exc
        raise Stopped("stopped")  # pragma: no cover - Retrying either returns or raises

    def _stopping(self, state: RetryCallState) -> bool:
        return self.stop.is_set()

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)
