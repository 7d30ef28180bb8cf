"""Debian's rsyslog (a private rsyslogd: own config, pid file and work folder) running the configs
in deploy/shippers/rsyslog as shipped: forwarding over TCP and TLS (octet-counted) to our receiver,
which publishes to Kafka, and omkafka straight into the source's topic, read by the normalize
worker with the topic as the source's identity."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from buses.kafka import KafkaBus
from ingest.syslog.runner import start_syslog_in_thread
from soc_core.records import RawRecord
from soc_core.settings import IngestSettings, Mode, Settings, StoreSettings
from socpipe.runtime import KafkaSubmit
from tests.ingest.helpers import (
    consume,
    consume_events,
    consume_raw,
    make_pki,
    normalize_worker,
    require_tool,
    source,
    sqlite_registry,
)
from tests.servers import Servers

pytestmark = pytest.mark.servers
CONFIGS = Path(__file__).resolve().parents[2] / "deploy" / "shippers" / "rsyslog"
N = 2000


class Rsyslogd:
    """A private rsyslogd reading one file (imfile) and running one deploy config."""

    def __init__(self, folder: Path, config: str, subs: dict[str, str]) -> None:
        self.rsyslogd = require_tool("rsyslogd")
        self.folder = folder
        self.work = folder / "work"
        self.work.mkdir(parents=True)
        self.input = folder / "input.log"
        self.input.touch()
        body = (CONFIGS / config).read_text()
        for key, value in {**subs, "WORKDIR": str(self.work)}.items():
            body = body.replace(f"@{key}@", value)
        assert "@" not in "".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))
        self.conf = folder / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{self.work}")\n'
            'module(load="imfile")\n'
            f'input(type="imfile" File="{self.input}" Tag="app" Facility="local0" Severity="notice")\n' + body
        )
        self.log = folder / "rsyslogd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def check(self) -> None:
        out = subprocess.run([self.rsyslogd, "-N1", "-f", str(self.conf)], capture_output=True, text=True)
        assert out.returncode == 0, f"rsyslog rejects the config:\n{out.stdout}\n{out.stderr}"

    @contextmanager
    def running(self) -> Iterator[Rsyslogd]:
        self.check()
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [self.rsyslogd, "-n", "-f", str(self.conf), "-i", str(self.folder / "rsyslogd.pid")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            yield self
        finally:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def write(self, tag: str, n: int) -> list[str]:
        lines = [f"{tag} event {i:05d} user=an src=10.0.0.{i % 250}" for i in range(n)]
        with self.input.open("a") as fh:
            fh.write("".join(line + "\n" for line in lines))
        return lines

    def text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _raw_records(servers: Servers, topic: str, n: int) -> list[RawRecord]:
    return consume_raw(servers.kafka_bootstrap, topic, n, timeout_s=90)


def _receiver_to_kafka(servers: Servers, prefix: str, tmp_path: Path, sources: list, **cfg: object):  # type: ignore[no-untyped-def,type-arg]
    store, registry = sqlite_registry(tmp_path, sources)
    settings = Settings(
        mode=Mode.DISTRIBUTED,
        stores=StoreSettings(kafka_bootstrap=servers.kafka_bootstrap, topic_prefix=prefix),
        ingest=IngestSettings(**cfg),  # type: ignore[arg-type]
    )
    bus = KafkaBus(servers.kafka_bootstrap)
    bus.ensure_topics([settings.stores.topic_raw], 3)
    handle = start_syslog_in_thread(settings.ingest, registry, KafkaSubmit(settings, bus))
    assert handle is not None
    return handle, bus, store, settings


def test_rsyslog_forwards_octet_counted_tcp_to_the_receiver_into_kafka(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    handle, bus, store, settings = _receiver_to_kafka(
        servers,
        prefix,
        tmp_path,
        [source("rsyslog-tcp", format="linux_syslog", address="127.0.0.1")],
        syslog_tcp_port=0,
    )
    rsyslog = Rsyslogd(
        tmp_path / "rsyslog",
        "socpipe-forward-tcp.conf",
        {"SOC_HOST": "127.0.0.1", "SOC_PORT": str(handle.ports["tcp"])},
    )
    try:
        with rsyslog.running():
            lines = rsyslog.write("tcp", N)
            records = _raw_records(servers, settings.stores.topic_raw, N)
            assert len(records) >= N, rsyslog.text()
    finally:
        handle.stop()
        bus.close()
        store.close()
    by_id = {r.id: r for r in records}
    assert len(by_id) == N
    texts = sorted(r.payload.rsplit(" - ", 1)[-1].strip() for r in by_id.values())
    assert texts == sorted(lines)
    r = records[0]
    assert r.payload.startswith("<133>1 ")  # local0.notice, RFC 5424 from the shipped template
    assert (r.source_id, r.unit_id, r.system_id, r.format) == (
        "rsyslog-tcp",
        "so-khcn",
        "portal",
        "linux_syslog",
    )


def test_rsyslog_over_tls_is_identified_by_its_client_certificate(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    require_tool("rsyslogd")
    if not Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so").exists() and not list(
        Path("/usr/lib").rglob("lmnsd_ossl.so")
    ):
        require_tool("rsyslog-openssl-driver-missing")  # fails in CI: the package rsyslog-openssl
    pki = make_pki(tmp_path / "pki")
    handle, bus, store, settings = _receiver_to_kafka(
        servers,
        prefix,
        tmp_path,
        [source("rsyslog-tls", format="linux_syslog", tls_client_subject="web01.so-khcn")],
        syslog_tls_port=0,
        syslog_tls_cert=pki["server_crt"],
        syslog_tls_key=pki["server_key"],
        syslog_tls_client_ca=pki["ca_crt"],
        syslog_tls_require_client_cert=True,
    )
    rsyslog = Rsyslogd(
        tmp_path / "rsyslog",
        "socpipe-forward-tls.conf",
        {
            "SOC_HOST": "127.0.0.1",
            "SOC_PORT": str(handle.ports["tls"]),
            "SOC_SERVER_NAME": "localhost",
            "CA_FILE": str(pki["ca_crt"]),
            "CERT_FILE": str(pki["client_crt"]),
            "KEY_FILE": str(pki["client_key"]),
        },
    )
    try:
        with rsyslog.running():
            lines = rsyslog.write("tls", 500)
            records = _raw_records(servers, settings.stores.topic_raw, 500)
            assert len(records) >= 500, rsyslog.text()
    finally:
        handle.stop()
        bus.close()
        store.close()
    assert {r.source_id for r in records} == {"rsyslog-tls"}
    assert len({r.id for r in records}) == 500
    assert sorted(r.payload.rsplit(" - ", 1)[-1].strip() for r in records) == sorted(lines)


def test_rsyslog_omkafka_to_the_source_topic_reaches_the_normalize_worker(
    servers: Servers, prefix: str, tmp_path: Path
) -> None:
    store, registry = sqlite_registry(tmp_path, [source("rsyslog-kafka", format="linux_syslog")])
    topic = f"{prefix}soc.raw.rsyslog-kafka"
    KafkaBus(servers.kafka_bootstrap).ensure_topics([topic], 3)
    rsyslog = Rsyslogd(
        tmp_path / "rsyslog",
        "socpipe-omkafka.conf",
        {"KAFKA": servers.kafka_bootstrap, "TOPIC": topic, "SOURCE_ID": "rsyslog-kafka"},
    )
    try:
        with rsyslog.running(), normalize_worker(servers.kafka_bootstrap, prefix, registry) as settings:
            lines = rsyslog.write("kafka", N)
            raw = consume(servers.kafka_bootstrap, topic, N, timeout_s=90)
            assert len(raw) >= N, rsyslog.text()
            assert sorted(v.decode().rsplit(" - ", 1)[-1].strip() for v in raw) == sorted(lines)
            normalized = consume_events(
                servers.kafka_bootstrap, settings.stores.topic_events, N, timeout_s=90
            )
            dead = consume(
                servers.kafka_bootstrap, settings.stores.topic_deadletter, N - len(normalized), timeout_s=10
            )
            out = normalized + [orjson.loads(v) for v in dead]
    finally:
        store.close()
    assert len(out) >= N
    events = [d for d in out if "soc" in d]
    letters = [d for d in out if "soc" not in d]
    assert {e["soc"]["source"]["id"] for e in events} <= {"rsyslog-kafka"}
    assert {d["source_id"] for d in letters} <= {"rsyslog-kafka"}
    assert all(e["soc"]["unit"]["id"] == "so-khcn" and e["soc"]["system"]["id"] == "portal" for e in events)
    assert len({e["event"]["id"] for e in events} | {d["id"] for d in letters}) == N
