"""`socpipe syslog`: the distributed syslog receiver process (UDP/TCP/TLS), publishing to Kafka.

It lives in the composition root because it picks the adapters: Kafka for records and dead
letters, the mode's store for the registry its source lookup reads.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from soc_core.settings import Mode, Settings
from socpipe.heap import freeze_startup_heap
from socpipe.logs import setup_logging

log = logging.getLogger("socpipe.ingest")


def syslog_command(
    host: Annotated[str | None, typer.Option(help="Listen address (SOC_SYSLOG_HOST).")] = None,
    udp_port: Annotated[int | None, typer.Option(help="UDP port (SOC_SYSLOG_UDP_PORT).")] = None,
    tcp_port: Annotated[int | None, typer.Option(help="TCP port (SOC_SYSLOG_TCP_PORT).")] = None,
    tls_port: Annotated[int | None, typer.Option(help="TLS port, RFC 5425 (SOC_SYSLOG_TLS_PORT).")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Server certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Server key (PEM).")] = None,
    tls_client_ca: Annotated[
        Path | None, typer.Option(help="CA that signs client certificates (enables client certs).")
    ] = None,
    require_client_cert: Annotated[
        bool, typer.Option(help="Refuse TLS clients without a certificate.")
    ] = False,
    rate: Annotated[float | None, typer.Option(help="Per-source limit, events/s (0: none).")] = None,
    burst: Annotated[int | None, typer.Option(help="Per-source burst, events.")] = None,
) -> None:
    """Distributed mode: a syslog receiver process (UDP/TCP/TLS) publishing to Kafka `soc.raw`."""
    # imported on use: Kafka, the stores and the receiver cost every other `socpipe` command a
    # second at start-up (this module is imported to register the command)
    from ingest.sources import SourceDirectory
    from ingest.syslog.receiver import SyslogReceiver
    from socpipe.ops import start_ops
    from socpipe.runtime import KafkaSubmit, build_backend, build_kafka, build_registry

    setup_logging()

    settings = Settings.load(
        mode=Mode.DISTRIBUTED,
        ingest={
            "syslog_host": host,
            "syslog_udp_port": udp_port,
            "syslog_tcp_port": tcp_port,
            "syslog_tls_port": tls_port,
            "syslog_tls_cert": tls_cert,
            "syslog_tls_key": tls_key,
            "syslog_tls_client_ca": tls_client_ca,
            "syslog_tls_require_client_cert": require_client_cert or None,
            "ingest_rate_eps": rate,
            "ingest_rate_burst": burst,
        },
    )
    if not settings.ingest.syslog_listens:
        raise typer.BadParameter("no listener: give --udp-port, --tcp-port and/or --tls-port")
    backend = build_backend(settings)
    bus = build_kafka(settings)
    bus.ensure_topics(
        [settings.stores.topic_raw, settings.stores.topic_deadletter], settings.stores.topic_partitions
    )
    registry = build_registry(settings, backend)
    submit = KafkaSubmit(settings, bus)

    def deadletter(letters: Any) -> None:
        bus.publish(
            settings.stores.topic_deadletter,
            [(d.source_id.encode() if d.source_id else None, d.to_json()) for d in letters],
        )

    receiver = SyslogReceiver(settings.ingest, SourceDirectory(registry), submit, deadletter=deadletter)

    def health() -> dict[str, str]:
        return {**bus.health(), "syslog": "ok " + " ".join(f"{k}={v}" for k, v in receiver.ports.items())}

    ops = start_ops(settings, health, "syslog receiver")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await receiver.start()
        await stop.wait()
        log.info("stopping: no new connections; waiting until what was read is durable")
        await receiver.stop()

    freeze_startup_heap()
    asyncio.run(main())
    bus.close()
    ops.shutdown()
