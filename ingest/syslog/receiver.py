"""The syslog receiver: asyncio listeners for UDP, TCP and TLS that hand batches to `submit`.

Delivery, per transport:

- TCP and TLS: a connection's next bytes are read only after `submit` returned for everything it
  sent so far. When Kafka (or the embedded store) is down, `submit` raises BackPressure, the batch
  is retried, and the connection simply stops being read: the sender's own queue holds the data
  (rsyslog's action queue, for example), nothing is dropped here. There is no acknowledgement in
  the syslog protocol, so what the kernel buffered when the receiver is killed is the sender's to
  resend (rsyslog does, with its queue; see deploy/shippers/rsyslog).
- UDP: best-effort by nature; datagrams are dropped (and counted, reason `backpressure`) once
  `syslog_udp_backlog` records wait for `submit`.

Who is sending: the verified client certificate (TLS) or the peer address declared in the
registry (`ingest.sources`). Unknown senders are refused: a TCP/TLS connection is closed with a
log line, a UDP datagram is dropped; both counted (`soc_source_rejected_total`, source `unknown`).

What is refused, per message, counted by source and reason, the receiver staying up:
`too_large` (over `max_record_bytes`, skipped whole), `rate_limited` (UDP over the source's token
bucket; TCP is paused instead, nothing lost), `invalid_utf8`. Bytes that are not UTF-8 are never
guessed at: with a dead-letter sink (the default wiring) the message is stored as a dead letter
(`stage=ingest`, reason naming the byte offset, the raw bytes shown with backslash escapes) so an
operator sees it; without one it is rejected and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ingest.batcher import AsyncBatcher, DeadLetterSink, Submit
from ingest.metrics import SOURCE_THROTTLED_SECONDS, SYSLOG_CONNECTIONS, UNKNOWN_SOURCE, rejected
from ingest.ratelimit import RateLimiter
from ingest.sources import Attribution, SourceDirectory
from ingest.syslog.framing import FrameDecoder, Frames, FramingError
from soc_core.errors import ConfigError, SocError
from soc_core.event import utcnow
from soc_core.records import DeadLetter, record_id
from soc_core.settings import IngestSettings

log = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
TLS_HANDSHAKE_TIMEOUT_S = 15.0


class _Throttle:
    """Log a repeated warning at most once per key and period, so a flood cannot flood the log."""

    def __init__(self, period_s: float = 60.0, max_keys: int = 10_000) -> None:
        self._period = period_s
        self._max_keys = max_keys
        self._last: dict[str, float] = {}

    def __call__(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._period:
            return False
        if len(self._last) >= self._max_keys:
            self._last.clear()
        self._last[key] = now
        return True


def build_tls_context(config: IngestSettings) -> ssl.SSLContext:
    """Server context for RFC 5425: TLS 1.2+, client certificates verified against the client CA."""
    if config.syslog_tls_cert is None or config.syslog_tls_key is None:
        raise ConfigError("syslog TLS needs a certificate and key (SOC_SYSLOG_TLS_CERT, SOC_SYSLOG_TLS_KEY)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(config.syslog_tls_cert), str(config.syslog_tls_key))
        if config.syslog_tls_client_ca is not None:
            ctx.load_verify_locations(cafile=str(config.syslog_tls_client_ca))
            ctx.verify_mode = (
                ssl.CERT_REQUIRED if config.syslog_tls_require_client_cert else ssl.CERT_OPTIONAL
            )
        elif config.syslog_tls_require_client_cert:
            raise ConfigError("syslog_tls_require_client_cert needs syslog_tls_client_ca")
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load syslog TLS files: {exc}", cert=config.syslog_tls_cert) from exc
    return ctx


def invalid_utf8_deadletter(
    attr: Attribution, raw: bytes, exc: UnicodeDecodeError, transport: str
) -> DeadLetter:
    return DeadLetter(
        id=record_id(attr.source_id, raw),
        source_id=attr.source_id,
        stage="ingest",
        format_tried=attr.source.format,
        reason=f"syslog message is not valid UTF-8 at byte {exc.start} ({transport})",
        raw=raw.decode("utf-8", "backslashreplace"),
    )


@dataclass
class ReceiverStats:
    connections: int = 0
    refused_connections: int = 0
    ports: dict[str, int] = field(default_factory=dict)


class SyslogReceiver:
    """Owns the listeners, the batcher and the registry refresh; run it on one event loop."""

    def __init__(
        self,
        config: IngestSettings,
        directory: SourceDirectory,
        submit: Submit,
        *,
        deadletter: DeadLetterSink | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.directory = directory
        self._submit = submit
        self._deadletter = deadletter
        self.limiter = limiter or RateLimiter(config.ingest_rate_eps, config.ingest_rate_burst)
        self._executor = ThreadPoolExecutor(max_workers=3, thread_name_prefix="syslog-submit")
        self.batcher: AsyncBatcher | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._refresh_task: asyncio.Task[None] | None = None
        self._tls: ssl.SSLContext | None = build_tls_context(config) if config.tls_enabled else None
        self._warn = _Throttle()
        self.stats = ReceiverStats()

    @property
    def ports(self) -> dict[str, int]:
        """Bound ports by transport (useful with port 0)."""
        return dict(self.stats.ports)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        self.batcher = AsyncBatcher(
            self._submit,
            self._executor,
            deadletter=self._deadletter,
            max_records=cfg.syslog_batch_records,
            max_delay_s=cfg.syslog_batch_ms / 1000,
        )
        host = cfg.syslog_host
        if cfg.syslog_tcp_port is not None:
            server = await asyncio.start_server(
                self._tcp_client, host, cfg.syslog_tcp_port, limit=READ_CHUNK, backlog=512
            )
            self._servers.append(server)
            self.stats.ports["tcp"] = server.sockets[0].getsockname()[1]
        if cfg.syslog_tls_port is not None:
            server = await asyncio.start_server(
                self._tls_client, host, cfg.syslog_tls_port, limit=READ_CHUNK, backlog=512
            )
            self._servers.append(server)
            self.stats.ports["tls"] = server.sockets[0].getsockname()[1]
        if cfg.syslog_udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, cfg.syslog_udp_port)
            )
            self._udp = transport
            sock = transport.get_extra_info("socket")
            with contextlib.suppress(OSError):
                import socket

                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
            self.stats.ports["udp"] = sock.getsockname()[1]
        self._refresh_task = loop.create_task(self._refresh_registry())
        log.info(
            "syslog receiver listening on %s %s",
            host,
            " ".join(f"{k}={v}" for k, v in sorted(self.stats.ports.items())),
        )

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop accepting, let connections hand over what they read, wait for it to be durable."""
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        if self._refresh_task is not None:
            self._refresh_task.cancel()
        for task in list(self._conn_tasks):
            task.cancel()
        if self._conn_tasks:
            await asyncio.wait(list(self._conn_tasks), timeout=timeout_s)
        if self.batcher is not None:
            try:
                await asyncio.wait_for(self.batcher.drain(), timeout_s)
            except TimeoutError:
                log.error(
                    "syslog receiver stopped with %d records not yet durable (downstream unavailable)",
                    self.batcher.backlog,
                )
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _refresh_registry(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.registry_refresh_s)
            try:
                await loop.run_in_executor(None, self.directory.refresh)
            except SocError as exc:
                log.warning("registry refresh failed, keeping the previous one: %s", exc)

    # -- TCP / TLS ---------------------------------------------------------------------------------

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connection(reader, writer, "tcp")

    async def _tls_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._connection(reader, writer, "tls")

    async def _connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transport: str
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        peer = writer.get_extra_info("peername")
        host = str(peer[0]) if peer else "?"
        SYSLOG_CONNECTIONS.labels(transport).inc()
        attr: Attribution | None = None
        try:
            attr = await self._identify(writer, host, transport)
            if attr is None:
                return
            self.stats.connections += 1
            log.debug("syslog %s connection from %s: source %s", transport, host, attr.source_id)
            await self._read_loop(reader, attr, host, transport)
        except asyncio.CancelledError:
            pass
        except FramingError as exc:
            rejected(attr.source_id if attr else UNKNOWN_SOURCE, "bad_request", transport)
            log.warning("syslog %s connection from %s closed: %s", transport, host, exc)
        except (ConnectionError, TimeoutError) as exc:
            log.info("syslog %s connection from %s lost: %s", transport, host, exc)
        except Exception:
            log.exception(
                "syslog %s connection from %s failed; records it sent since the last "
                "durable batch were not delivered",
                transport,
                host,
            )
        finally:
            SYSLOG_CONNECTIONS.labels(transport).dec()
            self._conn_tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _identify(self, writer: asyncio.StreamWriter, host: str, transport: str) -> Attribution | None:
        attr: Attribution | None
        if transport == "tls":
            assert self._tls is not None
            try:
                await writer.start_tls(self._tls, ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S)
            except (ssl.SSLError, OSError, TimeoutError) as exc:
                self._refuse(host, transport, "bad_certificate", f"TLS handshake failed: {exc}")
                return None
            sslobj = writer.get_extra_info("ssl_object")
            der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
            if der:
                attr = self.directory.by_certificate(der, sslobj.getpeercert())
                if attr is None:
                    self._refuse(
                        host, transport, "bad_certificate", "client certificate names no registry source"
                    )
                return attr
        attr = self.directory.by_peer(host)
        if attr is None:
            self._refuse(host, transport, "unknown_source", "peer address is not a registry source address")
        return attr

    def _refuse(self, host: str, transport: str, reason: str, why: str) -> None:
        self.stats.refused_connections += 1
        rejected(UNKNOWN_SOURCE, reason, transport)
        if self._warn(f"{transport}:{host}:{reason}"):
            log.warning("syslog %s connection from %s refused: %s (reason=%s)", transport, host, why, reason)

    async def _read_loop(
        self, reader: asyncio.StreamReader, attr: Attribution, host: str, transport: str
    ) -> None:
        decoder = FrameDecoder(self.config.max_record_bytes)
        while True:
            data = await reader.read(READ_CHUNK)
            frames = decoder.feed(data) if data else decoder.finish()
            if frames.messages or frames.oversized:
                await self._accept_stream(attr, frames, host, transport)
            if not data:
                return

    async def _accept_stream(self, attr: Attribution, frames: Frames, host: str, transport: str) -> None:
        """Queue a chunk's messages and wait until they are durable (this is the back-pressure).

        Over its rate limit a TCP source is paused, slice by slice of at most `burst` messages:
        the socket is not read meanwhile, so the sender slows down and nothing is dropped."""
        if frames.oversized:
            self._oversized(attr, frames.oversized, host, transport)
        messages = frames.messages
        limiter = self.limiter
        step = max(1, int(limiter.burst)) if limiter.enabled else max(1, len(messages))
        futures: set[asyncio.Future[None]] = set()
        for i in range(0, len(messages), step):
            part = messages[i : i + step]
            while (wait := limiter.take(attr.source_id, len(part))) > 0:
                SOURCE_THROTTLED_SECONDS.labels(attr.source_id).inc(wait)
                await asyncio.sleep(wait)
            futures.update(self._queue(attr, part, transport))
        if futures:
            await asyncio.gather(*futures)

    def _oversized(self, attr: Attribution, n: int, host: str, transport: str) -> None:
        rejected(attr.source_id, "too_large", transport, n)
        if self._warn(f"too_large:{attr.source_id}"):
            log.warning(
                "syslog %s: %d message(s) from %s (source %s) over %d bytes skipped (reason=too_large)",
                transport,
                n,
                host,
                attr.source_id,
                self.config.max_record_bytes,
            )

    def _queue(
        self, attr: Attribution, messages: Sequence[bytes], transport: str
    ) -> list[asyncio.Future[None]]:
        """Hand messages that arrived together to the batcher as one group (one arrival time, one
        batch, counted once); the distinct futures to await. Messages that are not UTF-8 become
        dead letters (or are rejected), the others go on."""
        try:
            texts = [raw.decode("utf-8") for raw in messages]
        except UnicodeDecodeError:
            return self._queue_mixed(attr, messages, transport)
        return [self._queue_texts(attr, messages, texts)] if texts else []

    def _queue_texts(
        self, attr: Attribution, raws: Sequence[bytes], texts: Sequence[str]
    ) -> asyncio.Future[None]:
        batcher = self.batcher
        assert batcher is not None
        records = attr.lines(raws, texts, utcnow())
        return batcher.extend(attr.source_id, records, sum(map(len, raws)))

    def _queue_mixed(
        self, attr: Attribution, messages: Sequence[bytes], transport: str
    ) -> list[asyncio.Future[None]]:
        futures: list[asyncio.Future[None]] = []
        raws: list[bytes] = []
        texts: list[str] = []
        for raw in messages:
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                fut = self._invalid_utf8(attr, raw, exc, transport)
                if fut is not None:
                    futures.append(fut)
            else:
                raws.append(raw)
        if raws:
            futures.append(self._queue_texts(attr, raws, texts))
        return list(dict.fromkeys(futures))

    def _invalid_utf8(
        self, attr: Attribution, raw: bytes, exc: UnicodeDecodeError, transport: str
    ) -> asyncio.Future[None] | None:
        rejected(attr.source_id, "invalid_utf8", transport)
        batcher = self.batcher
        assert batcher is not None
        if self._warn(f"utf8:{attr.source_id}"):
            log.warning(
                "syslog %s: message from source %s is not UTF-8 at byte %d: %s",
                transport,
                attr.source_id,
                exc.start,
                "stored as a dead letter" if batcher.can_deadletter else "rejected",
            )
        if batcher.can_deadletter:
            return batcher.add_deadletter(invalid_utf8_deadletter(attr, raw, exc, transport))
        return None

    # -- UDP ---------------------------------------------------------------------------------------

    def datagram(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        host = str(addr[0])
        attr = self.directory.by_peer(host)
        if attr is None:
            rejected(UNKNOWN_SOURCE, "unknown_source", "udp")
            if self._warn(f"udp:{host}"):
                log.warning(
                    "syslog udp datagram from %s dropped: peer address is not a registry source "
                    "address (reason=unknown_source)",
                    host,
                )
            return
        raw = data.rstrip(b"\r\n\x00")
        if not raw:
            return
        if len(raw) > self.config.max_record_bytes:
            self._oversized(attr, 1, host, "udp")
            return
        if self.limiter.take(attr.source_id, 1) > 0:
            rejected(attr.source_id, "rate_limited", "udp")
            if self._warn(f"rate:{attr.source_id}"):
                log.warning(
                    "syslog udp: source %s over its rate limit (%.0f/s): datagrams dropped "
                    "(reason=rate_limited)",
                    attr.source_id,
                    self.limiter.rate,
                )
            return
        batcher = self.batcher
        assert batcher is not None
        if batcher.backlog >= self.config.syslog_udp_backlog:
            rejected(attr.source_id, "backpressure", "udp")
            if self._warn("udp-backlog"):
                log.warning(
                    "syslog udp: %d records wait for downstream: datagrams dropped (reason=backpressure)",
                    batcher.backlog,
                )
            return
        for fut in self._queue(attr, (raw,), "udp"):
            fut.add_done_callback(_count_udp_failure(attr.source_id))


def _count_udp_failure(source_id: str) -> _UdpFailure:
    return _UdpFailure(source_id)


class _UdpFailure:
    """Done-callback: a UDP record whose batch failed is lost (no one to tell); count it."""

    __slots__ = ("source_id",)

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id

    def __call__(self, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            rejected(self.source_id, "submit_error", "udp")


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: SyslogReceiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._receiver.datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.warning("syslog udp socket error: %s", exc)
