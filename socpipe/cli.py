"""`socpipe`: the one command line. The composition root's entry: it builds Settings from the
environment (and flags), then the mode's store, bus and stages (`socpipe.runtime`), and runs a process.

    socpipe run [--demo]                 embedded mode: intake + stages + SQLite + console, one process
    socpipe api                          distributed: intake/API/console, publishing to Kafka
    socpipe worker normalize|detect|correlate|index|notify  distributed: one stage, Kafka in, Kafka or ES out
    socpipe scheduler                    distributed: periodic jobs (source activity, ...)
    socpipe syslog                       distributed: a syslog receiver publishing to Kafka
    socpipe registry import|export       the province's registry as YAML
    socpipe detect|normalize|ship        offline and shipper commands owned by their stages
    socpipe token|user                   API tokens and console users
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from soc_core.settings import Mode, Settings
from socpipe.logs import setup_logging

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Security event pipeline for a provincial SOC."
)
registry_app = typer.Typer(no_args_is_help=True, help="Import and export the province's registry.")
app.add_typer(registry_app, name="registry")


def _register_commands() -> None:
    """Offline commands owned by their stage packages, and the processes wired in other modules."""
    from detections.cli import detect_command
    from ingest.cli import ship_command
    from normalizers.cli import normalize_command
    from socpipe.accounts import token_app, user_app
    from socpipe.receivers import syslog_command

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


_register_commands()


def _serve(ctx: Any, settings: Settings) -> None:
    """The HTTP app on the public port, and the ops listener (/metrics, detailed /health) once the
    app is listening: a probe that finds the ops /health up can send to the public port."""
    import uvicorn

    from socpipe.app import create_app
    from socpipe.heap import freeze_startup_heap
    from socpipe.ops import start_ops

    app = create_app(ctx)
    freeze_startup_heap()  # the intake's per-record objects would make the GC walk all of it
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)

    def ops_once_serving() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        start_ops(settings, ctx.health, "api")

    threading.Thread(target=ops_once_serving, name="ops-start", daemon=True).start()
    server.run()


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
    setup_logging()
    from api.context import AppContext
    from soc_core.pipeline import EmbeddedPipeline
    from soc_core.registry_cache import RegistryCache
    from socpipe.runtime import EmbeddedSubmit, build_backend, build_detect, build_normalize

    settings = Settings.load(
        mode=Mode.EMBEDDED,
        http_host=host,
        http_port=port,
        data_dir=data_dir,
        ingest={"syslog_udp_port": syslog_port, "syslog_tcp_port": syslog_port},
    )
    backend = build_backend(settings)
    store = backend.store
    registry = RegistryCache(store)
    demo_sources: dict[str, str] = {}
    if demo:
        from socpipe.demo.province import demo_registry

        reg, demo_sources = demo_registry()
        store.save_registry(reg)
        from api.auth.service import create_demo_users

        typer.echo("Demo users (new passwords at every start):")
        for username, password, role in create_demo_users(store):
            typer.echo(f"  {role:<9} {username} / {password}")
    registry.reload()
    from detections.state import RuleWatcher
    from socpipe.jobs import start_embedded_jobs

    detect = build_detect(settings, backend)
    pipeline = EmbeddedPipeline(store, build_normalize(registry, settings), detect)
    from socpipe.notify import start_embedded_notify

    handoff, _, _ = start_embedded_notify(
        settings,
        registry=registry.current,
        store=store,
        deadletter=store.put_deadletters,
        config_store=backend.notify_config,
        state_store=backend.notify_state,
    )
    pipeline.alert_sink = handoff.offer  # early warnings in the background, never in the batch's way
    ctx = AppContext(
        settings=settings,
        backend=backend,
        registry=registry,
        submit=EmbeddedSubmit(pipeline),
        health_checks=[store.health],
        detect_engine=detect.engine,  # the scheduler ticks the watcher here, not the rules API
    )
    limit = settings.detection.exception_limit
    rule_watcher = RuleWatcher(
        detect.engine, backend.rule_state, exceptions=backend.exceptions, exception_limit=limit
    )
    rule_watcher.tick()  # the stored enabled/disabled state and exceptions before the first event
    from detections.correlation.engine import LiveCorrelation

    correlation = detect.correlate
    assert isinstance(correlation, LiveCorrelation)  # build_detect's in-process engine
    ctx.correlation_stats = correlation.stats
    start_embedded_jobs(
        backend, rule_watcher, lambda: pipeline.store_alerts(correlation.idle()), settings=settings
    )
    from ingest.syslog.runner import start_syslog_in_thread

    syslog = start_syslog_in_thread(settings.ingest, registry, ctx.submit, deadletter=store.put_deadletters)
    if syslog is not None:
        typer.echo(
            f"Syslog: udp={settings.ingest.syslog_udp_port} tcp={settings.ingest.syslog_tcp_port} "
            f"tls={settings.ingest.syslog_tls_port} on {settings.ingest.syslog_host}"
        )
    url = f"http://{settings.http_host}:{settings.http_port}"
    if demo:
        from socpipe.demo.traffic import DemoShippers

        shippers = DemoShippers(url, demo_sources, {s.id: s.format or "" for s in reg.sources})
        threading.Thread(target=shippers.run, name="demo-shippers", daemon=True).start()
        typer.echo(
            f"Demo province loaded: {len(reg.units)} units, {len(reg.systems)} systems, "
            f"{len(reg.sources)} log sources; demo shippers sending."
        )
    typer.echo(f"Console: {url}/   API docs (signed in): {url}/api/docs")
    _serve(ctx, settings)


@app.command()
def api() -> None:
    """Distributed mode: HTTP intake, API and console; records go to Kafka, reads come from Elasticsearch."""
    setup_logging()
    from api.context import AppContext
    from socpipe.runtime import KafkaSubmit, build_backend, build_kafka, build_registry

    settings = Settings.load(mode=Mode.DISTRIBUTED)
    backend = build_backend(settings)
    store = backend.store
    bus = build_kafka(settings)
    bus.ensure_topics(settings.stores.topics, settings.stores.topic_partitions)
    registry = build_registry(settings, backend)  # never read per request: see RegistryCache
    from detections.state import RuleWatcher
    from socpipe.runtime import build_engine

    rule_engine = build_engine(settings)
    # the rules API ticks it per request; exceptions too, so evidence uploads scanned here honour them
    limit = settings.detection.exception_limit
    rule_watcher = RuleWatcher(
        rule_engine, backend.rule_state, exceptions=backend.exceptions, exception_limit=limit
    )
    rule_watcher.tick()  # the stored enabled/disabled state before the first request
    ctx = AppContext(
        settings=settings,
        backend=backend,
        registry=registry,
        submit=KafkaSubmit(settings, bus),
        health_checks=[store.health, bus.health],
        detect_engine=rule_engine,
        rule_watcher=rule_watcher,
    )
    _serve(ctx, settings)


class Stage(StrEnum):
    NORMALIZE = "normalize"
    DETECT = "detect"
    CORRELATE = "correlate"
    INDEX = "index"
    NOTIFY = "notify"


@app.command()
def worker(stage: Stage) -> None:
    """Distributed mode: run one stage until SIGTERM (the current batch finishes and is committed)."""
    setup_logging()
    from socpipe.heap import freeze_startup_heap
    from socpipe.ops import start_ops
    from socpipe.runtime import build_backend, build_detect, build_kafka, build_normalize, build_registry
    from socpipe.workers import (
        HitBuffer,
        StageWorker,
        detect_handler,
        index_handler,
        normalize_handler,
        publish_deadletters,
        run_until_stopped,
    )

    settings = Settings.load(mode=Mode.DISTRIBUTED)
    bus = build_kafka(settings)
    bus.ensure_topics(settings.stores.topics, settings.stores.topic_partitions)
    group = f"{settings.stores.topic_prefix}socpipe-{stage.value}"
    checks = [bus.health]
    backend = build_backend(settings)  # each stage opens only what it uses
    idle = None
    stopping: list[Callable[[], None]] = []
    stop_event = threading.Event()  # SIGTERM sets it: the batch finishes, pauses are cut short
    # where a record the handler fails on goes (`StageWorker`): the topic the index worker stores
    deadletter = publish_deadletters(bus, settings.stores.topic_deadletter)
    if stage is Stage.NORMALIZE:
        registry = build_registry(settings, backend)
        handle = normalize_handler(settings, bus, build_normalize(registry, settings))
        consumer = bus.consumer(settings.stores.topic_raw_pattern, group)
    elif stage is Stage.DETECT:
        from detections.state import RuleWatcher

        hits = HitBuffer()  # correlation rule hits go to soc.rulehits, for the correlate worker
        detect = build_detect(settings, backend, correlate=hits)
        limit = settings.detection.exception_limit
        rule_watcher = RuleWatcher(
            detect.engine, backend.rule_state, exceptions=backend.exceptions, exception_limit=limit
        )
        rule_watcher.tick()
        handle = detect_handler(settings, bus, detect, tick=rule_watcher.tick, hits=hits)
        stopping.append(rule_watcher.flush_counts)  # suppressed counts of the last batches
        consumer = bus.consumer([settings.stores.topic_events], group)
    elif stage is Stage.CORRELATE:
        from detections.state import RuleWatcher
        from socpipe.correlate import CorrelateWorker
        from socpipe.runtime import build_engine

        rules = build_engine(settings)
        rule_watcher = RuleWatcher(rules, backend.rule_state)
        rule_watcher.tick()
        bus.ensure_topics(
            [settings.stores.topic_correlation_state], settings.stores.topic_partitions, compacted=True
        )
        correlate = CorrelateWorker(
            settings,
            bus,
            lambda: rules.correlations,
            tick=rule_watcher.tick,
            disabled=lambda: rules.disabled,  # the shared rule state, as the watcher applied it
        )
        handle, idle = correlate.handle, correlate.idle
        consumer = bus.consumer(
            [settings.stores.topic_rulehits],
            group,
            on_assign=correlate.on_assign,
            on_revoke=correlate.on_revoke,
        )
    elif stage is Stage.NOTIFY:
        from socpipe.notify import build_notify_worker

        registry = build_registry(settings, backend)
        notifier = build_notify_worker(
            settings,
            registry=registry.current,
            store=backend.store,
            deadletter=deadletter,
            stop=stop_event,
            config_store=backend.notify_config,
            state_store=backend.notify_state,
        )
        handle, idle = notifier.handle, notifier.idle
        stopping.append(notifier.dispatcher.close)
        consumer = bus.consumer([settings.stores.topic_alerts], group)  # its own group: never in the way
    else:
        store = backend.store
        checks.append(store.health)
        handle = index_handler(settings, store)
        deadletter = store.put_deadletters  # the index worker stores its own
        consumer = bus.consumer(
            [settings.stores.topic_events, settings.stores.topic_alerts, settings.stores.topic_deadletter],
            group,
        )

    def health() -> dict[str, str]:
        out: dict[str, str] = {}
        for check in checks:
            out.update(check())
        return out

    start_ops(settings, health, f"worker {stage.value}")
    freeze_startup_heap()  # per-event objects would make every full collection walk the rule set
    run_until_stopped(
        StageWorker(
            stage.value,
            consumer,
            handle,
            batch=settings.stores.consumer_batch,
            idle=idle,
            deadletter=deadletter,
            stop=stop_event,
        )
    )
    for stop in stopping:
        stop()
    bus.close()


@app.command()
def scheduler() -> None:
    """Distributed mode: periodic jobs (APScheduler): the coverage snapshot and silence alerts,
    inspection reminders, the weekly and monthly reports, and retention of expired indices."""
    setup_logging()
    from apscheduler.schedulers.blocking import BlockingScheduler

    from socpipe.jobs import (
        ReportJob,
        add_coverage_job,
        add_reminder_job,
        add_report_job,
        add_retention_job,
        report_dispatcher,
    )
    from socpipe.ops import start_ops
    from socpipe.runtime import build_backend

    settings = Settings.load(mode=Mode.DISTRIBUTED)
    backend = build_backend(settings)
    sched = BlockingScheduler(timezone="UTC")
    add_coverage_job(sched, backend, first_run=datetime.now(UTC))
    add_reminder_job(sched, backend)
    add_report_job(
        sched, ReportJob(backend, settings, report_dispatcher(settings)), first_run=datetime.now(UTC)
    )
    add_retention_job(
        sched,
        backend.retention(settings.stores.retention_days),
        interval_s=settings.stores.retention_check_interval_s,
        first_run=datetime.now(UTC) + timedelta(minutes=1),
    )
    start_ops(settings, backend.store.health, "scheduler")

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
    from socpipe.runtime import build_backend

    text = file.read_text(encoding="utf-8")
    try:
        is_csv = file.suffix.lower() == ".csv"
        if is_csv and kind is None:
            raise service.RegistryInvalid([f"{file}: a CSV import needs --kind"])
        incoming = service.parse_csv(kind, text) if is_csv and kind else service.parse_yaml(text)
        store = build_backend(Settings.load(mode=mode)).store
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
    from socpipe.runtime import build_backend

    registry = build_backend(Settings.load(mode=mode)).store.load_registry()
    if format == "csv":
        if kind not in service.KINDS:
            raise typer.BadParameter(f"--kind must be one of {', '.join(service.KINDS)}")
        sys.stdout.write(service.to_csv(registry, kind))
    else:
        sys.stdout.write(service.to_yaml(registry))


if __name__ == "__main__":
    app()
