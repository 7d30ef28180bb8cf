"""Delivery: each message through its channel, retried with backoff, or a dead letter with the reason.

A `DeliveryRetryable` failure is tried again (exponential backoff with jitter from
`SOC_NOTIFY_RETRY_INITIAL_S` to `SOC_NOTIFY_RETRY_MAX_S`, longer when the server asked for it with
a Retry-After) up to `SOC_NOTIFY_RETRY_ATTEMPTS` tries; a `DeliveryRefused` one at once, like a
recipient whose channel is not configured, ends as a dead letter of stage "notify" whose reason
says which channel, what failed and after how many tries. A channel failing in a way its contract
does not allow (a bug) fails that one message, logged with its traceback, not the batch: the
stage has already marked the batch's alert groups as told, so a batch retried would stay silent.
The sleep is injected: tests pass a recorder, workers a stop event's wait, so a shutdown cuts a
pause short.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from soc_core.metrics import EVENTS_DROPPED, EVENTS_SENT
from soc_core.notify import Channel, DeliveryError, Message
from soc_core.records import DeadLetter

log = logging.getLogger(__name__)

STAGE = "notify"


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.retryable


def notify_deadletter(message: Message, reason: str) -> DeadLetter:
    return DeadLetter(
        id=f"notify-{message.key}",
        stage=STAGE,
        format_tried=message.recipient.channel,
        reason=reason[:2000],
        raw=message.model_dump_json(),
    )


class Dispatcher:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        *,
        attempts: int,
        initial_s: float,
        max_s: float,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.channels = dict(channels)
        self._attempts = attempts
        self._max_s = max_s
        self._backoff = wait_exponential_jitter(multiplier=initial_s, max=max_s, jitter=initial_s)
        self._sleep = sleep

    def _wait(self, state: RetryCallState) -> float:
        """Backoff, or what the server asked for when longer (both capped at the maximum)."""
        exc = state.outcome.exception() if state.outcome is not None else None
        asked = exc.retry_after if isinstance(exc, DeliveryError) and exc.retry_after else 0.0
        return min(self._max_s, max(self._backoff(state), asked))

    def _pause(self, seconds: float) -> None:
        self._sleep(seconds)

    def deliver(self, messages: Sequence[Message]) -> list[DeadLetter]:
        """Send every message; the ones that could not be delivered come back as dead letters.

        Each channel's messages go in order in a thread of their own, so a mail server being
        retried does not hold back the Telegram messages of the same batch."""
        failed: list[DeadLetter] = []
        by_channel: dict[str, list[Message]] = {}
        for message in messages:
            if message.recipient.channel in self.channels:
                by_channel.setdefault(message.recipient.channel, []).append(message)
            else:
                reason = f"no {message.recipient.channel} channel configured for {message.recipient}"
                failed.append(notify_deadletter(message, reason))
                EVENTS_DROPPED.labels(STAGE, "no_channel").inc()
        if len(by_channel) <= 1:
            for name, queued in by_channel.items():
                failed += self._deliver(self.channels[name], queued)
            return failed
        with ThreadPoolExecutor(max_workers=len(by_channel), thread_name_prefix="notify") as pool:
            running = [pool.submit(self._deliver, self.channels[n], q) for n, q in by_channel.items()]
            for future in running:
                failed += future.result()
        return failed

    def _deliver(self, channel: Channel, messages: Sequence[Message]) -> list[DeadLetter]:
        failed: list[DeadLetter] = []
        for message in messages:
            tries = 0
            retrying = Retrying(
                stop=stop_after_attempt(self._attempts),
                wait=self._wait,
                retry=retry_if_exception(_retryable),
                sleep=self._pause,
                reraise=True,
            )
            try:
                for attempt in retrying:
                    with attempt:
                        tries += 1
                        channel.send(message)
            except DeliveryError as exc:
                what = "gave up after" if exc.retryable else "refused at try"
                reason = f"{message.recipient.channel} to {message.recipient}: {what} {tries}: {exc}"
                log.warning("notification not delivered: %s", reason)
                failed.append(notify_deadletter(message, reason))
                EVENTS_DROPPED.labels(STAGE, "undeliverable").inc()
                continue
            except Exception as exc:  # a channel bug: this message's dead letter, the others still go
                log.exception("channel %s failed unexpectedly on %s", message.recipient.channel, message.key)
                reason = (
                    f"{message.recipient.channel} to {message.recipient}: failed: {type(exc).__name__}: {exc}"
                )
                failed.append(notify_deadletter(message, reason))
                EVENTS_DROPPED.labels(STAGE, "failed").inc()
                continue
            EVENTS_SENT.labels(STAGE).inc()
        return failed

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()
