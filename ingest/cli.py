"""Command functions for `socpipe ship` and `socpipe syslog` (registered in `soc_core.cli`).

They also run on their own, for tests and hosts without the full install::

    python -m ingest.cli ship --url http://soc:8000 --path '/var/log/nginx/*.log' --state-dir /var/lib/ship
    python -m ingest.cli ship --url http://soc:8000 --once Security.evtx --case INSP-2026-014
    python -m ingest.cli syslog --tcp-port 6514 --udp-port 5514
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger("socpipe.ingest")


def _setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("SOC_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("kafka", "elastic_transport", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _token(token: str | None, token_file: Path | None) -> str:
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    if not token:
        raise typer.BadParameter("a source token is needed: SOC_SHIP_TOKEN, --token or --token-file")
    return token


def ship_command(
    path: Annotated[
        list[str] | None, typer.Option("--path", "-p", help="Glob of files to tail (repeatable).")
    ] = None,
    once: Annotated[
        Path | None, typer.Option(help="Import this one file (text lines or .evtx) and exit.")
    ] = None,
    url: Annotated[str, typer.Option(envvar="SOC_SHIP_URL", help="The socpipe HTTP intake.")] = (
        "http://127.0.0.1:8000"
    ),
    token: Annotated[
        str | None, typer.Option(envvar="SOC_SHIP_TOKEN", help="The log source's token (prefer the env var).")
    ] = None,
    token_file: Annotated[Path | None, typer.Option(help="Read the token from this file.")] = None,
    state_dir: Annotated[
        Path, typer.Option(envvar="SOC_SHIP_STATE_DIR", help="Checkpoint and spool folder.")
    ] = Path(".socpipe/shipper"),
    exclude: Annotated[
        list[str] | None, typer.Option(help="Glob of file names to skip (default: compressed files).")
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", help="Log format, when not the source's registered one.")
    ] = None,
    start_at_end: Annotated[
        bool, typer.Option(help="On first start, ship only lines written from now on.")
    ] = False,
    case: Annotated[
        str | None, typer.Option(help="--once: inspection case or ticket the evidence belongs to.")
    ] = None,
    collected_by: Annotated[str | None, typer.Option(help="--once: who collected the evidence.")] = None,
    ca_file: Annotated[Path | None, typer.Option(help="CA bundle to verify an https intake.")] = None,
) -> None:
    """Ship log files to the HTTP intake (tail, survive rotation, spool while it is unreachable),
    or import one file with --once (evidence collected on site, including .evtx)."""
    _setup_logging()
    from ingest.shipper.sender import IntakeClient
    from ingest.shipper.shipper import Shipper, ShipperConfig, import_file
    from ingest.shipper.tail import DEFAULT_EXCLUDES

    secret = _token(token, token_file)
    verify: bool | str = str(ca_file) if ca_file else True
    if once is not None:
        evidence = {k: v for k, v in {"case": case, "collected_by": collected_by}.items() if v}
        client = IntakeClient(url, secret, verify=verify)
        stop = client.stop
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            result = import_file(once, client, fmt=format, evidence=evidence)
        finally:
            client.close()
        typer.echo(
            f"{once}: {result.records} records, {result.accepted} accepted, "
            f"{result.deadletters} dead letters (sha256 {result.sha256})"
        )
        return
    if not path:
        raise typer.BadParameter("give at least one --path glob, or --once FILE")
    config = ShipperConfig(
        url=url,
        token=secret,
        paths=path,
        state_dir=state_dir,
        excludes=tuple(exclude) if exclude else DEFAULT_EXCLUDES,
        format=format,
        start_at_end=start_at_end,
        verify_tls=verify,
    )
    shipper = Shipper(config)

    def on_signal(signum: int, frame: Any) -> None:
        log.info("got signal %s: spooling what was read and stopping", signum)
        shipper.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("shipping %s to %s (state in %s)", ", ".join(path), url, state_dir)
    shipper.run()


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
    _setup_logging()
    from ingest.config import IngestConfig
    from ingest.sources import SourceDirectory
    from ingest.syslog.receiver import SyslogReceiver
    from soc_core.heap import freeze_startup_heap
    from soc_core.ops import serve_ops
    from soc_core.registry_cache import RegistryCache
    from soc_core.runtime import KafkaSubmit, build_kafka, build_store
    from soc_core.settings import Mode, Settings

    settings = Settings(mode=Mode.DISTRIBUTED)
    config = IngestConfig.from_settings(
        settings,
        syslog_host=host,
        syslog_udp_port=udp_port,
        syslog_tcp_port=tcp_port,
        syslog_tls_port=tls_port,
        syslog_tls_cert=tls_cert,
        syslog_tls_key=tls_key,
        syslog_tls_client_ca=tls_client_ca,
        syslog_tls_require_client_cert=require_client_cert or None,
        ingest_rate_eps=rate,
        ingest_rate_burst=burst,
    )
    if config.syslog_udp_port is None and config.syslog_tcp_port is None and config.syslog_tls_port is None:
        raise typer.BadParameter("no listener: give --udp-port, --tcp-port and/or --tls-port")
    store = build_store(settings)
    bus = build_kafka(settings)
    bus.ensure_topics([settings.topic_raw, settings.topic_deadletter], settings.topic_partitions)
    registry = RegistryCache(store)
    registry.reload()
    submit = KafkaSubmit(settings, bus)

    def deadletter(letters: Any) -> None:
        bus.publish(
            settings.topic_deadletter,
            [(d.source_id.encode() if d.source_id else None, d.to_json()) for d in letters],
        )

    receiver = SyslogReceiver(config, SourceDirectory(registry), submit, deadletter=deadletter)

    def health() -> dict[str, str]:
        return {**bus.health(), "syslog": "ok " + " ".join(f"{k}={v}" for k, v in receiver.ports.items())}

    ops = serve_ops(settings.http_host, settings.ops_port, health)
    typer.echo(f"syslog receiver ops on http://{settings.http_host}:{ops.server_address[1]}", err=True)

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


app = typer.Typer(no_args_is_help=True, add_completion=False, help="socpipe ingest commands.")
app.command("ship")(ship_command)
app.command("syslog")(syslog_command)

if __name__ == "__main__":
    app()
