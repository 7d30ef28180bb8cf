"""Reads wait out what Elasticsearch answers while it cannot serve them yet.

Right after an index is created, while its primary shards are being allocated, a search answers 503
`search_phase_execution_exception` (root cause `no_shard_available_action_exception`), a get answers
503 `no_shard_available_action_exception`; a node under pressure answers 429. The client's own
retries (`max_retries`, `retry_on_status`) resend at once, which does not outlast an allocation that
takes a second on a busy machine. So every read, whichever adapter sends it (they share the client
`connect` builds), is retried on those answers with exponential backoff and jitter (tenacity) for up
to `SOC_ES_READ_RETRY_S` seconds; then the last answer goes to the caller as before (a `StoreError`,
503 at the API). Writes are not retried here: the bulk writer has its own 429 handling, and a
resent write is not always harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from elastic_transport import Transport, TransportApiResponse
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_exponential_jitter

log = logging.getLogger(__name__)

#: Answers that mean "not now" rather than "no": too many requests, no shard available yet, a proxy's.
TRANSIENT: frozenset[int] = frozenset({429, 502, 503, 504})
#: POST endpoints that only read (searches, counts, multi-gets, opening a point in time).
READ_ENDPOINTS = frozenset({"_search", "_count", "_mget", "_msearch", "_pit", "scroll"})
FIRST_WAIT_S = 0.05
LONGEST_WAIT_S = 1.0


def is_read(method: str, target: str) -> bool:
    """GET and HEAD, and the POSTs that search or count."""
    if method in ("GET", "HEAD"):
        return True
    last = target.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return method == "POST" and last in READ_ENDPOINTS


def _last_answer(state: RetryCallState) -> Any:
    """The budget is spent: the caller gets the last answer, as without this retry."""
    assert state.outcome is not None
    return state.outcome.result()


def read_retrying(
    budget_s: float,
    *,
    transient: Collection[int] = TRANSIENT,
    sleep: Callable[[float], None] = time.sleep,
) -> Retrying:
    """The retry policy: while the answer's status is transient, wait 50 ms, 100 ms, 200 ms... (at most
    1 s, with jitter) and ask again, for at most `budget_s` seconds in all."""

    def note(state: RetryCallState) -> None:
        status = state.outcome.result().meta.status if state.outcome else None
        log.info("Elasticsearch answered %s to a read; asking again (try %d)", status, state.attempt_number)

    return Retrying(
        retry=retry_if_result(lambda resp: resp.meta.status in transient),
        wait=wait_exponential_jitter(multiplier=FIRST_WAIT_S, max=LONGEST_WAIT_S, jitter=FIRST_WAIT_S),
        stop=stop_after_delay(budget_s),
        retry_error_callback=_last_answer,
        before_sleep=note,
        sleep=sleep,
    )


def retrying_transport(budget_s: float) -> type[Transport]:
    """A transport class (`Elasticsearch(transport_class=...)`) whose reads follow `read_retrying`."""

    class ReadRetryTransport(Transport):
        def perform_request(self, method: str, target: str, **kwargs: Any) -> TransportApiResponse:
            send = super().perform_request
            if budget_s <= 0 or not is_read(method, target):
                return send(method, target, **kwargs)
            answer: TransportApiResponse = read_retrying(budget_s)(send, method, target, **kwargs)
            return answer

    return ReadRetryTransport
