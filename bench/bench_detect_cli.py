"""`socpipe detect` benchmark: the whole offline command on every .evtx file of EVTX-ATTACK-SAMPLES.

What an analyst runs: one process (`python -m socpipe detect`), pinned to one core with `taskset`,
the whole SigmaHQ corpus plus the provincial pack (with its own correlation rules) plus 30 more
correlation rules over the SigmaHQ rules that fire most on this corpus (`generated_correlations`:
event_count, value_count and temporal in turn, grouped by computer, `generate: true` so the
single-event alerts stay the same; `--correlation-rules DIR` uses a folder of yours instead), the
compiled-rule cache warm. Reports:

- events/s after start-up: events / the loop's own time, as the command reports it on its last
  stderr line (`seconds=`, wall; `cpu_seconds=`, CPU); best of `--runs`. Target >= 20,000.
- warm start: wall time of the whole process on an empty input with the cache warm (< 1.5 s);
  cold start: the same with an empty cache (compiles every rule).
- peak RSS of the process (< 1 GB), from `wait4`.
- with `--callgrind`: instructions per event (valgrind's callgrind, the whole command on the corpus
  minus the same command on an empty input, over the events): the figure that does not move with
  the machine's load, for comparing two versions on a shared machine (about 5 minutes more).

Writes `bench/results/detect_cli.json` (`--output`). The machine is shared: the load average
at each run is recorded beside it, and CPU seconds are reported because they move less with
load than wall time.

    .venv/bin/python bench/bench_detect_cli.py [--runs 3] [--core 0] [--correlation-rules DIR|none]
    .venv/bin/python bench/bench_detect_cli.py --root ../other-checkout   # the same on another tree
    .venv/bin/python bench/bench_detect_cli.py --runs 3 --callgrind       # + instructions per event
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOCPIPE_SHARED", ROOT.parent / "shared"))
SIGMA = SHARED / "data" / "sigma"
EVTX = SHARED / "data" / "evtx-attack-samples"
RESULTS = ROOT / "bench" / "results" / "detect_cli.json"
TARGETS = {"events_per_second": 20_000, "warm_start_seconds": 1.5, "peak_rss_mb": 1024}
SUMMARY = re.compile(r"^-- (?P<counts>.*?) seconds=(?P<seconds>[\d.]+)(?: cpu_seconds=(?P<cpu>[\d.]+))?")


CORRELATIONS = 30
CORRELATION_TYPES = ("event_count", "value_count", "temporal")


def run(root: Path, core: int, args: list[str], *, stdout: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """One `socpipe detect` process: wall time, CPU time and peak RSS (its own `rusage`), and the
    figures of its summary line."""
    command = ["taskset", "-c", str(core), sys.executable, "-m", "socpipe", "detect", *args]
    env = dict(os.environ, PYTHONPATH=str(root))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=stdout, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        err.seek(0)
        lines = err.read().decode(errors="replace").splitlines()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"socpipe detect failed: {' '.join(command[:9])}...\n" + "\n".join(lines[-20:]))
    out: dict[str, Any] = {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "load_average": load,
    }
    found = next((m for m in map(SUMMARY.match, reversed(lines)) if m), None)
    if found:
        counts = dict(item.split("=", 1) for item in found["counts"].split())
        out["counts"] = {k: int(v) for k, v in counts.items()}
        out["loop_seconds"] = float(found["seconds"])
        out["loop_cpu_seconds"] = float(found["cpu"]) if found["cpu"] else None
    return out


def instructions(root: Path, args: list[str]) -> int:
    """Instructions one `socpipe detect` process executes, counted by callgrind."""
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={out}"]
        command += [sys.executable, "-m", "socpipe", "detect", *args]
        env = dict(os.environ, PYTHONPATH=str(root))
        done = subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        found = re.findall(rb"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or not found:
            raise RuntimeError(f"callgrind run failed: {done.stderr.decode(errors='replace')[-2000:]}")
        return int(found[-1])


def busiest_rules(root: Path, core: int, args: list[str], count: int) -> list[str]:
    """The ids of the `count` single-event rules that raise the most alerts on the corpus."""
    with tempfile.TemporaryFile() as out:
        run(root, core, args, stdout=out)
        out.seek(0)
        fired = Counter(json.loads(line)["rule"]["id"] for line in out if line.strip())
    return [rule_id for rule_id, _ in fired.most_common(count)]


def generated_correlations(rule_ids: list[str], folder: Path) -> Path:
    """`CORRELATIONS` correlation rules over `rule_ids` (busiest first, reused in turn), one file each:
    the correlation work of a rule set that uses them, with hits on most events that alert."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(CORRELATIONS):
        kind = CORRELATION_TYPES[n % len(CORRELATION_TYPES)]
        first, second = rule_ids[n % len(rule_ids)], rule_ids[(n + 1) % len(rule_ids)]
        refs = [first, second] if kind == "temporal" else [first]
        condition = {"event_count": {"gte": 3}, "value_count": {"field": "EventID", "gte": 2}}.get(kind)
        document = {
            "title": f"bench correlation {n + 1}: {kind}",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"socpipe-bench-correlation-{n}")),
            "level": "low",
            "author": "socpipe benchmark",
            "correlation": {
                "type": kind,
                "rules": refs,
                "group-by": ["Computer"],
                "timespan": "10m",
                "generate": True,
                **({"condition": condition} if condition else {}),
            },
        }
        (folder / f"bench_correlation_{n + 1:02d}.yml").write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


