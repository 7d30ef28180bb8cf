"""The distributed pipeline as real processes, and a sender that counts what was acknowledged.

Every chaos test runs the same shape: a registry with one ECS source, a rule pack with one rule
(a successful logon) and one correlation (every failed logon, per address), the `socpipe`
processes it needs (`tests.e2e.procs.SocProcess`), and a `Sender` posting numbered records to
the intake, retrying each batch until it is acknowledged, as a shipper does. After the fault,
`Stack.check_exactly_once` checks that every acknowledged record is indexed exactly once, and
every alert is there once with the count of its events.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from elasticsearch import ApiError, TransportError

from soc_core.records import record_id
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from stores.elastic.store import ElasticStore
from tests.detections.correlation.conftest import BASE_RULES, FAILED, SUCCESS, correlation
from tests.e2e.procs import SocProcess, process_env
from tests.servers import ES_REFRESH_INTERVAL, Servers

SOURCE = "chaos-ecs"
TOKEN = "chaos-token"
CORRELATION = "00000000-0000-4000-8000-00000000cafe"
#: One record in ALERT_EVERY is a successful logon on its own host (one alert each, never folded).
ALERT_EVERY = 20
#: One record in HIT_EVERY is a failed logon from one of HIT_GROUPS addresses (a correlation each).
HIT_EVERY = 10
HIT_GROUPS = 5
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def write_rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    per_address = correlation(
        "type: event_count\nrules: failed_logon\ngroup-by: [IpAddress]\ntimespan: 1d\ncondition:\n    gte: 1",
        rule_id=CORRELATION,
    )
    for i, text in enumerate((*BASE_RULES, per_address)):
        (folder / f"r{i}.yml").write_text(text)
    return folder


def record(n: int) -> dict[str, Any]:
    """Record n: its shipper id makes its event id (a resent record is the same event)."""
    doc: dict[str, Any] = {
        "@timestamp": (T0 + timedelta(milliseconds=n)).isoformat(),
        "message": f"n={n}",
        "event": {"id": f"rec-{n}", "code": "4688"},
        "host": {"name": f"host{n % 7}"},
        "winlog": {"channel": "Security", "event_data": {}},
    }
    if n % ALERT_EVERY == 0:
        doc["event"]["code"] = "4624"
        doc["host"]["name"] = f"logon-{n}"
    elif n % HIT_EVERY == 5:
        doc["event"]["code"] = "4625"
        doc["winlog"]["event_data"]["IpAddress"] = f"10.1.0.{n % HIT_GROUPS}"
    return doc


def event_id(n: int) -> str:
    return record_id(SOURCE, b"", f"rec-{n}")


def _args(name: str) -> list[str]:
    return [name] if name in ("api", "scheduler") else ["worker", name]


@dataclass
class Stack:
    env: dict[str, str]
    store: ElasticStore
    procs: dict[str, SocProcess] = field(default_factory=dict)
    retired: list[SocProcess] = field(default_factory=list)
    acknowledged: set[int] = field(default_factory=set)  # by the tests before, on this stack
    sent: int = 0  # records [0, sent) were posted by the tests before

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['SOC_HTTP_PORT']}"

    def start(self, *names: str) -> None:
        """Start processes side by side, then wait until each is healthy."""
        for name in names:
            self.procs[name] = SocProcess(_args(name), self.env, name).spawn()
        for name in names:
            self.procs[name].wait_healthy(120)

    def kill(self, name: str, *, wait: bool = True) -> None:
        """SIGKILL, then a new process in its place (same port for the API); `wait=False`: do not
        wait until it is healthy (the next fault comes while it starts)."""
        old = self.procs.pop(name)
        old.kill()
        self.retired.append(old)
        self.procs[name] = SocProcess(_args(name), self.env, f"{name}-{len(self.retired) + 1}").spawn()
        if wait:
            self.procs[name].wait_healthy(120)

    def wait_healthy(self) -> None:
        for proc in self.procs.values():
            proc.wait_healthy(120)

    def alive(self) -> dict[str, bool]:
        return {n: p.proc is not None and p.proc.poll() is None for n, p in self.procs.items()}

    def logs(self) -> str:
        return "\n".join(
            f"--- {n}\n{p.log()}" for n, p in [*self.procs.items(), *((p.name, p) for p in self.retired)]
        )

    def close(self) -> None:
        for p in self.procs.values():
            p.terminate()
        try:
            self.store.es.indices.delete(index=f"{self.env['SOC_INDEX_PREFIX']}*", ignore_unavailable=True)
        except TransportError as exc:  # a test that failed with its Elasticsearch stopped
            warnings.warn(f"indices of {self.env['SOC_INDEX_PREFIX']} not deleted: {exc}", stacklevel=1)
        finally:
            self.store.close()

    # ------------------------------------------------------------------ checks

    def indexed_ids(self) -> list[str]:
        """Every indexed event id, duplicates included (paged with search_after, no scroll contexts)."""
        return [h["event"]["id"] for h in self._all("events", "event.id", ["event.id"])]

    def alerts(self) -> list[dict[str, Any]]:
        return self._all("alerts", "id", ["id", "rule.id", "count", "event_ids"])

    def _all(self, kind: str, key: str, fields: list[str]) -> list[dict[str, Any]]:
        self.store.refresh()
        out: list[dict[str, Any]] = []
        after: list[object] | None = None
        while True:
            extra = {"search_after": after} if after else {}
            try:
                resp = self.store.es.search(
                    index=f"{self.store.prefix}{kind}-*",
                    size=5000,
                    sort=[{key: "asc"}, "_index"],
                    source=fields,
                    ignore_unavailable=True,
                    allow_no_indices=True,
                    **extra,
                )
            except ApiError as exc:  # 503 while an index is being created: ask again
                if exc.status_code != 503:
                    raise
                time.sleep(0.5)
                continue
            hits = resp["hits"]["hits"]
            if not hits:
                return out
            out += [h["_source"] for h in hits]
            after = hits[-1]["sort"]

    def wait_indexed(self, acknowledged: set[int], timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        want = {event_id(n) for n in acknowledged}
        while time.monotonic() < deadline:
            if want <= set(self.indexed_ids()):
                return
            time.sleep(1)
        missing = len(want - set(self.indexed_ids()))
        raise AssertionError(f"{missing} of {len(want)} acknowledged records not indexed\n{self.logs()}")

    def check_exactly_once(self, sent: int, acknowledged: set[int]) -> None:
        """Every acknowledged record indexed once (records sent but never acknowledged may be there
        too, once); every alert once, counting each of its events once."""
        self.wait_indexed(acknowledged)
        time.sleep(3)  # let replayed duplicates arrive: they must not be written
        ids = Counter(self.indexed_ids())
        assert not [i for i, c in ids.items() if c > 1], "events indexed twice"
        assert {event_id(n) for n in acknowledged} <= set(ids)
        assert set(ids) <= {event_id(n) for n in range(sent)}
        indexed = {n for n in range(sent) if event_id(n) in ids}
        want_alerts = {event_id(n) for n in indexed if n % ALERT_EVERY == 0}
        want_hits = Counter(f"10.1.0.{n % HIT_GROUPS}" for n in indexed if n % HIT_EVERY == 5)
        deadline = time.monotonic() + 120
        while True:
            alerts = self.alerts()
            ids_of = Counter(a["id"] for a in alerts)
            assert not [i for i, c in ids_of.items() if c > 1], "alerts stored twice"
            logons = {a["event_ids"][0]: a for a in alerts if a["rule"]["id"] == SUCCESS}
            correlated = sum(a["count"] for a in alerts if a["rule"]["id"] == CORRELATION)
            done = set(logons) == want_alerts and correlated == sum(want_hits.values())
            if done or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert set(logons) == want_alerts, f"{len(logons)} logon alerts for {len(want_alerts)}\n{self.logs()}"
        assert all(a["count"] == 1 for a in logons.values()), "a replayed event counted as a repeat"
        assert correlated == sum(want_hits.values()), f"correlation counted {correlated} failed logons"
        assert not [a for a in alerts if a["rule"]["id"] == FAILED]  # read by the correlation only


def make_stack(servers: Servers, prefix: str, tmp: Path, **settings: str) -> Stack:
    """The environment of the processes and the store with the registry (no process started yet)."""
    env = process_env(
        servers,
        prefix,
        SOC_CONSUMER_BATCH="200",
        SOC_RULE_DIRS=json.dumps([str(write_rules(tmp / "rules"))]),
        SOC_DATA_DIR=str(tmp / "data"),
        SOC_CORRELATION_LATENESS_S="0",
        SOC_PUBLISH_TIMEOUT_S="3",
        SOC_REGISTRY_REFRESH_S="2",
        **settings,
    )
    store = ElasticStore(servers.es_url, prefix=prefix, refresh_interval=ES_REFRESH_INTERVAL)
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="chaos-unit", name="Unit")],
            systems=[InformationSystem(id="chaos-sys", name="System", unit_id="chaos-unit", level=2)],
            sources=[
                LogSource.model_validate(
                    {"id": SOURCE, "name": "ECS", "system_id": "chaos-sys", "format": "ecs", "token": TOKEN}
                )
            ],
        )
    )
    return Stack(env, store)


class Sender(threading.Thread):
    """Posts `total` records in batches, each until acknowledged (202): on 503 after Retry-After, on a
    connection error (the API killed) after a moment. Records every answer."""

    def __init__(self, url: str, total: int, batch: int = 100, pause_s: float = 0.0, first: int = 0) -> None:
        super().__init__(name="sender", daemon=True)
        self.url, self.total, self.batch, self.pause_s = url, first + total, batch, pause_s
        self.first = first
        self.acknowledged: set[int] = set()
        self.statuses: Counter[int] = Counter()
        self.retry_after: list[str | None] = []
        self.transport_errors = 0
        self.sent = first  # records [0, sent) posted at least once
        self.stop = threading.Event()

    def body(self, start: int) -> bytes:
        return b"\n".join(orjson.dumps(record(n)) for n in range(start, min(start + self.batch, self.total)))

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            for start in range(self.first, self.total, self.batch):
                self.sent = min(start + self.batch, self.total)
                while not self.stop.is_set():
                    try:
                        resp = client.post(
                            "/ingest/v1/events",
                            content=self.body(start),
                            headers={"Authorization": f"Bearer {TOKEN}"},
                        )
                    except httpx.TransportError:
                        self.transport_errors += 1
                        time.sleep(0.5)
                        continue
                    self.statuses[resp.status_code] += 1
                    if resp.status_code == 202:
                        self.acknowledged.update(range(start, self.sent))
                        break
                    if resp.status_code in (429, 503):
                        self.retry_after.append(resp.headers.get("Retry-After"))
                    time.sleep(float(resp.headers.get("Retry-After", "1")))
                if self.stop.is_set():
                    return
                if self.pause_s:
                    time.sleep(self.pause_s)

    def progress(self) -> int:
        return len(self.acknowledged)

    def wait_progress(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.progress() < count and self.is_alive():
            assert time.monotonic() < deadline, f"sender stuck at {self.progress()}: {self.statuses}"
            time.sleep(0.05)


def stack_fixture(servers: Servers, prefix: str, tmp: Path, *names: str) -> Iterator[Stack]:
    stack = make_stack(servers, prefix, tmp)
    try:
        stack.start(*names)
        yield stack
    finally:
        stack.close()
