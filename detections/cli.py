"""`socpipe detect`: run the detection engine over files, print alerts as JSON lines.

Registered in `socpipe/cli.py` as `app.command("detect")(detect_command)`. Input files are raw
records, one per line (any registered format: given with `--format` or sniffed per record),
ECS JSON lines, or `.evtx` files (read by `normalizers.evtx_file.iter_records` into the
`evtx_json` shape). `--unit` attributes the records to a registry unit (`soc.unit.id`), as ingest
does for a registered source, so rules that group by unit (correlations) see it. Records go
through the same `NormalizeStage` and `DetectStage` as the pipeline, a file at a time
(`detections.offline.detect_file`, compiled with the stage; with `deferred`: an evtx
record's flat view is written directly and its ECS document built only if an alert or a
correlation hit needs it, the same bytes; see `NormalizeStage.normalize`); alerts are written
unsuppressed, one JSON document per line, to stdout. Records that do not normalize, and EVTX
records the reader cannot decode, are dead letters counted on stderr with their reasons. The
last stderr line gives the counts and the time after start-up (`seconds` wall, `cpu_seconds`,
`events_per_second`; `bench/bench_detect_cli.py` reads it). `--stats` prints the per-rule match
counts and evaluation times before it.

Correlation rules in the rule folders run too (`detections.correlation`). Offline the whole input
is at hand, so by default their hits are applied in event-time order at the end of input, whatever
the order of the files (`--correlation-lateness` bounds the wait instead); correlation alerts are
written after the single-event alerts, each with its final count.

Default rules: the packaged provincial pack plus the SigmaHQ rule sets under `SOC_SIGMA_DIR`
(`soc_core.settings.DetectionSettings`; default: `shared/data/sigma` beside the repository). This
offline command reads only that group of the settings, so it runs wherever a rule folder does.

Compiling the whole corpus takes about 10 s, so the compiled rules are cached (`detections.cache`)
in the user's cache folder (`~/.cache/socpipe/rule-cache` on Linux; `SOC_RULE_CACHE_DIR` or `--cache-dir`
elsewhere, `--no-cache` for none). Entries are keyed by each file's content, so the same rules
reached by another path spelling start warm too; a warm start of the whole process takes about
a second.
"""

from __future__ import annotations

import gc
import io
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from detections.attack import catalog
from detections.cache import default_cache_dir
from detections.correlation.engine import CorrelationEngine
from detections.engine import DetectionEngine
from detections.offline import detect_file
from detections.stage import DetectStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.settings import DetectionSettings

PACKAGED_RULES = Path(__file__).parent / "rules"
SIGMA_SETS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def default_rule_folders(sigma_dir: Path | None) -> list[Path]:
    """The provincial pack plus the SigmaHQ corpus under `sigma_dir` (None: beside the repository)."""
    folders = [PACKAGED_RULES]
    base = sigma_dir or Path(__file__).resolve().parents[2] / "shared/data/sigma"
    folders += [base / name for name in SIGMA_SETS if (base / name).is_dir()]
    return folders


def fold_repeats(decided: list[Alert | AlertRepeat]) -> list[Alert]:
    """Correlation alerts with their repeats folded in (offline output is one line per alert)."""
    alerts: dict[str, Alert] = {}
    for item in decided:
        if isinstance(item, Alert):
            alerts.setdefault(item.id, item)
        elif item.alert_id in alerts:
            alerts[item.alert_id] = item.apply(alerts[item.alert_id])
    return list(alerts.values())


def _print_stats(engine: DetectionEngine, out: TextIO) -> None:
    rows = sorted((s for s in engine.stats() if s.evaluations), key=lambda s: s.seconds, reverse=True)
    print(f"{'matches':>8} {'evals':>8} {'ms':>9}  rule", file=out)
    for s in rows:
        errors = f"  errors={s.errors}" if s.errors else ""
        print(
            f"{s.matches:>8} {s.evaluations:>8} {s.seconds * 1000:>9.2f}  {s.rule_id}  {s.title}{errors}",
            file=out,
        )


def _summary(counters: Counter[str], seconds: float, cpu_seconds: float) -> str:
    """The last line on stderr (the benchmark reads it): counts, then the time after start-up."""
    rate = counters["events"] / seconds if seconds > 0 else 0.0
    counts = " ".join(f"{k}={v}" for k, v in sorted(counters.items()))
    return f"-- {counts} seconds={seconds:.3f} cpu_seconds={cpu_seconds:.3f} events_per_second={rate:.0f}"


