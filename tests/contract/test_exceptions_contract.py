"""Analysts' exceptions: SQLite and Elasticsearch keep them the same way, and the detect stage's
watcher applies what they store (a Sigma filter), counts what they suppress, and drops them when
they are revoked or expire."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sigma.collection import SigmaCollection
from sigma.filters import SigmaFilter

from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from detections.state import RuleWatcher
from soc_core.bus import InProcessBus, Message
from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.exceptions import AnalystException, ExceptionState, sigma_filter_yaml
from soc_core.settings import Settings
from soc_core.store import Store
from socpipe.workers import detect_handler
from tests.backends import backend_of
from tests.detections.conftest import proc_rule, sysmon1

RULE_ID = "00000000-0000-4000-8000-000000000001"
NOW = datetime.now(UTC).replace(microsecond=0)


def exception(
    *,
    fields: dict[str, list[str | int | float | bool]] | None = None,
    expires_at: datetime | None = None,
    created_at: datetime | None = None,
    rule_id: str = RULE_ID,
) -> AnalystException:
    exception_id = str(uuid.uuid4())
    scope = {
        "rule_id": rule_id,
        "rule_title": "test rule",
        "logsource": {"category": "process_creation", "product": "windows"},
        "fields": fields or {"winlog.event_data.Image": ["C:\\Tools\\backup*.exe"], "host.name": ["ws01"]},
        "reason": "nightly backup",
        "owner": "an1",
        "created_at": created_at or NOW,
        "expires_at": expires_at or NOW + timedelta(days=30),
    }
    return AnalystException(
        id=exception_id,
        created_by="an1",
        sigma=sigma_filter_yaml(exception_id=exception_id, **scope),  # type: ignore[arg-type]
        **scope,  # type: ignore[arg-type]
    )


def alpha_engine(tmp_path: Path) -> DetectionEngine:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.yml").write_text(proc_rule("sel:\n    CommandLine|contains: 'alpha'\ncondition: sel"))
    return DetectionEngine([rules])


def test_the_stored_document_is_a_sigma_filter() -> None:
    exc = exception()
    collection = SigmaCollection.from_yaml(exc.sigma, collect_filters=True)
    [parsed] = collection.filters
    assert isinstance(parsed, SigmaFilter)
    assert str(parsed.id) == exc.id
    assert [r.reference for r in parsed.filter.rules] == [RULE_ID]  # type: ignore[union-attr]
    assert parsed.filter.condition == ["not exception"]
    assert parsed.description == "nightly backup" and parsed.author == "an1"
    # the wildcard and the backslashes of the value are escaped: it matches itself only
    item = parsed.filter.detections["exception"].detection_items[0]
    assert item.field == "winlog.event_data.Image"  # type: ignore[union-attr]
    assert list(item.value[0].s) == ["C:\\Tools\\backup*.exe"]  # type: ignore[union-attr]


def test_lifecycle(store: Store) -> None:
    repo = backend_of(store).exceptions
    first = exception(created_at=NOW - timedelta(hours=2))
    second = exception(created_at=NOW - timedelta(hours=1), rule_id="00000000-0000-4000-8000-0000000000b2")
    old = exception(created_at=NOW - timedelta(days=40), expires_at=NOW - timedelta(days=10))
    for e in (first, second, old):
        repo.create(e)
    with pytest.raises(StoreError):
        repo.create(first)
    assert [e.id for e in repo.list_all()] == [second.id, first.id, old.id]  # newest first
    assert [e.id for e in repo.list_all(rule_id=RULE_ID)] == [first.id, old.id]
    assert [e.id for e in repo.list_all(limit=1)] == [second.id]
    assert {e.id for e in repo.active(NOW)} == {first.id, second.id}
    assert old.state(NOW) is ExceptionState.EXPIRED

    got = repo.get_versioned(first.id)
    assert got is not None
    assert got[0] == first
    assert repo.get_versioned(str(uuid.uuid4())) is None

    repo.add_suppressed({first.id: 3, second.id: 0, "gone": 5}, at=NOW)
    repo.add_suppressed({first.id: 2}, at=NOW + timedelta(minutes=1))
    got = repo.get_versioned(first.id)
    assert got is not None
    counted, version2 = got
    assert counted.suppressed == 5
    assert counted.last_suppressed_at == NOW + timedelta(minutes=1)

    revoked = counted.model_copy(update={"revoked_at": NOW, "revoked_by": "an2", "revoke_reason": "fixed"})
    assert repo.update(revoked, version=version2) is True
    assert repo.update(revoked, version=version2) is False  # stale version
    got = repo.get_versioned(first.id)
    assert got is not None
    assert got[0].state(NOW) is ExceptionState.REVOKED and got[0].suppressed == 5
    assert [e.id for e in repo.active(NOW)] == [second.id]


def test_watcher_applies_counts_and_drops_exceptions(store: Store, tmp_path: Path) -> None:
    engine = alpha_engine(tmp_path)
    repo = backend_of(store).exceptions
    clock = [0.0]
    watcher = RuleWatcher(engine, None, exceptions=repo, state_every_s=5, clock=lambda: clock[0])
    backup = sysmon1(CommandLine="alpha", Image="C:\\Tools\\backup*.exe")
    wildcard_lookalike = sysmon1(CommandLine="alpha", Image="C:\\Tools\\backup-new.exe")

    watcher.tick()
    assert engine.match(backup)  # nothing stored yet
    exc = exception()
    repo.create(exc)
    watcher.tick()  # not due yet
    assert engine.match(backup)
    clock[0] += 5
    watcher.tick()
    assert engine.match(backup) == []
    assert engine.match(backup) == []
    assert engine.match(wildcard_lookalike)  # `*` in the value is a character, not a wildcard
    assert engine.match({**backup, "host.name": "ws02"})  # outside the scope
    assert engine.summary()["filters"] == 1

    clock[0] += 5
    watcher.tick()  # flushes the two suppressed matches
    got = repo.get_versioned(exc.id)
    assert got is not None and got[0].suppressed == 2
    watcher.tick()
    clock[0] += 5
    watcher.tick()  # nothing new: nothing added twice
    got = repo.get_versioned(exc.id)
    assert got is not None and got[0].suppressed == 2
    stored, version = got

    assert engine.match(backup) == []
    assert repo.update(stored.model_copy(update={"revoked_at": NOW, "revoked_by": "an2"}), version=version)
    clock[0] += 5
    watcher.tick()  # the last count flushed, then the revoked exception removed
    assert engine.match(backup)
    got = repo.get_versioned(exc.id)
    assert got is not None and got[0].suppressed == 3
    assert engine.summary()["filters"] == 0


def test_expiry_is_wall_clock_at_match_time(store: Store, tmp_path: Path) -> None:
    engine = alpha_engine(tmp_path)
    repo = backend_of(store).exceptions
    repo.setup()
    soon = exception(expires_at=datetime.now(UTC) + timedelta(seconds=2))
    repo.create(soon)
    RuleWatcher(engine, None, exceptions=repo).tick()
    backup = sysmon1(CommandLine="alpha", Image="C:\\Tools\\backup*.exe")
    assert engine.match(backup) == []
    # the watcher has not run since, yet the engine stops applying it at its expiry
    time.sleep(max(0.0, (soon.expires_at - datetime.now(UTC)).total_seconds()) + 0.05)
    assert engine.match(backup)


class BrokenRepo:
    def active(self, now: datetime, *, limit: int = 10_000) -> list[AnalystException]:
        raise StoreError("down")

    def add_suppressed(self, counts: object, *, at: datetime) -> None:
        raise StoreError("down")


def test_watcher_survives_a_store_outage(tmp_path: Path) -> None:
    engine = alpha_engine(tmp_path)
    watcher = RuleWatcher(engine, None, exceptions=BrokenRepo())  # type: ignore[arg-type]
    watcher.tick()
    assert watcher.counters["exception_store_errors"] == 1
    watcher.flush_counts()  # logged, not raised
    assert engine.match(sysmon1(CommandLine="alpha"))


def test_a_distributed_detect_worker_picks_exceptions_up_between_batches(
    store: Store, tmp_path: Path
) -> None:
    """The detect handler ticks the watcher before each batch: a new exception silences the rule
    from the next batch on, and its count reaches the store with the batch after."""
    engine = alpha_engine(tmp_path)
    repo = backend_of(store).exceptions
    watcher = RuleWatcher(engine, None, exceptions=repo, state_every_s=0)
    settings = Settings()
    bus = InProcessBus()
    handle = detect_handler(settings, bus, SuppressingDetect(DetectStage(engine)), tick=watcher.tick)
    alerts = bus.consumer([settings.stores.topic_alerts], "test")

    def batch(n: int, host: str = "ws01") -> int:
        doc = {
            "@timestamp": datetime.now(UTC).isoformat(),
            "event": {"id": f"ev-{n}", "code": "1"},
            "host": {"name": host},
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_data": {"CommandLine": "alpha", "Image": "C:\\Tools\\backup*.exe"},
            },
        }
        handle([Message(settings.stores.topic_events, 0, n, None, Event.from_doc(doc).to_json())])
        got = alerts.poll(100, timeout_s=0)
        alerts.commit()
        return len(got)

    assert batch(1) == 1
    exc = exception()
    repo.create(exc)
    assert batch(2) == 0  # picked up before this batch
    assert batch(3, host="ws02") == 1  # outside its scope
    got = repo.get_versioned(exc.id)
    assert got is not None and got[0].suppressed == 1  # flushed before batch 3
    assert batch(4) == 0
    watcher.flush_counts()  # what the worker does when it stops
    got = repo.get_versioned(exc.id)
    assert got is not None and got[0].suppressed == 2


def test_a_stored_exception_that_does_not_compile_is_skipped_and_counted(
    store: Store, tmp_path: Path
) -> None:
    engine = alpha_engine(tmp_path)
    repo = backend_of(store).exceptions
    good, broken = exception(), exception()
    repo.create(good)
    repo.create(broken.model_copy(update={"sigma": broken.sigma.replace("not exception", "not nothing")}))
    clock = [0.0]
    watcher = RuleWatcher(engine, None, exceptions=repo, state_every_s=5, clock=lambda: clock[0])
    watcher.tick()
    assert watcher.counters["exception_errors"] == 1
    assert [f["id"] for f in engine.filter_stats()] == [good.id]
    assert engine.match(sysmon1(CommandLine="alpha", Image="C:\\Tools\\backup*.exe")) == []
    repo.create(exception(fields={"host.name": ["ws09"]}))
    clock[0] += 5
    watcher.tick()  # the new one compiled, the good one reused, the broken one tried again
    assert watcher.counters["exception_errors"] == 2
    assert len(engine.filter_stats()) == 2
