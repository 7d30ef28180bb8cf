"""The command function for `socpipe ship` (registered in `socpipe.cli`).

The shipper runs on the province's hosts, where only the shipper is needed, so it also runs on
its own::

    python -m ingest.cli ship --url http://soc:8000 --path '/var/log/nginx/*.log' --state-dir /var/lib/ship
    python -m ingest.cli ship --url http://soc:8000 --once Security.evtx --case INSP-2026-014

The syslog receiver process, which needs Kafka and the registry, is wired in `socpipe.receivers`.
"""

from __future__ import annotations

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


app = typer.Typer(no_args_is_help=True, add_completion=False, help="socpipe ingest commands.")
app.command("ship")(ship_command)


@app.callback()
def _group() -> None:
    """A group even with one command, so `python -m ingest.cli ship ...` keeps its command name."""


if __name__ == "__main__":
    app()
