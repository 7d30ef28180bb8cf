"""`socpipe`: the one command line. It is the composition root: it builds Settings from the
environment (and flags), then the mode's store, bus and stages, and runs a process.

    socpipe run [--demo]                 embedded mode: intake + stages + SQLite + console, one process
    socpipe api                          distributed: intake/API/console, publishing to Kafka
    socpipe worker normalize|detect|index  distributed: one stage, Kafka in, Kafka or Elasticsearch out
    socpipe scheduler                    distributed: periodic jobs (source activity, ...)
    socpipe registry import|export       the province's registry as YAML
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from soc_core.settings import Mode, Settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Security event pipeline for a provincial SOC."
)
registry_app = typer.Typer(no_args_is_help=True, help="Import and export the province's registry.")
app.add_typer(registry_app, name="registry")


def _register_stage_commands() -> None:
    """Offline commands owned by their stage packages (imported lazily by typer at call time)."""
    from api.auth.cli import token_app, user_app
    from detections.cli import detect_command
    from ingest.cli import ship_command, syslog_command
    from normalizers.cli import normalize_command

    app.add_typer(token_app, name="token", help="API bearer tokens for automation.")
    app.add_typer(user_app, name="user", help="Console users.")
    app.command("detect", help="Run Sigma rules over raw logs, .evtx files or ECS JSON lines (offline).")(
        detect_command
    )
    app.command("normalize", help="Map raw records (or an .evtx file) to ECS JSON lines (offline).")(
        normalize_command
    )
    app.command("ship", help="Tail files (or import one with --once) and send them to the intake.")(
        ship_command
    )
    app.command("syslog", help="Distributed mode: a syslog receiver (UDP/TCP/TLS) publishing to Kafka.")(
        syslog_command
    )


_register_stage_commands()

log = logging.getLogger("socpipe")


def _setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=os.environ.get("SOC_LOG_LEVEL", level), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO (the rule watcher ticks each second); its
    # failures and missed runs are ERROR and WARNING, which still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _serve(ctx: Any, settings: Settings) -> None:
    import uvicorn

    from api.app import create_app
    from soc_core.heap import freeze_startup_heap

    app = create_app(ctx)
    freeze_startup_heap()  # the intake's per-record objects would make the GC walk all of it
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
    )


@app.command()
def run(
    demo: Annotated[
        bool, typer.Option(help="Load the demo province and keep demo shippers sending.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8000).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the SQLite store lives (default ./.socpipe).")
    ] = None,
    syslog_port: Annotated[
        int | None, typer.Option(help="Also receive syslog on this port (UDP and TCP, same host).")
    ] = None,
) -> None:
    """Embedded mode: everything in one process, no servers needed; console on http://HOST:PORT."""
    _setup_logging()
    from api.context import AppContext
    from soc_core.pipeline import EmbeddedPipeline
    from soc_core.registry_cache import RegistryCache
    from soc_core.runtime import EmbeddedSubmit, build_detect, build_normalize, build_store

    settings = _settings(
        mode=Mode.EMBEDDED,
        http_host=host,
        http_port=port,
        data_dir=data_dir,
        syslog_udp_port=syslog_port,
        syslog_tcp_port=syslog_port,
    )
    store = build_store(settings)
    registry = RegistryCache(store)
    demo_sources: dict[str, str] = {}
    if demo:
        from soc_core.demo.province import demo_registry

        reg, demo_sources = demo_registry()
        store.save_registry(reg)
        from api.auth.service import create_demo_users

        typer.echo("Demo users (new passwords at every start):")
        for username, password, role in create_demo_users(store):
            typer.echo(f"  {role:<9} {username} / {password}")
    registry.reload()
    from detections.state import RuleWatcher, rule_state_store

    detect = build_detect(settings)
    pipeline = EmbeddedPipeline(store, build_normalize(registry), detect)
    ctx = AppContext(
        settings=settings,
        store=store,
        registry=registry,
        submit=EmbeddedSubmit(pipeline),
        health_checks=[store.health],
    )
    rule_state = rule_state_store(settings)
    rule_watcher = RuleWatcher(detect.engine, rule_state)
    rule_watcher.tick()  # the stored enabled/disabled state before the first event
    ctx.extras["detect_engine"] = detect.engine
    ctx.extras["rule_state"] = rule_state
    ctx.extras["coverage_repo"] = _start_background_jobs(store, rule_watcher)
    from ingest.syslog.runner import start_syslog_in_thread

    syslog = start_syslog_in_thread(settings, registry, ctx.submit, deadletter=store.put_deadletters)
    if syslog is not None:
        typer.echo(
            f"Syslog: udp={settings.syslog_udp_port} tcp={settings.syslog_tcp_port} "
            f"tls={settings.syslog_tls_port} on {settings.syslog_host}"
        )
    url = f"http://{settings.http_host}:{settings.http_port}"
    if demo:
        from soc_core.demo.traffic import DemoShippers

        shippers = DemoShippers(url, demo_sources, {s.id: s.format or "" for s in reg.sources})
        threading.Thread(target=shippers.run, name="demo-shippers", daemon=True).start()
        typer.echo(
            f"Demo province loaded: {len(reg.units)} units, {len(reg.systems)} systems, "
            f"{len(reg.sources)} log sources; demo shippers sending."
        )
    typer.echo(f"Console: {url}/   API docs: {url}/api/docs   Metrics: {url}/metrics")
    _serve(ctx, settings)


