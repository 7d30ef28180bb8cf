"""A poison record per stage, through the real Kafka: a record that stage cannot process arrives the
way a sender with Kafka access would put it there (kcat straight into the stage's input topic, past
the intake's checks), between good records. The worker must not die on it: the record becomes a
dead letter with its reason, visible in `/api/v1/deadletters`, and the partition keeps moving (the
good records behind it are processed).

The poison is the issue's: a document nested 300 levels deep, which orjson reads (it parses up to
1024 levels) but cannot write back (254), so the stage used to fail while publishing or storing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from api.auth.models import Role
from api.auth.service import create_api_token
from buses.kafka import KafkaBus
from soc_core.errors import StoreError
from soc_core.records import RawRecord
from soc_core.settings import StoreSettings
from stores.elastic.store import ElasticStore
from tests.chaos.stack import CORRELATION, SOURCE, Stack, stack_fixture
from tests.detections.correlation.conftest import FAILED, SUCCESS
from tests.servers import Servers

DEPTH = 300
CID = CORRELATION
STAGES = ("normalize", "detect", "correlate", "index")


def deep_json(prefix: bytes, depth: int = DEPTH) -> bytes:
    """`prefix` (an unclosed JSON object) + `"deep": <depth levels>` + `}`: orjson cannot write it."""
    return prefix + b'"deep":' + b'{"a":' * depth + b'"x"' + b"}" * depth + b"}"


@dataclass
class Pipeline:
    stack: Stack
    bus: KafkaBus
    topics: StoreSettings
    api_token: str

    @property
    def store(self) -> ElasticStore:
        return self.stack.store

    def deadletters(self, stage: str) -> list[dict[str, Any]]:
        resp = httpx.get(
            f"{self.stack.url}/api/v1/deadletters",
            params={"stage": stage, "size": 100},
            headers={"Authorization": f"Bearer {self.api_token}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        return items

    def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.store.refresh()
                if check():
                    return
            except StoreError as exc:  # a search while an index is being created: 503, ask again
                if "503" not in str(exc):
                    raise
            dead = [name for name, up in self.stack.alive().items() if not up]
            assert not dead, f"waiting for {what}, {dead} died:\n{self.stack.logs()}"
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}\n{self.stack.logs()}")

    def alive(self, stage: str) -> bool:
        return self.stack.alive()[stage]


@pytest.fixture(scope="module")
def pipeline(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """The whole distributed pipeline (API and the four workers) on the shared servers, own topics."""
    prefix = f"t{uuid.uuid4().hex[:10]}-"
    bus = KafkaBus(servers.kafka_bootstrap)
    for stack in stack_fixture(servers, prefix, tmp_path_factory.mktemp("poison"), "api", *STAGES):
        token, _ = create_api_token(store=stack.store, name="poison-test", role=Role.ADMIN, actor="test")
        yield Pipeline(stack, bus, StoreSettings(topic_prefix=prefix), token)
    bus.close()


def _event(event_id: str, *, code: int = 4625, ip: str = "10.0.0.1") -> bytes:
    """A normalized event as the normalize worker publishes it (unclosed: `deep_json` appends)."""
    doc = {
        "@timestamp": datetime.now(UTC).isoformat(),
        "event": {"id": event_id, "code": str(code), "kind": "event"},
        "host": {"name": "dc01"},
        "winlog": {"channel": "Security", "event_data": {"IpAddress": ip}},
        "soc": {"source": {"id": SOURCE}, "unit": {"id": "chaos-unit"}},
    }
    return orjson.dumps(doc)


def _unclosed(doc: bytes) -> bytes:
    return doc[:-1] + b","


def _indexed(pipeline: Pipeline, event_id: str) -> bool:
    return pipeline.store.get_event(event_id) is not None


def _dead(pipeline: Pipeline, stage: str, record_id: str) -> dict[str, Any] | None:
    for letter in pipeline.deadletters(stage):
        if letter["id"] == record_id or record_id in letter["raw"][:2000]:
            return letter
    return None


def _assert_moved_on(pipeline: Pipeline, stage: str, poison_id: str, good_id: str) -> None:
    pipeline.wait_for(f"{good_id} indexed behind the poison", lambda: _indexed(pipeline, good_id))
    pipeline.wait_for(f"the {stage} dead letter", lambda: _dead(pipeline, stage, poison_id) is not None)
    letter = _dead(pipeline, stage, poison_id)
    assert letter is not None and letter["reason"], letter
    assert pipeline.alive(stage)


def test_normalize_dead_letters_a_record_nested_300_levels(pipeline: Pipeline) -> None:
    stamp = b'{"@timestamp":"2025-07-01T08:00:00Z","message":"poison",'
    poison = RawRecord(id="poison-normalize", source_id=SOURCE, payload=deep_json(stamp).decode())
    good = RawRecord(
        id="good-normalize",
        source_id=SOURCE,
        payload='{"@timestamp":"2025-07-01T08:00:01Z","message":"good"}',
    )
    # what the intake would publish, a batch of two: the good record follows the poison
    batch = b"[" + poison.to_json() + b"," + good.to_json() + b"]"
    pipeline.bus.publish(pipeline.topics.topic_raw, [(SOURCE.encode(), batch)])
    _assert_moved_on(pipeline, "normalize", "poison-normalize", "good-normalize")
    letter = _dead(pipeline, "normalize", "poison-normalize")
    assert letter is not None and "nest" in letter["reason"], letter


def test_normalize_dead_letters_an_agent_record_nested_300_levels(pipeline: Pipeline) -> None:
    """An agent writing its own topic (`soc.raw.<source>`): the payload is the message itself."""
    topic = f"{pipeline.topics.topic_raw}.{SOURCE}"
    pipeline.bus.ensure_topics([topic], 1)
    stamp = b'{"@timestamp":"2025-07-01T08:00:00Z","message":"agent-poison",'
    good = b'{"@timestamp":"2025-07-01T08:00:02Z","message":"agent-good"}'
    pipeline.bus.publish(topic, [(None, deep_json(stamp)), (None, good)])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        letters = [d for d in pipeline.deadletters("normalize") if "agent-poison" in d["raw"][:200]]
        if letters:
            break
        time.sleep(1)
    assert letters, pipeline.stack.logs()
    assert "nest" in letters[0]["reason"]
    pipeline.wait_for(
        "the agent's good record",
        lambda: any("agent-good" in (e.message or "") for e in _events_of(pipeline)),
    )
    assert pipeline.alive("normalize")


def _events_of(pipeline: Pipeline) -> list[Any]:
    from soc_core.store import EventQuery

    return list(pipeline.store.search_events(EventQuery(source_id=SOURCE, size=200)).items)


def test_detect_dead_letters_an_event_nested_300_levels(pipeline: Pipeline) -> None:
    """The poison matches a rule (successful logon; failed logons only feed the correlation): its
    alert, which carries the event, is what could not be written."""
    poison = deep_json(_unclosed(_event("poison-detect", code=4624)))
    good = _event("good-detect", code=4624)
    pipeline.bus.publish(pipeline.topics.topic_events, [(SOURCE.encode(), poison), (SOURCE.encode(), good)])

    def good_alert() -> bool:
        return any(
            "good-detect" in a.event_ids and a.rule.id == SUCCESS
            for a in pipeline.store.search_alerts(_alerts_query()).items
        )

    pipeline.wait_for("the good event's alert", good_alert)
    pipeline.wait_for(
        "the detect dead letter", lambda: _dead(pipeline, "detect", "poison-detect") is not None
    )
    assert pipeline.alive("detect")


def _alerts_query() -> Any:
    from soc_core.store import AlertQuery

    return AlertQuery(size=500)


def test_correlate_dead_letters_a_hit_nested_300_levels(pipeline: Pipeline) -> None:
    """A rule hit whose context (the event an alert shows) is 300 levels deep, then a good hit."""

    def hit(event_id: str, group: str, context: dict[str, Any]) -> bytes:
        return orjson.dumps(
            {"c": CID, "r": FAILED, "e": event_id, "t": time.time(), "g": group, "v": None, "x": context}
        )

    good_group = orjson.dumps(["10.9.9.9"]).decode()
    poison_group = orjson.dumps(["10.6.6.6"]).decode()
    poison = hit("poison-correlate", poison_group, {"soc": {}, "event": {"id": "poison-correlate"}})
    poison = poison[:-3] + b',"deep":' + b'{"a":' * DEPTH + b"1" + b"}" * DEPTH + b"}}}"
    good = hit("good-correlate", good_group, {"soc": {}, "event": {"id": "good-correlate"}})
    pipeline.bus.publish(
        pipeline.topics.topic_rulehits,
        [(f"{CID}|{poison_group}".encode(), poison), (f"{CID}|{good_group}".encode(), good)],
    )

    def correlated() -> bool:
        return any(
            a.rule.id == CID and "good-correlate" in a.event_ids
            for a in pipeline.store.search_alerts(_alerts_query()).items
        )

    pipeline.wait_for("the good hit's correlation alert", correlated)
    pipeline.wait_for(
        "the correlate dead letter", lambda: _dead(pipeline, "correlate", "poison-correlate") is not None
    )
    assert pipeline.alive("correlate")


def test_index_dead_letters_an_event_nested_300_levels(pipeline: Pipeline) -> None:
    """Straight into `soc.events`, an event no rule matches (so detect passes it by): index alone."""
    poison = deep_json(_unclosed(_event("poison-index", code=1)))
    good = _event("good-index", code=1)
    pipeline.bus.publish(pipeline.topics.topic_events, [(SOURCE.encode(), poison), (SOURCE.encode(), good)])
    _assert_moved_on(pipeline, "index", "poison-index", "good-index")
