"""Helpers for the ingest tests: a registry, a recording `submit`, real tools, a real HTTP server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from api.context import AppContext
from soc_core.errors import BackPressure
from soc_core.records import DeadLetter, RawRecord, decode_raw_message
from soc_core.registry import InformationSystem, LogSource, Registry, Unit
from soc_core.registry_cache import RegistryCache
from soc_core.settings import Settings, StoreSettings
from soc_core.store import Store
from socpipe.app import create_app
from stores.sqlite.store import SqliteStore
from tests.backends import backend_of
from tests.servers import in_ci

UNIT = Unit(id="so-khcn", name="Sở Khoa học và Công nghệ")
SYSTEM = InformationSystem(id="portal", name="Cổng TTĐT", unit_id="so-khcn", level=3, important=True)


def require_tool(name: str) -> str:
    """The tool's path; fails in CI (the suite must not silently lose coverage), skips elsewhere."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} is not installed (deploy/local/debian-packages.txt; make system-deps)"
        if in_ci():
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def source(id: str, **kw: object) -> LogSource:
    return LogSource.model_validate({"id": id, "name": id, "system_id": "portal", **kw})


def save_registry(store: Store, sources: Sequence[LogSource]) -> None:
    store.save_registry(Registry(units=[UNIT], systems=[SYSTEM], sources=list(sources)))


def sqlite_registry(tmp_path: Path, sources: Sequence[LogSource]) -> tuple[SqliteStore, RegistryCache]:
    store = SqliteStore(tmp_path / "registry.sqlite3")
    store.setup()
    save_registry(store, sources)
    cache = RegistryCache(store)
    cache.reload()
    return store, cache


@dataclass
class Recorder:
    """A `submit` that records what it was given; closed, it raises BackPressure (Kafka down)."""

    records: list[RawRecord] = field(default_factory=list)
    deadletters: list[DeadLetter] = field(default_factory=list)
    open: threading.Event = field(default_factory=threading.Event)
    refused: int = 0
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.open.set()

    def __call__(self, records: Sequence[RawRecord]) -> int:
        if not self.open.is_set():
            self.refused += 1
            raise BackPressure("test: downstream closed", retry_after=0.2)
        if self.delay_s:
            time.sleep(self.delay_s)
        with self.lock:
            self.records.extend(records)
        return 0

    def deadletter(self, letters: Sequence[DeadLetter]) -> None:
        with self.lock:
            self.deadletters.extend(letters)

    def payloads(self) -> list[str]:
        with self.lock:
            return [r.payload for r in self.records]

    def distinct(self) -> dict[str, RawRecord]:
        with self.lock:
            return {r.id: r for r in self.records}

    def wait_for(self, n: int, timeout_s: float = 20.0, what: Callable[[], int] | None = None) -> int:
        count = what or (lambda: len(self.distinct()))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if count() >= n:
                return count()
            time.sleep(0.05)
        return count()


@contextmanager
def http_intake(
    tmp_path: Path,
    sources: Sequence[LogSource],
    submit: Callable[[Sequence[RawRecord]], int],
    **settings: object,
) -> Iterator[tuple[str, AppContext]]:
    """The real FastAPI app on a real uvicorn server in a thread; yields its base URL."""
    store, registry = sqlite_registry(tmp_path, sources)
    ctx = AppContext(
        settings=Settings(data_dir=tmp_path, **settings),  # type: ignore[arg-type]
        backend=backend_of(store),
        registry=registry,
        submit=submit,
        health_checks=[store.health],
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}", ctx
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def make_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and two client certificates, with openssl."""
    openssl = require_tool("openssl")
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "30",
        "-subj",
        "/CN=socpipe test CA",
    )
    (folder / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for name, cn, ext in (
        ("server", "localhost", "server.ext"),
        ("client", "web01.so-khcn", None),
        ("stranger", "stranger.example", None),
    ):
        run(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            "-subj",
            f"/CN={cn}",
        )
        sign = [
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "30",
        ]
        if ext:
            sign += ["-extfile", ext]
        run(*sign)
    return {p.stem + p.suffix.replace(".", "_"): p for p in folder.iterdir()}


def len_one(value: bytes) -> int:
    return 1


def consume_raw(bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0) -> list[RawRecord]:
    """Every RawRecord on a raw topic (messages carry batches of records), once `expected` arrived."""
    values = consume(bootstrap, topic, expected, timeout_s, weight=lambda v: len(decode_raw_message(v)))
    return [r for v in values for r in decode_raw_message(v)]


def _events_in(value: bytes) -> list[dict[str, Any]]:
    doc = orjson.loads(value)
    return doc if isinstance(doc, list) else [doc]


def consume_events(
    bootstrap: str, topic: str, expected: int, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Every event document on `soc.events` (a message holds an array of one source's events, or one
    event: socpipe/event_messages.py), once `expected` arrived."""
    values = consume(bootstrap, topic, expected, timeout_s, weight=lambda v: len(_events_in(v)))
    return [e for v in values for e in _events_in(v)]


def consume(
    bootstrap: str,
    topic: str,
    expected: int,
    timeout_s: float = 60.0,
    weight: Callable[[bytes], int] = len_one,
) -> list[bytes]:
    """Every message value of a topic (all partitions, from the start), once `expected` arrived
    (`weight` says how many items one message holds)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    values: list[bytes] = []
    items = 0
    try:
        deadline = time.monotonic() + timeout_s
        parts: set[int] | None = None
        while time.monotonic() < deadline and not parts:
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                time.sleep(0.2)
        if not parts:
            return values
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        while time.monotonic() < deadline and items < expected:
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                values.extend(r.value for r in records)
                items += sum(weight(r.value) for r in records)
        if items >= expected:  # a little longer: anything beyond `expected` is a duplicate
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    return values


@contextmanager
def normalize_worker(bootstrap: str, prefix: str, registry: RegistryCache) -> Iterator[Settings]:
    """The distributed normalize worker (pattern subscription to soc.raw and soc.raw.*), in a thread."""
    from buses.kafka import KafkaBus
    from normalizers.stage import NormalizeStage
    from soc_core.settings import Mode
    from socpipe.workers import StageWorker, normalize_handler

    settings = Settings(
        mode=Mode.DISTRIBUTED, stores=StoreSettings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    )
    bus = KafkaBus(bootstrap)
    bus.ensure_topics(
        [settings.stores.topic_raw, settings.stores.topic_events, settings.stores.topic_deadletter], 3
    )
    worker = StageWorker(
        "normalize",
        bus.consumer(settings.stores.topic_raw_pattern, f"{prefix}normalize"),
        normalize_handler(settings, bus, NormalizeStage(registry.context)),
    )
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        yield settings
    finally:
        worker.stop.set()
        thread.join(30)
        bus.close()