def detect_command(
    files: Annotated[list[Path], typer.Argument(help="raw log, ECS JSON lines or .evtx files")],
    rules: Annotated[
        list[Path] | None,
        typer.Option("--rules", "-r", help="rule folder or file (repeatable); default: pack + SigmaHQ"),
    ] = None,
    format: Annotated[
        str | None, typer.Option("--format", "-f", help="log format of the records; default: sniffed")
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="registry unit id the records come from (soc.unit.id)")
    ] = None,
    stats: Annotated[bool, typer.Option("--stats", help="per-rule counts and timings to stderr")] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            help="compiled-rule cache folder; default: SOC_RULE_CACHE_DIR, else the user's cache folder",
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="compile every rule, read and write no cache")
    ] = False,
    correlation_lateness: Annotated[
        float | None,
        typer.Option(
            "--correlation-lateness",
            help="seconds of event time to wait for out-of-order hits; default: the whole input",
        ),
    ] = None,
) -> None:
    """Detect: normalize the records, run the Sigma rules, print alerts as JSON lines."""
    out = sys.stdout
    err = sys.stderr
    settings = DetectionSettings()
    folders = rules or default_rule_folders(settings.sigma_dir)
    if no_cache:
        cache_dir = None
    elif cache_dir is None:
        cache_dir = settings.rule_cache_dir or default_cache_dir()
    # Start-up builds the rule set, which lives as long as the process: the cyclic collector is
    # paused while it is built (each full collection would re-walk all of it) and the result is
    # then frozen out of its reach, as socpipe/heap.py does for the services. Events are
    # collected as usual.
    gc.disable()
    try:
        engine = DetectionEngine.from_folders(folders, cache_dir=cache_dir)
        catalog()  # the ATT&CK data is start-up work too, not the first alert's
        if engine.last_reload.recompiled_files:
            gc.collect()  # compiling (pySigma) leaves cyclic garbage; a warm start has none
    finally:
        gc.freeze()
        gc.enable()
    summary = engine.summary()
    print(
        f"rules loaded: {summary['rules']} ({summary['routed']} routed, {summary['dormant']} dormant), "
        f"{summary['correlations']} correlations, {summary['quarantined']} quarantined",
        file=err,
    )
    try:
        _detect(
            engine,
            files,
            out,
            err,
            fmt=format,
            unit=unit,
            stats=stats,
            correlation_lateness=correlation_lateness,
            max_groups=settings.correlation_max_groups,
        )
    finally:
        gc.unfreeze()  # back to the collector: a caller that goes on (a test) collects it as usual


def _detect(
    engine: DetectionEngine,
    files: list[Path],
    out: TextIO,
    err: TextIO,
    *,
    fmt: str | None,
    unit: str | None,
    stats: bool,
    correlation_lateness: float | None,
    max_groups: int,
) -> None:
    from normalizers.stage import NormalizeStage

    normalize = NormalizeStage()
    detect = DetectStage(engine)
    correlate = CorrelationEngine(
        engine.correlations,
        lateness_s=math.inf if correlation_lateness is None else correlation_lateness,
        max_groups=max_groups,
        gauges=False,  # no one scrapes an offline run
    )
    decided: list[Alert | AlertRepeat] = []
    counters: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    out.flush()
    write = out.buffer.write if isinstance(out, io.TextIOWrapper) else _text_writer(out)
    started = time.perf_counter()
    cpu_started = time.process_time()
    reads = engine.read_fields()  # the flat views need no more (no reload during the run)
    for path in files:
        detect_file(path, fmt, unit, normalize, detect, correlate, write, decided, counters, reasons, reads)
    decided += correlate.flush()
    for alert in fold_repeats(decided):
        counters["correlation_alerts"] += 1
        write(alert.to_json() + b"\n")
    if correlate.counters["late"]:
        counters["late_hits"] = correlate.counters["late"]
    out.flush()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    for reason, count in reasons.most_common(10):
        print(f"dead letter x{count}: {reason}", file=err)
    if stats:
        _print_stats(engine, err)
    print(_summary(counters, seconds, cpu_seconds), file=err)


def _text_writer(out: TextIO) -> Callable[[bytes], object]:
    """Alerts are JSON bytes; a text-only stream (a test's capture) gets them decoded."""
    return lambda data: out.write(data.decode())