def _add_reminder_job(sched: Any, store: Any) -> None:
    """Hourly reminders before inspection deadlines (findings, self-assessment reports)."""
    from api.inspections.jobs import send_reminders
    from api.inspections.repository import inspection_repository

    inspections = inspection_repository(store)
    sched.add_job(
        lambda: send_reminders(store=store, repo=inspections),
        "interval",
        hours=1,
        id="inspection-reminders",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )


def _start_background_jobs(store: Any, rule_watcher: Any = None) -> Any:
    """Embedded mode runs the scheduler's jobs in a background thread of the same process."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from api.coverage.jobs import CoverageJob, triage_resolver
    from api.coverage.repository import coverage_repository

    repo = coverage_repository(store)
    job = CoverageJob(store, repo, resolve_alert=triage_resolver(store))
    sched = BackgroundScheduler(timezone="UTC")
    sched.add_job(
        job.run,
        "interval",
        seconds=60,
        id="coverage",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC) + timedelta(seconds=15),  # after the first demo traffic
    )
    _add_reminder_job(sched, store)
    if rule_watcher is not None:  # rate-limited inside: state every 5 s, rule files every 30 s
        sched.add_job(rule_watcher.tick, "interval", seconds=1, id="rules", max_instances=1, coalesce=True)
    sched.start()
    return repo


@app.command()
def api() -> None:
    """Distributed mode: HTTP intake, API and console; records go to Kafka, reads come from Elasticsearch."""
    _setup_logging()
    from api.context import AppContext
    from soc_core.registry_cache import RegistryCache
    from soc_core.runtime import KafkaSubmit, build_kafka, build_store

    settings = _settings(mode=Mode.DISTRIBUTED)
    store = build_store(settings)
    bus = build_kafka(settings)
    bus.ensure_topics(
        [settings.topic_raw, settings.topic_events, settings.topic_alerts, settings.topic_deadletter],
        settings.topic_partitions,
    )
    registry = RegistryCache(store)
    registry.reload()
    ctx = AppContext(
        settings=settings,
        store=store,
        registry=registry,
        submit=KafkaSubmit(settings, bus),
        health_checks=[store.health, bus.health],
    )
    from api.coverage.repository import coverage_repository
    from api.rules.service import load_engine
    from detections.state import RuleWatcher, rule_state_store

    ctx.extras["coverage_repo"] = coverage_repository(store)
    rule_state = rule_state_store(settings)
    rule_engine = load_engine(settings, state=rule_state)
    ctx.extras["detect_engine"] = rule_engine
    ctx.extras["rule_state"] = rule_state
    ctx.extras["rule_watcher"] = RuleWatcher(rule_engine, rule_state)  # the rules API ticks it per request
    _serve(ctx, settings)


class Stage(StrEnum):
    NORMALIZE = "normalize"
    DETECT = "detect"
    INDEX = "index"


@app.command()
def worker(stage: Stage) -> None:
    """Distributed mode: run one stage until SIGTERM (the current batch finishes and is committed)."""
    _setup_logging()
    from soc_core.heap import freeze_startup_heap
    from soc_core.ops import serve_ops
    from soc_core.registry_cache import RegistryCache
    from soc_core.runtime import build_detect, build_kafka, build_normalize, build_store
    from soc_core.workers import (
        StageWorker,
        detect_handler,
        index_handler,
        normalize_handler,
        run_until_stopped,
    )

    settings = _settings(mode=Mode.DISTRIBUTED)
    bus = build_kafka(settings)
    bus.ensure_topics(
        [settings.topic_raw, settings.topic_events, settings.topic_alerts, settings.topic_deadletter],
        settings.topic_partitions,
    )
    group = f"{settings.topic_prefix}socpipe-{stage.value}"
    checks = [bus.health]
    if stage is Stage.NORMALIZE:
        store = build_store(settings)
        registry = RegistryCache(store)
        registry.reload()
        checks.append(store.health)
        handle = normalize_handler(settings, bus, build_normalize(registry))
        consumer = bus.consumer(settings.topic_raw_pattern, group)
    elif stage is Stage.DETECT:
        from detections.state import RuleWatcher, rule_state_store

        detect = build_detect(settings)
        rule_watcher = RuleWatcher(detect.engine, rule_state_store(settings))
        rule_watcher.tick()
        handle = detect_handler(settings, bus, detect, tick=rule_watcher.tick)
        consumer = bus.consumer([settings.topic_events], group)
    else:
        store = build_store(settings)
        checks.append(store.health)
        handle = index_handler(settings, store)
        consumer = bus.consumer(
            [settings.topic_events, settings.topic_alerts, settings.topic_deadletter], group
        )

    def health() -> dict[str, str]:
        out: dict[str, str] = {}
        for check in checks:
            out.update(check())
        return out

    ops = serve_ops(settings.http_host, settings.ops_port, health)
    typer.echo(f"worker {stage.value} ops on http://{settings.http_host}:{ops.server_address[1]}", err=True)
    freeze_startup_heap()  # per-event objects would make every full collection walk the rule set
    run_until_stopped(StageWorker(stage.value, consumer, handle, batch=settings.consumer_batch))
    bus.close()


@app.command()
def scheduler() -> None:
    """Distributed mode: periodic jobs (APScheduler): the coverage snapshot and silence alerts."""
    _setup_logging()
    from apscheduler.schedulers.blocking import BlockingScheduler

    from api.coverage.jobs import CoverageJob, triage_resolver
    from api.coverage.repository import coverage_repository
    from soc_core.ops import serve_ops
    from soc_core.runtime import build_store

    settings = _settings(mode=Mode.DISTRIBUTED)
    store = build_store(settings)
    job = CoverageJob(store, coverage_repository(store), resolve_alert=triage_resolver(store))
    sched = BlockingScheduler(timezone="UTC")
    sched.add_job(
        job.run,
        "interval",
        seconds=60,
        id="coverage",
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(UTC),
    )
    _add_reminder_job(sched, store)
    ops = serve_ops(settings.http_host, settings.ops_port, store.health)
    typer.echo(f"scheduler ops on http://{settings.http_host}:{ops.server_address[1]}", err=True)

    def stop(signum: int, frame: Any) -> None:
        sched.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    sched.start()


@registry_app.command("import")
def registry_import(
    file: Path,
    kind: Annotated[
        str | None, typer.Option(help="For a CSV file: units, systems, sources, endpoints or targets.")
    ] = None,
    mode: Annotated[Mode, typer.Option(help="Which store to write to.")] = Mode.EMBEDDED,
) -> None:
    """Import (upsert) a registry YAML file, or one kind from a CSV file; validated as a whole first."""
    from api.registry import service
    from soc_core.runtime import build_store

    text = file.read_text(encoding="utf-8")
    try:
        is_csv = file.suffix.lower() == ".csv"
        if is_csv and kind is None:
            raise service.RegistryInvalid([f"{file}: a CSV import needs --kind"])
        incoming = service.parse_csv(kind, text) if is_csv and kind else service.parse_yaml(text)
        store = build_store(_settings(mode=mode))
        service.apply_import(store, incoming)
    except service.RegistryInvalid as exc:
        typer.echo(f"{file}: registry not imported:", err=True)
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        raise typer.Exit(2) from None
    counts = ", ".join(f"{len(getattr(incoming, k))} {k}" for k in service.KINDS)
    typer.echo(f"imported {counts}")


@registry_app.command("export")
def registry_export(
    format: Annotated[str, typer.Option(help="yaml or csv")] = "yaml",
    kind: Annotated[str | None, typer.Option(help="For CSV: which kind to export.")] = None,
    mode: Annotated[Mode, typer.Option()] = Mode.EMBEDDED,
) -> None:
    """Write the registry as YAML (or one kind as CSV) to stdout; token hashes only, never tokens."""
    from api.registry import service
    from soc_core.runtime import build_store

    registry = build_store(_settings(mode=mode)).load_registry()
    if format == "csv":
        if kind not in service.KINDS:
            raise typer.BadParameter(f"--kind must be one of {', '.join(service.KINDS)}")
        sys.stdout.write(service.to_csv(registry, kind))
    else:
        sys.stdout.write(service.to_yaml(registry))


if __name__ == "__main__":
    app()
