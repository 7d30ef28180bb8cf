"""Run the benchmarks one after another and summarise their result files in bench/results/SUMMARY.md.

    python -m bench                     # normalize, detect, detect CLI, correlation, ingest (+ Kafka),
                                        # intake limits
    python -m bench --with-alerts       # also the 1,000,000-alert queue benchmark (about 5 minutes)
    python -m bench --with-e2e          # also the end-to-end benchmark (about 10 minutes)
    python -m bench --summary-only      # just rewrite SUMMARY.md from the existing results

Benchmarks run one at a time: on two cores, two benchmarks at once would measure each other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ROOT = HERE.parent


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _extra(correlations: str | None) -> str:
    return f" + correlation rules: {correlations}" if correlations else ""


def summary() -> str:
    """The Markdown tables the README quotes."""
    lines = ["# Benchmark results", "", "Written by `python -m bench` from the JSON files beside it.", ""]
    norm = _load("normalize")
    if norm:
        lines += [
            "## Normalizers (events/s on one core)",
            "",
            f"Measured {norm.get('generated_at', '?')}; "
            f"compiled: {norm.get('compiled', 'none (plain Python)')}.",
            "",
            "| format | parse only | through NormalizeStage | target | met |",
            "| --- | ---: | ---: | ---: | --- |",
        ]
        for r in norm["results"]:
            met = "yes" if r["stage_meets_target"] else "no"
            lines.append(
                f"| {r['format']} | {r['parse_eps']:,} | {r['stage_eps']:,} | {r['target_eps']:,} | {met} |"
            )
        lines.append("")
    det = _load("detect")
    if det:
        lines += [
            "## Detection engine (whole SigmaHQ corpus)",
            "",
            f"Measured {det.get('when', '?')}.",
            "",
            "| measure | value | target |",
            "| --- | ---: | ---: |",
            f"| rules loaded / quarantined | {det['rules']['rules']:,} / {det['rules']['quarantined']} | |",
            f"| events replayed | {det['events']['replayed']:,} | ≥ 100,000 |",
            f"| events/s (wall) | {det['events_per_second']:,.0f} | ≥ 25,000 |",
            f"| events/s per CPU-second | {det['events_per_cpu_second']:,.0f} | |",
            f"| cold start | {det['cold_start_seconds']:.1f} s | |",
            f"| warm start (engine / whole process) | {det['warm_start']['engine_seconds']:.2f} s / "
            f"{det['warm_start']['process_wall_seconds']:.2f} s | < 3 s |",
            f"| peak RSS | {det['peak_rss_mb']:.0f} MB | < 1 GB |",
            "",
        ]
    cli = _load("detect_cli")
    if cli:
        lines += [
            "## `socpipe detect` on EVTX-ATTACK-SAMPLES (whole process, one core)",
            "",
            f"Measured {cli.get('when', '?')} at commit {cli.get('commit', '?')}, load average "
            f"{cli.get('median_load_average', 0):.1f}; {cli['corpus']['files']} files, "
            f"{cli['corpus']['events']:,} events, {cli['corpus']['alerts']:,} alerts, "
            f"rules: pack (with its correlations) + SigmaHQ{_extra(cli['rules'].get('correlation_rules'))}; "
            f"{cli.get('correlation_alerts', 0):,} correlation alerts.",
            "",
            "| measure | value | target |",
            "| --- | ---: | ---: |",
            f"| events/s after start-up (wall) | {cli['events_per_second']:,.0f} | ≥ 20,000 |",
            f"| events/s per CPU-second | {cli['events_per_cpu_second'] or 0:,.0f} | |",
            f"| warm start (whole process) | {cli['warm_start_seconds']:.2f} s | < 1.5 s |",
            f"| cold start (empty cache) | {cli['cold_start_seconds']:.1f} s | |",
            f"| peak RSS | {cli['peak_rss_mb']:.0f} MB | < 1 GB |",
            "",
        ]
    corr = _load("correlation")
    if corr:
        lines += [
            "## Correlation engine (state per 100,000 active groups, hits/s on one core)",
            "",
            f"Measured {corr.get('measured_at', '?')}: `{corr.get('command', '')}`.",
            "",
            "| correlation | bytes per group | MB per 100,000 groups | hits/s (wall) | hits per CPU-second |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, r in corr["results"].items():
            mem, speed = r["memory"], r["throughput"]
            lines.append(
                f"| {name} | {mem['bytes_per_group']:,} | {mem['mb_per_100k_groups']} | "
                f"{speed['hits_per_second']:,} | {speed['hits_per_cpu_second']:,} |"
            )
        lines.append("")
    ing = _load("ingest")
    if ing:
        lines += [
            "## Ingest (one receiver process into Kafka, acks=all)",
            "",
            f"Measured {ing.get('at', '?')}.",
            "",
            "| path | events | seconds | events/s | target |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for name, r in ing["results"].items():
            lines.append(
                f"| {name} | {r['events']:,} | {r['seconds']} | {r['events_per_s']:,} | "
                f"{ing.get('target_events_per_s', 20000):,} |"
            )
        lines.append("")
    e2e = _load("e2e")
    if e2e:
        es = e2e["elasticsearch_alone"]
        lines += [
            "## End to end: intake to searchable in Elasticsearch (bench_e2e.py, issue 17)",
            "",
            f"Measured {e2e.get('at', '?')}: `{e2e.get('command', '')}`; {e2e['corpus']['records']:,} "
            f"EVTX records replayed over {e2e['corpus']['sources']} sources, default rules. Elasticsearch "
            f"alone bulk-indexes the same documents at {es['events_per_s']:,} events/s "
            f"({es['clients']} clients, {es.get('bulk_size', 500)} a bulk, "
            f"{es.get('elasticsearch_cpu_ms_per_event', '?')} ms of its CPU per event). "
            "Targets: ≥ 60% of that, p99 < 5 s at half load.",
            "",
            "| replicas per stage | events/s | of Elasticsearch's | alert p50 / p99 at half load "
            "| CPU ms per event (api / normalize / detect / index) | Kafka / Elasticsearch | load average |",
            "| ---: | ---: | ---: | ---: | --- | --- | ---: |",
        ]
        for run in e2e["runs"]:
            sus, lat = run["sustained"], run["half_load"]["latency_s"]
            cpu = " / ".join(
                str(sus["cpu_ms_per_event"].get(k, "?")) for k in ("api", "normalize", "detect", "index")
            )
            servers = " / ".join(str(sus["cpu_ms_per_event"].get(k, "?")) for k in ("kafka", "elasticsearch"))
            lines.append(
                f"| {run['replicas_per_stage']} | {sus['events_per_s']:,} | "
                f"{run['ratio_to_elasticsearch']:.0%} | {lat['p50']} s / {lat['p99']} s | {cpu} | "
                f"{servers} | {sus['load_average']['after'][0]} |"
            )
        lines.append("")
    lim = _load("intake_limits")
    if lim:
        attack = lim["attack"]
        lines += [
            "## Intake under record amplification (embedded `socpipe run`, issue #14)",
            "",
            f"Measured {lim.get('at', '?')}: {attack['requests_each']} gzip bodies of "
            f"{attack['lines_per_body']:,} tiny records per framing, {attack['clients']} clients at once.",
            "",
            "| framing | body | answers | records accepted | slowest answer |",
            "| --- | ---: | --- | ---: | ---: |",
        ]
        for name, r in lim["runs"].items():
            lines.append(
                f"| {name} | {r['body_bytes']:,} B | {r['statuses']} | {r['records_accepted']:,} | "
                f"{r['seconds_per_request_max']} s |"
            )
        rss, health = lim["rss_mb"], lim["health"]
        lines += [
            "",
            f"Resident memory {rss['baseline']} MB before, {rss['peak']} MB at most; `/health` "
            f"median {health['median_ms']} ms, slowest {health['max_ms']} ms, {health['failures']} failed.",
            "",
        ]
    alerts = _load("alerts")
    if alerts:
        lines += [
            f"## Alert queue over {alerts['alerts']:,} alerts in Elasticsearch (through the API)",
            "",
            f"Measured {alerts.get('measured_at', '?')}.",
            "",
            "| query | p50 ms | p95 ms | target p95 |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, r in alerts["results"].items():
            lines.append(f"| {name} | {r['p50_ms']} | {r['p95_ms']} | 500 |")
        lines.append("")
    for store in ("sqlite", "elastic"):
        explorer = _load(f"explorer_{store}")
        if not explorer:
            continue
        lines += [
            f"## Event explorer over {explorer['events']:,} events in {store} (bench_explorer.py, issue 15)",
            "",
            f"Measured {explorer['generated_at']}, {explorer['runs']} runs per query (a new value each), "
            f"load average {explorer.get('load_average_after', '?')} on the 2-core machine; "
            f"target p95 < {explorer['target_p95_ms']} ms per request.",
            "",
            "| query | e.g. | matches (median) | page p50 / p95 ms"
            + (" (CPU p95)" if store == "sqlite" else "")
            + " | histogram | sample (500) |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for name, r in explorer["queries"].items():
            cells = " | ".join(
                f"{r[k]['p50_ms']} / {r[k]['p95_ms']}"
                + (f" ({r[k]['cpu_p95_ms']})" if "cpu_p95_ms" in r[k] and store == "sqlite" else "")
                for k in ("page", "histogram", "sample")
            )
            example = r["example"].replace("|", "\\|") or "(all)"
            lines.append(f"| {name} | `{example}` | {r['matches_median']:,} | {cells} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and summarise them.")
    parser.add_argument("--with-alerts", action="store_true", help="also the 1M-alert queue benchmark")
    parser.add_argument("--with-e2e", action="store_true", help="also the end-to-end benchmark (~10 min)")
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()
    if not args.summary_only:
        scripts = [
            "bench_normalize.py",
            "bench_detect.py",
            "bench_detect_cli.py",
            "bench_correlation.py",
            "bench_ingest.py",
            "bench_intake_limits.py",
        ]
        if args.with_alerts:
            scripts.append("bench_alerts.py")
        if args.with_e2e:
            scripts.append("bench_e2e.py")
        if any(s in scripts for s in ("bench_ingest.py", "bench_alerts.py", "bench_e2e.py")):
            subprocess.run(["bash", str(ROOT / "deploy/local/servers.sh"), "start", "all"], check=True)
        for script in scripts:
            print(f"== {script}", flush=True)
            subprocess.run([sys.executable, str(HERE / script)], check=True, cwd=ROOT)
    text = summary()
    (RESULTS / "SUMMARY.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
