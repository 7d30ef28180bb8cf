"""The syslog receiver with real clients (Python's SysLogHandler, raw sockets, TLS) and a recording
`submit`: attribution, framing, refusals counted, back-pressure that loses nothing."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from ingest.syslog.runner import SyslogHandle, start_syslog_in_thread
from soc_core.registry_cache import RegistryCache
from soc_core.settings import IngestSettings
from tests.ingest.helpers import Recorder, make_pki, source, sqlite_registry


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def rejected(source_id: str, reason: str, transport: str) -> float:
    return metric("soc_source_rejected_total", source=source_id, reason=reason, transport=transport)


@pytest.fixture
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryCache]:
    store, cache = sqlite_registry(
        tmp_path,
        [
            source("auth-syslog", format="linux_syslog", address="127.0.0.1"),
            source("web01-tls", format="linux_syslog", tls_client_subject="web01.so-khcn"),
        ],
    )
    yield cache
    store.close()


def start(registry: RegistryCache, recorder: Recorder, tmp_path: Path, **cfg: object) -> SyslogHandle:
    config = IngestSettings(
        syslog_udp_port=0,
        syslog_tcp_port=0,
        syslog_batch_ms=20,
        max_record_bytes=2048,
        **cfg,  # type: ignore[arg-type]
    )
    handle = start_syslog_in_thread(config, registry, recorder, deadletter=recorder.deadletter)
    assert handle is not None
    return handle


def test_python_syslog_handler_over_udp_and_tcp_is_attributed_from_the_registry(
    registry: RegistryCache, tmp_path: Path
) -> None:
    rec = Recorder()
    handle = start(registry, rec, tmp_path)
    try:
        logger = logging.getLogger("test.syslog.handler")
        logger.propagate = False
        tcp = logging.handlers.SysLogHandler(("127.0.0.1", handle.ports["tcp"]), socktype=socket.SOCK_STREAM)
        udp = logging.handlers.SysLogHandler(("127.0.0.1", handle.ports["udp"]))
        tcp.setFormatter(logging.Formatter("sshd[1]: tcp %(message)s"))
        udp.setFormatter(logging.Formatter("sshd[1]: udp %(message)s"))
        logger.addHandler(tcp)
        logger.addHandler(udp)
        for n in range(50):
            logger.warning("Failed password for root from 10.0.0.%d port 22 ssh2", n)
        tcp.close()
        udp.close()
        assert rec.wait_for(100) == 100
    finally:
        handle.stop()
    payloads = sorted(rec.payloads())
    assert payloads[0] == "<12>sshd[1]: tcp Failed password for root from 10.0.0.0 port 22 ssh2"
    assert sum(p.startswith("<12>sshd[1]: udp ") for p in payloads) == 50
    r = rec.records[0]
    assert (r.source_id, r.unit_id, r.system_id, r.format) == (
        "auth-syslog",
        "so-khcn",
        "portal",
        "linux_syslog",
    )
    assert metric("soc_source_events_received_total", source="auth-syslog") >= 100


def test_events_and_bytes_received_are_counted_exactly_per_source(
    registry: RegistryCache, tmp_path: Path
) -> None:
    """Counted once per batch, not per record, the totals are exact: every durable message and
    its bytes as received (framing excluded); refused messages only under their reason."""
    rec = Recorder()
    handle = start(registry, rec, tmp_path)
    events = metric("soc_source_events_received_total", source="auth-syslog")
    nbytes = metric("soc_source_received_bytes_total", source="auth-syslog")
    bad_utf8 = rejected("auth-syslog", "invalid_utf8", "tcp")
    started = time.time()
    tcp = [f"<13>tcp {i} {'x' * (i % 300)}".encode() for i in range(6000)]
    udp = [f"<13>udp {i}".encode() for i in range(50)]
    try:
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            s.sendall(b"".join(m + b"\n" for m in tcp[:3000]) + b"<13>caf\xe9\n<13>" + b"y" * 5000 + b"\n")
            s.sendall(b"".join(m + b"\r\n" for m in tcp[3000:]))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for m in udp:
                u.sendto(m + b"\n", ("127.0.0.1", handle.ports["udp"]))
        assert rec.wait_for(len(tcp) + len(udp)) == len(tcp) + len(udp)
    finally:
        handle.stop()  # waits until every batch is durable, and counted
    assert metric("soc_source_events_received_total", source="auth-syslog") - events == len(tcp) + len(udp)
    assert metric("soc_source_received_bytes_total", source="auth-syslog") - nbytes == sum(
        map(len, tcp + udp)
    )
    assert rejected("auth-syslog", "invalid_utf8", "tcp") == bad_utf8 + 1
    assert metric("soc_source_last_event_timestamp_seconds", source="auth-syslog") >= int(started)


def test_octet_counted_rfc5424_with_embedded_newlines_and_rfc3164(
    registry: RegistryCache, tmp_path: Path
) -> None:
    rec = Recorder()
    handle = start(registry, rec, tmp_path)
    msgs = [
        b"<165>1 2025-07-01T08:00:00+07:00 web01 app 1 - - first line\nsecond line",
        b"<38>Jul  1 08:00:00 web01 sshd[4242]: Accepted publickey for admin",
        "<14>1 2025-07-01T08:00:01+07:00 web01 app - - - Đăng nhập thành công".encode(),
    ]
    try:
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            s.sendall(b"".join(str(len(m)).encode() + b" " + m for m in msgs))
        assert rec.wait_for(3) == 3
    finally:
        handle.stop()
    assert sorted(rec.payloads()) == sorted(m.decode() for m in msgs)


def test_unknown_peers_are_refused_and_counted(tmp_path: Path) -> None:
    store, cache = sqlite_registry(tmp_path, [source("elsewhere", address="192.0.2.10")])
    rec = Recorder()
    handle = start(cache, rec, tmp_path)
    before_tcp = rejected("unknown", "unknown_source", "tcp")
    before_udp = rejected("unknown", "unknown_source", "udp")
    try:
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            s.sendall(b"<13>hello\n")
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):  # reset: it closed with our line unread
                assert s.recv(10) == b""  # closed by the receiver
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(3):
                u.sendto(b"<13>hello", ("127.0.0.1", handle.ports["udp"]))
        deadline = time.monotonic() + 5
        while rejected("unknown", "unknown_source", "udp") < before_udp + 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        handle.stop()
        store.close()
    assert rec.records == []
    assert rejected("unknown", "unknown_source", "tcp") == before_tcp + 1
    assert rejected("unknown", "unknown_source", "udp") == before_udp + 3


def test_invalid_utf8_becomes_a_dead_letter_and_oversized_lines_are_skipped(
    registry: RegistryCache, tmp_path: Path
) -> None:
    rec = Recorder()
    handle = start(registry, rec, tmp_path)
    too_large = rejected("auth-syslog", "too_large", "tcp")
    bad_utf8 = rejected("auth-syslog", "invalid_utf8", "tcp")
    try:
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            s.sendall(b"<13>before\n<13>caf\xe9 latin-1\n<13>" + b"x" * 5000 + b"\n<13>after\n")
        assert rec.wait_for(2) == 2
        deadline = time.monotonic() + 5
        while not rec.deadletters and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        handle.stop()
    assert sorted(rec.payloads()) == ["<13>after", "<13>before"]
    [letter] = rec.deadletters
    assert letter.source_id == "auth-syslog" and letter.stage == "ingest"
    assert "not valid UTF-8 at byte 7" in letter.reason
    assert letter.raw == "<13>caf\\xe9 latin-1"
    assert rejected("auth-syslog", "too_large", "tcp") == too_large + 1
    assert rejected("auth-syslog", "invalid_utf8", "tcp") == bad_utf8 + 1


def test_kafka_down_stops_reading_and_loses_nothing(registry: RegistryCache, tmp_path: Path) -> None:
    """While `submit` raises BackPressure the connection is not read; when it recovers, all arrive."""
    rec = Recorder()
    rec.open.clear()
    handle = start(registry, rec, tmp_path)
    # Up to 46 MB: more than the receiver's socket buffer can grow to (Linux autotunes it up to
    # net.ipv4.tcp_rmem's maximum, 32 MiB here), so only a receiver that stops reading blocks it.
    most = 400_000

    def line(i: int) -> bytes:
        return f"<13>line {i:06d} {'p' * 100}\n".encode()

    try:
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
            s.settimeout(1.0)
            sent = 0
            blocked = False
            while sent < most:
                try:
                    s.sendall(line(sent))
                    sent += 1
                except TimeoutError:
                    blocked = True  # the receiver stopped reading: back-pressure reached the sender
                    break
            assert blocked, "the sender was never blocked while downstream was down"
            assert rec.records == [] and rec.refused > 0
            rec.open.set()
            s.settimeout(30)
            n = sent + 1000
            for i in range(sent, n):
                s.sendall(line(i))
        assert rec.wait_for(n, timeout_s=60) == n
    finally:
        handle.stop()
    assert len(rec.records) == n  # nothing lost, nothing twice


def test_rate_limit_drops_udp_and_pauses_tcp(registry: RegistryCache, tmp_path: Path) -> None:
    rec = Recorder()
    handle = start(registry, rec, tmp_path, ingest_rate_eps=200.0, ingest_rate_burst=100)
    dropped = rejected("auth-syslog", "rate_limited", "udp")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for i in range(1000):
                u.sendto(f"<13>udp flood {i}".encode(), ("127.0.0.1", handle.ports["udp"]))
        time.sleep(0.5)
        udp_got = len(rec.records)
        assert 100 <= udp_got < 500
        assert rejected("auth-syslog", "rate_limited", "udp") - dropped == 1000 - udp_got
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", handle.ports["tcp"])) as s:
            for i in range(400):
                s.sendall(f"<13>tcp {i}\n".encode())
        assert rec.wait_for(udp_got + 400, timeout_s=20) == udp_got + 400  # TCP: slowed, not dropped
        assert time.monotonic() - started > 1.0
    finally:
        handle.stop()
    assert metric("soc_source_throttled_seconds_total", source="auth-syslog") > 0


def test_tls_client_certificate_identifies_the_source_and_strangers_are_refused(
    registry: RegistryCache, tmp_path: Path, pki: dict[str, Path]
) -> None:
    rec = Recorder()
    handle = start(
        registry,
        rec,
        tmp_path,
        syslog_tls_port=0,
        syslog_tls_cert=pki["server_crt"],
        syslog_tls_key=pki["server_key"],
        syslog_tls_client_ca=pki["ca_crt"],
    )
    port = handle.ports["tls"]
    bad_cert = rejected("unknown", "bad_certificate", "tls")

    def send(cert: str | None, msg: bytes) -> None:
        ctx = ssl.create_default_context(cafile=str(pki["ca_crt"]))
        if cert:
            ctx.load_cert_chain(pki[f"{cert}_crt"], pki[f"{cert}_key"])
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as s,
        ):
            s.sendall(str(len(msg)).encode() + b" " + msg)
            s.settimeout(5)
            with contextlib.suppress(ssl.SSLError, OSError):
                s.recv(1)

    try:
        send("client", b"<13>1 - web01 app - - - from the certificate")
        send(None, b"<13>1 - web01 app - - - no certificate: by address")
        send("stranger", b"<13>1 - x app - - - stranger")
        assert rec.wait_for(2) == 2
        # not signed by the client CA: the handshake fails, counted
        other = make_pki(tmp_path / "other-ca")
        ctx = ssl.create_default_context(cafile=str(pki["ca_crt"]))
        ctx.load_cert_chain(other["client_crt"], other["client_key"])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            try:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"10 <13>hello!")
                    s.recv(1)
            except (ssl.SSLError, OSError):
                pass
        deadline = time.monotonic() + 5
        while rejected("unknown", "bad_certificate", "tls") < bad_cert + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        handle.stop()
    by_source = {r.payload: r.source_id for r in rec.records}
    assert by_source == {
        "<13>1 - web01 app - - - from the certificate": "web01-tls",
        "<13>1 - web01 app - - - no certificate: by address": "auth-syslog",
    }
    assert rejected("unknown", "bad_certificate", "tls") == bad_cert + 2
