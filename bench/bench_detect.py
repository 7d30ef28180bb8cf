"""Detection engine benchmark: whole SigmaHQ corpus, >=100,000 Windows events, one core.

Reports events/s (single thread), cold start (no cache: pySigma parse + pipeline + compile),
warm start (from the on-disk cache, in a fresh interpreter), and peak RSS; writes
`bench/results/detect.json`. Targets: >= 25,000 events/s/core, warm start < 3 s, < 1 GB.

Events are the real attack EVTX samples (shared/data/evtx-attack-samples) plus the SigmaHQ
regression samples, replayed round-robin. They go through the project's normalizer
(`NormalizeStage`, format `evtx_json`) when it exists; until then a minimal evtx-JSON -> flat
converter below stands in (same `winlog.*` field contract, FIELDS.md), and the result says which.

    .venv/bin/python bench/bench_detect.py [--events 100000] [--rules DIR ...]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("SOCPIPE_SHARED", "/work/shared"))
SIGMA = SHARED / "data" / "sigma"
CORPUS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]
EVTX_DIRS = [SHARED / "data" / "evtx-attack-samples", SIGMA / "regression_data"]
RESULTS = ROOT / "bench" / "results" / "detect.json"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return _text(value.get("#text", ""))
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def fallback_flat(record: dict[str, Any]) -> dict[str, Any]:
    """evtx-JSON -> flat ECS, the subset of FIELDS.md the rules read (stand-in for the normalizer)."""
    event = record.get("Event", record)
    system = event.get("System", {})
    event_id = system.get("EventID")
    if isinstance(event_id, dict):
        event_id = event_id.get("#text")
    provider = (system.get("Provider") or {}).get("#attributes", {})
    computer = _text(system.get("Computer"))
    flat: dict[str, Any] = {
        "@timestamp": ((system.get("TimeCreated") or {}).get("#attributes") or {}).get("SystemTime"),
        "event.kind": "event",
        "event.code": _text(event_id),
        "event.provider": provider.get("Name"),
        "winlog.channel": _text(system.get("Channel")),
        "winlog.provider_name": provider.get("Name"),
        "winlog.event_id": _text(event_id),
        "winlog.record_id": _text(system.get("EventRecordID")),
        "winlog.computer_name": computer,
        "host.name": computer.split(".")[0].lower(),
    }
    sec = (system.get("Security") or {}).get("#attributes") or {}
    if sec.get("UserID"):
        flat["winlog.user.identifier"] = sec["UserID"]
    data = event.get("EventData") or {}
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "#attributes":
                continue
            flat[f"winlog.event_data.{key}"] = _text(value)
    user_data = event.get("UserData") or {}
    if isinstance(user_data, dict):
        for inner in user_data.values():
            if isinstance(inner, dict):
                for key, value in inner.items():
                    if key != "#attributes":
                        flat[f"winlog.event_data.{key}"] = _text(value)
    ed = "winlog.event_data."
    for src, dst in (
        ("Image", "process.executable"),
        ("CommandLine", "process.command_line"),
        ("ParentImage", "process.parent.executable"),
        ("User", "user.name"),
        ("TargetFilename", "file.path"),
        ("DestinationIp", "destination.ip"),
        ("QueryName", "dns.question.name"),
    ):
        if ed + src in flat:
            flat[dst] = flat[ed + src]
    return flat


def iter_evtx_json() -> Iterator[str]:
    import evtx  # the `evtx` package (pyevtx-rs), a project dependency

    for base in EVTX_DIRS:
        for path in sorted(base.rglob("*.evtx")):
            try:
                for record in evtx.PyEvtxParser(str(path)).records_json():
                    yield record["data"]
            except (OSError, RuntimeError):  # a few samples are truncated on purpose
                continue


def load_events() -> tuple[list[dict[str, Any]], str]:
    """Flat events and which normalizer produced them."""
    raws = list(iter_evtx_json())
    if importlib.util.find_spec("normalizers.evtx_json") is not None:
        from normalizers.stage import NormalizeStage
        from soc_core.event import Event
        from soc_core.records import RawRecord, record_id

        stage = NormalizeStage()
        events = []
        for i, raw in enumerate(raws):
            rec = RawRecord(
                id=record_id("bench", raw + str(i)), source_id="bench", format="evtx_json", payload=raw
            )
            out = stage(rec)
            if isinstance(out, Event):
                events.append(out.flat())
        return events, "normalizers.evtx_json (NormalizeStage)"
    return [
        fallback_flat(json.loads(raw)) for raw in raws
    ], "bench fallback converter (normalizers.evtx_json missing)"


def warm_start_subprocess(cache_dir: Path, rules: list[Path]) -> dict[str, float]:
    folders = [str(r) for r in rules]
    code = "\n".join(
        [
            f"import time,sys; t0=time.perf_counter(); sys.path.insert(0, {str(ROOT)!r})",
            "from pathlib import Path",
            "from detections.engine import DetectionEngine",
            "t1=time.perf_counter()",
            f"folders=[Path(p) for p in {folders!r}]",
            f"e=DetectionEngine.from_folders(folders, cache_dir=Path({str(cache_dir)!r}))",
            "t2=time.perf_counter()",
            "assert e.last_reload.recompiled_files == 0, e.last_reload",
            "print(t1-t0, t2-t1)",
        ]
    )
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    imports, load = (float(x) for x in out.stdout.split())
    return {"engine_seconds": load, "imports_seconds": imports, "process_wall_seconds": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rules", type=Path, nargs="*", default=CORPUS)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    from detections.engine import DetectionEngine

    with tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp:
        cache_dir = Path(tmp)
        started = time.perf_counter()
        engine = DetectionEngine.from_folders(args.rules, cache_dir=cache_dir)
        cold = time.perf_counter() - started
        warm = warm_start_subprocess(cache_dir, args.rules)
    summary = engine.summary()
    print(f"rules: {summary}", file=sys.stderr)
    print(f"cold start {cold:.2f}s, warm start {warm['engine_seconds']:.2f}s", file=sys.stderr)

    events, source = load_events()
    if not events:
        print("no events found", file=sys.stderr)
        return 1
    replay = [events[i % len(events)] for i in range(max(args.events, len(events)))]
    # As a long-running detect worker should after loading: move the rule graph and the events out
    # of the collector's generations, so full collections do not re-walk them. The collector stays on.
    gc.collect()
    gc.freeze()
    matches = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for flat in replay:
        matches += len(engine.match(flat))
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stats = sorted(engine.stats(), key=lambda s: s.seconds, reverse=True)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count()},
        "rules": summary,
        "events": {"distinct": len(events), "replayed": len(replay), "source": source},
        "matches": matches,
        "events_per_second": len(replay) / wall,
        "events_per_cpu_second": len(replay) / cpu if cpu else None,
        "load_average": os.getloadavg(),
        "match_seconds": wall,
        "cold_start_seconds": cold,
        "warm_start": warm,
        "peak_rss_mb": peak_rss_mb,
        "slowest_rules": [
            {"rule_id": s.rule_id, "title": s.title, "seconds": s.seconds, "evaluations": s.evaluations}
            for s in stats[:10]
        ],
        "targets": {
            "events_per_second": 25_000,
            "warm_start_seconds": 3.0,
            "peak_rss_mb": 1024,
        },
    }
    result["targets_met"] = {
        "events_per_second": result["events_per_second"] >= 25_000,
        "warm_start_seconds": warm["engine_seconds"] < 3.0,
        "peak_rss_mb": peak_rss_mb < 1024,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{len(replay)} events in {wall:.2f}s: {result['events_per_second']:.0f} events/s, "
        f"{matches} matches, peak RSS {peak_rss_mb:.0f} MB -> {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
