"""SIGKILL of every process kind during a replay, on the real Kafka and Elasticsearch: the normalize,
detect, correlate and index workers and the API are each killed while records stream in, and a new
one takes its place. Every acknowledged record is indexed exactly once; every alert is there once,
counting each event once (a replayed event is not a repeat); the correlation counts every failed
logon once. A client whose request died with the API saw an error and sent it again: only
acknowledged records are promised, and they are all there.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.chaos.stack import TOKEN, Sender, Stack, event_id, record, stack_fixture
from tests.servers import Servers

TOTAL = 6000
PROCESSES = ("api", "normalize", "detect", "correlate", "index")
KILLS = ("normalize", "detect", "correlate", "api", "index")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def stack(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One pipeline for the module (the tests run in order: the replay, then the cut request)."""
    tmp = tmp_path_factory.mktemp("kills")
    yield from stack_fixture(servers, f"t{uuid.uuid4().hex[:10]}-", tmp, *PROCESSES)


def test_every_acknowledged_record_once_through_sigkills_of_every_process_kind(stack: Stack) -> None:
    sender = Sender(stack.url, TOTAL)
    sender.start()
    for n, name in enumerate(KILLS, 1):
        sender.wait_progress(n * TOTAL // (len(KILLS) + 1))
        stack.kill(name, wait=False)
    sender.join(timeout=300)
    assert not sender.is_alive(), f"sender stuck: {sender.statuses}"
    assert set(sender.statuses) <= {202, 503}, sender.statuses  # never a 5xx but back-pressure
    assert len(sender.acknowledged) == TOTAL
    stack.check_exactly_once(TOTAL, sender.acknowledged)
    stack.wait_healthy()  # every replacement came up and stayed up


def test_a_request_cut_by_an_api_kill_is_an_error_and_nothing_of_it_is_promised(stack: Stack) -> None:
    """The API is SIGKILLed while a request's body is still arriving: the client gets an error (no
    acknowledgement), and the records it had sent are not half-accepted: none is indexed. The
    request sent again to the new API process is acknowledged and indexed, once."""
    numbers = range(TOTAL, TOTAL + 100)
    half_sent, resume = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        for n in numbers:
            if n == TOTAL + 50:
                half_sent.set()
                resume.wait(60)
            yield orjson.dumps(record(n)) + b"\n"

    outcome: list[object] = []

    def post() -> None:
        try:
            outcome.append(
                httpx.post(f"{stack.url}/ingest/v1/events", content=body(), headers=AUTH, timeout=60)
            )
        except httpx.TransportError as exc:
            outcome.append(exc)

    client = threading.Thread(target=post)
    client.start()
    assert half_sent.wait(30)
    stack.kill("api")  # mid-body: half the records sent, no answer yet
    resume.set()
    client.join(60)
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.TransportError), outcome
    time.sleep(5)  # what the dead process had read would be indexed by now: nothing was published
    assert not {event_id(n) for n in numbers} & set(stack.indexed_ids())

    again = b"".join(body_line for body_line in body())  # the shipper sends it again
    resp = httpx.post(f"{stack.url}/ingest/v1/events", content=again, headers=AUTH, timeout=60)
    assert resp.status_code == 202, resp.text
    stack.wait_indexed(set(numbers))
    ours = [i for i in stack.indexed_ids() if i in {event_id(n) for n in numbers}]
    assert sorted(ours) == sorted(event_id(n) for n in numbers)

    # SIGTERM: each worker finishes its batch, commits and exits cleanly.
    for name in ("normalize", "index"):
        assert stack.procs[name].terminate() == 0, stack.procs[name].log()
        assert "stopped after" in stack.procs[name].log()
