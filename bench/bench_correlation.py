"""Correlation engine: state memory per 100,000 active groups, and rule hits per second.

    .venv/bin/python bench/bench_correlation.py [--groups 100000] [--hits 600000]

Memory: for each kind of window, `--groups` groups are opened with three hits each (below their
threshold, so every window stays open) and the Python heap growth (tracemalloc) is divided per group.
Every hit carries its own event document (~1 KB of JSON), as live hits do; a closing window keeps
the one that opened it, for its alert.
Throughput: `--hits` hits over `--groups` groups, in event-time order with a 60 s lateness, through
`CorrelationEngine.offer` in batches of 500 (what a correlate worker does per poll), one core.

Writes bench/results/correlation.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detections.correlation.engine import CorrelationEngine  # noqa: E402
from detections.correlation.hits import RuleHit, group_key  # noqa: E402
from detections.correlation.resolve import Resolution  # noqa: E402
from detections.engine import DetectionEngine  # noqa: E402

RESULTS = ROOT / "bench" / "results"
BASE = "00000000-0000-4000-8000-0000000000a1"
OTHER = "00000000-0000-4000-8000-0000000000a2"


def _rule(rule_id: str, name: str, code: int) -> str:
    return (
        f"title: {name}\nid: {rule_id}\nname: {name}\nlogsource: {{product: windows, service: security}}\n"
        f"detection: {{selection: {{EventID: {code}}}, condition: selection}}\n"
    )


RULES = {"base": _rule(BASE, "failed_logon", 4625), "other": _rule(OTHER, "successful_logon", 4624)}
CORRELATIONS = {
    "event_count (sliding)": "type: event_count\n    rules: failed_logon\n    condition: {gte: 1000}",
    "value_count (sliding)": (
        "type: value_count\n    rules: failed_logon\n    condition: {field: TargetUserName, gte: 1000}"
    ),
    "temporal_ordered (sliding)": "type: temporal_ordered\n    rules: [failed_logon, successful_logon]",
    "event_count lt (closing)": "type: event_count\n    rules: failed_logon\n    condition: {lt: 2}",
}


def _resolution(folder: Path, name: str, body: str) -> Resolution:
    for old in folder.glob("*.yml"):
        old.unlink()
    for key, text in RULES.items():
        (folder / f"{key}.yml").write_text(text)
    (folder / "corr.yml").write_text(
        f"title: {name}\nid: 00000000-0000-4000-8000-0000000000c1\ncorrelation:\n    {body}\n"
        "    group-by: [IpAddress]\n    timespan: 1h\n"
    )
    engine = DetectionEngine.from_folders([folder])
    assert engine.correlations.correlations, engine.quarantined
    return engine.correlations


def _context(n: int, g: int) -> dict[str, Any]:
    """What a hit carries for its alert: a Security 4625 event's document (about 1 KB as JSON)."""
    address = f"10.{g >> 16}.{(g >> 8) & 255}.{g & 255}"
    event = {
        "@timestamp": "2025-07-01T08:00:00Z",
        "event": {"id": f"ev-{n}", "code": "4625", "kind": "event", "outcome": "failure"},
        "host": {"name": "dc01.so-khcn.local"},
        "source": {"ip": address},
        "user": {"name": f"user{n % 50}", "domain": "SO-KHCN"},
        "winlog": {
            "channel": "Security",
            "computer_name": "DC01.so-khcn.local",
            "provider_name": "Microsoft-Windows-Security-Auditing",
            "record_id": n,
            "event_data": {
                "TargetUserName": f"user{n % 50}",
                "TargetDomainName": "SO-KHCN",
                "IpAddress": address,
                "IpPort": "51234",
                "LogonType": "3",
                "Status": "0xc000006d",
                "SubStatus": "0xc000006a",
                "WorkstationName": "-",
                "LogonProcessName": "NtLmSsp",
                "AuthenticationPackageName": "NTLM",
            },
        },
        "soc": {"source": {"id": "dc-winlog"}, "unit": {"id": "so-khcn"}, "system": {"id": "ad"}},
    }
    return {"soc": event["soc"], "host_name": "dc01", "user_name": f"user{n % 50}", "event": event}


def _hits(groups: int, per_group: int, start: float = 1.75e9) -> list[RuleHit]:
    """`per_group` hits for each group, interleaved in time (one every millisecond)."""
    keys = [group_key([f"10.{g >> 16}.{(g >> 8) & 255}.{g & 255}"]) for g in range(groups)]
    out: list[RuleHit] = []
    n = 0
    for round_ in range(per_group):
        for g, key in enumerate(keys):
            out.append(
                RuleHit(
                    "00000000-0000-4000-8000-0000000000c1",
                    BASE,
                    f"ev-{n}",
                    start + n / 1000,
                    key,
                    f"user{(g + round_) % 50}",
                    _context(n, g),
                )
            )
            n += 1
    return out


def memory(resolution: Resolution, groups: int) -> dict[str, Any]:
    hits = _hits(groups, 3)
    engine = CorrelationEngine(resolution, lateness_s=0, max_groups=groups * 2)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(0, len(hits), 500):
        engine.offer(hits[i : i + 500])
    engine.offer([])  # apply what the watermark allows
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert engine.groups == groups, engine.stats()
    per_group = (after - before) / groups
    return {
        "groups": groups,
        "bytes_per_group": round(per_group),
        "mb_per_100k_groups": round(per_group * 1e5 / 2**20, 1),
    }


def throughput(resolution: Resolution, groups: int, total: int) -> dict[str, Any]:
    hits = _hits(groups, max(1, total // groups))
    engine = CorrelationEngine(resolution, lateness_s=60, max_groups=groups * 2)
    started = time.perf_counter()
    cpu = time.process_time()
    for i in range(0, len(hits), 500):
        engine.offer(hits[i : i + 500])
    engine.flush()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "hits": len(hits),
        "seconds": round(seconds, 2),
        "hits_per_second": round(len(hits) / seconds),
        "hits_per_cpu_second": round(len(hits) / cpu),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=100_000)
    parser.add_argument("--hits", type=int, default=600_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, body in CORRELATIONS.items():
            resolution = _resolution(folder, name, body)
            results[name] = {
                "memory": memory(resolution, args.groups),
                "throughput": throughput(resolution, args.groups, args.hits),
            }
            print(name, json.dumps(results[name]), flush=True)
    out = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "command": "python bench/bench_correlation.py " + " ".join(sys.argv[1:]),
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "correlation.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