def rule_args(root: Path, correlation: Path | None) -> list[str]:
    folders = [root / "detections" / "rules"]
    folders += [SIGMA / name for name in ("rules", "rules-emerging-threats", "rules-threat-hunting")]
    if correlation is not None:
        folders.append(correlation)
    missing = [str(f) for f in folders if not f.exists()]
    if missing:
        raise SystemExit(f"rule folders missing: {missing}")
    return [arg for folder in folders for arg in ("--rules", str(folder))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--core", type=int, default=0, help="the CPU the process is pinned to")
    parser.add_argument("--evtx", type=Path, default=EVTX, help="folder of .evtx files (searched)")
    parser.add_argument(
        "--correlation-rules",
        default=None,
        help="a folder of correlation rules to add instead of the 30 generated ones; `none`: no extra",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to benchmark")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--callgrind", action="store_true", help="also count instructions per event (valgrind)"
    )
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset not found (util-linux)")
    if args.callgrind and shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found (--callgrind)")
    root = args.root.resolve()
    files = sorted(str(p) for p in args.evtx.rglob("*.evtx"))
    if not files:
        raise SystemExit(f"no .evtx files under {args.evtx}")
    with tempfile.TemporaryDirectory(prefix="bench-detect-cli-") as tmp:
        empty = Path(tmp) / "empty.ndjson"
        empty.write_text("")
        cache = ["--cache-dir", str(Path(tmp) / "cache")]
        if args.correlation_rules is None:
            busiest = busiest_rules(root, args.core, [*cache, *rule_args(root, None), *files], 20)
            correlation: Path | None = generated_correlations(busiest, Path(tmp) / "correlations")
            described = f"{CORRELATIONS} generated over the {len(busiest)} busiest rules"
        elif args.correlation_rules == "none":
            correlation, described = None, ""
        else:
            correlation = Path(args.correlation_rules)
            described = str(correlation)
        rules = rule_args(root, correlation)
        cold_cache = ["--cache-dir", str(Path(tmp) / "cold-cache")]
        cold = run(root, args.core, [*cold_cache, *rules, str(empty)])
        run(root, args.core, [*cache, *rules, str(empty)])  # the generated rules into the warm cache
        print(f"cold start {cold['wall_seconds']:.2f}s", file=sys.stderr)
        warm_runs, full_runs = [], []
        for i in range(args.runs):
            warm_runs.append(run(root, args.core, [*cache, *rules, str(empty)]))
            full_runs.append(run(root, args.core, ["--stats", *cache, *rules, *files]))
            full = full_runs[-1]
            print(
                f"run {i + 1}: warm start {warm_runs[-1]['wall_seconds']:.2f}s, "
                f"{full['counts']['events']} events in {full['loop_seconds']:.2f}s after start-up "
                f"(CPU {full.get('loop_cpu_seconds')}), whole process {full['wall_seconds']:.2f}s, "
                f"load {full['load_average']:.1f}",
                file=sys.stderr,
            )
        counted: dict[str, int] = {}
        if args.callgrind:
            counted["corpus"] = instructions(root, [*cache, *rules, *files])
            counted["empty_input"] = instructions(root, [*cache, *rules, str(empty)])

    events = full_runs[0]["counts"]["events"]
    best = min(full_runs, key=lambda r: r["loop_seconds"])
    cpu_loops = [r["loop_cpu_seconds"] for r in full_runs if r.get("loop_cpu_seconds")]
    warm_wall = min(r["wall_seconds"] for r in warm_runs)
    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "core": args.core},
        "command": "taskset -c CORE python -m socpipe detect --stats --cache-dir DIR --rules ... FILES",
        "root": str(root),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip(),
        "corpus": {"files": len(files), "events": events, "alerts": best["counts"].get("alerts", 0)},
        "rules": {"folders": rules[1::2], "correlation_rules": described},
        "correlation_alerts": best["counts"].get("correlation_alerts", 0),
        "events_per_second": events / best["loop_seconds"],
        "events_per_cpu_second": events / min(cpu_loops) if cpu_loops else None,
        "loop_seconds": [r["loop_seconds"] for r in full_runs],
        "whole_process_seconds": [r["wall_seconds"] for r in full_runs],
        "warm_start_seconds": warm_wall,
        "warm_start_runs": [r["wall_seconds"] for r in warm_runs],
        "warm_start_cpu_seconds": min(r["cpu_seconds"] for r in warm_runs),
        "cold_start_seconds": cold["wall_seconds"],
        "peak_rss_mb": max(r["peak_rss_mb"] for r in full_runs + warm_runs),
        "load_average": [r["load_average"] for r in full_runs],
        "median_load_average": statistics.median(r["load_average"] for r in full_runs),
        "targets": TARGETS,
    }
    if counted:
        result["callgrind_instructions"] = counted
        result["instructions_per_event"] = round((counted["corpus"] - counted["empty_input"]) / events)
    result["targets_met"] = {
        "events_per_second": result["events_per_second"] >= TARGETS["events_per_second"],
        "warm_start_seconds": warm_wall < TARGETS["warm_start_seconds"],
        "peak_rss_mb": result["peak_rss_mb"] < TARGETS["peak_rss_mb"],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    rates = f"{result['events_per_second']:,.0f} events/s after start-up"
    per_cpu = f"{result['events_per_cpu_second'] or 0:,.0f} per CPU-second"
    memory = f"peak RSS {result['peak_rss_mb']:.0f} MB"
    print(f"{events} events: {rates} ({per_cpu}), warm start {warm_wall:.2f}s, {memory}", file=sys.stderr)
    if counted:
        print(f"callgrind: {result['instructions_per_event']:,} instructions per event", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
