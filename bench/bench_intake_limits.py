"""Intake under the record-amplification attack of issue #14: memory and `/health` of the embedded
process while one source posts gzip bodies of tiny NDJSON lines.

The issue's attack: one source token and a ~4 KB gzip body of 1,000,000 tiny lines. Before the
limits it was accepted (1,000,000 records, 69 s, the process grew from 298 MB to 6.8 GB, `/health`
stalled for 13.7 s). This starts `socpipe run` (embedded, SQLite) on a fresh data folder, then:

- posts the NDJSON body and the same as a JSON array, `--requests` times each, from `--clients`
  threads at once, and records every answer and how long it took;
- meanwhile asks `/health` every 50 ms and records its answer times;
- samples the process's resident memory (VmRSS) every 50 ms.

Measured on 2026-12-05 (2 cores shared with other work, load average about 9): main before the
limits, with bodies of 100,000 lines (`--lines 100000 --requests 2 --clients 2`), accepted all
400,000 records, 23 s for the slowest request, memory 127 MB -> 1,354 MB, `/health` up to 9.0 s;
with the limits, bodies of 1,000,000 lines (the defaults: 40 requests from 4 clients) were all
refused (413, at most 0.7 s each), memory 220 MB -> 257 MB, `/health` at most 0.46 s.

Writes `bench/results/intake_limits.json` and prints a table. `--code DIR` runs another checkout
(e.g. main before the limits, with a smaller `--lines`: the whole attack there takes gigabytes).

    .venv/bin/python bench/bench_intake_limits.py [--lines 1000000] [--requests 20] [--clients 4]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.bench_ingest import wait_healthy

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-amplification-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1]) / 1024
    return 0.0


def make_registry(code: Path, data_dir: Path) -> None:
    """A store with one ECS source behind `TOKEN`, written by the checkout under test."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from soc_core.registry import InformationSystem, LogSource, Registry, Unit\n"
        "from stores.sqlite.store import SqliteStore\n"
        "store = SqliteStore(Path(sys.argv[1]) / 'socpipe.sqlite3')\n"
        "store.setup()\n"
        "store.save_registry(Registry(units=[Unit(id='u', name='U')],\n"
        "    systems=[InformationSystem(id='s', name='S', unit_id='u', level=3)],\n"
        "    sources=[LogSource.model_validate({'id': 'bench-amp', 'name': 'a', 'system_id': 's',\n"
        f"        'format': 'ecs', 'token': '{TOKEN}'}})]))\n"
        "store.close()\n"
    )
    subprocess.run([sys.executable, "-c", script, str(data_dir)], cwd=code, check=True)


class Watch(threading.Thread):
    """Samples `/health` answer times and the process's memory until stopped."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(daemon=True)
        self.url, self.pid = url, pid
        self.health_ms: list[float] = []
        self.health_failures = 0
        self.rss: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.done.is_set():
                self.rss.append(rss_mb(self.pid))
                start = time.perf_counter()
                try:
                    ok = client.get(self.url).status_code == 200
                except httpx.TransportError:
                    ok = False
                self.health_ms.append((time.perf_counter() - start) * 1000)
                self.health_failures += not ok
                self.done.wait(0.05)


def attack(url: str, body: bytes, content_type: str, requests: int, clients: int) -> dict[str, object]:
    statuses: Counter[int] = Counter()
    seconds: list[float] = []
    accepted = 0
    lock = threading.Lock()
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Encoding": "gzip",
        "Content-Type": content_type,
    }

    def one_client(n: int) -> None:
        nonlocal accepted
        with httpx.Client(timeout=600) as client:
            for _ in range(n):
                start = time.perf_counter()
                resp = client.post(url, content=body, headers=headers)
                took = time.perf_counter() - start
                with lock:
                    statuses[resp.status_code] += 1
                    seconds.append(took)
                    if resp.status_code == 202:
                        accepted += int(resp.json()["accepted"])

    share = [requests // clients + (i < requests % clients) for i in range(clients)]
    threads = [threading.Thread(target=one_client, args=(n,)) for n in share if n]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "body_bytes": len(body),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "records_accepted": accepted,
        "seconds_per_request_max": round(max(seconds), 3),
        "seconds_per_request_median": round(statistics.median(seconds), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "intake_limits.json")
    args = parser.parse_args()

    ndjson = gzip.compress(b"{}\n" * args.lines, compresslevel=9)
    array = gzip.compress(b"[" + b",".join([b"{}"] * args.lines) + b"]", compresslevel=9)
    work = Path(tempfile.mkdtemp(prefix="socpipe-bench-intake-"))
    make_registry(args.code, work)
    port = free_port()
    env = {**os.environ, "SOC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(args.code)}
    log = (work / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "socpipe.cli", "run", "--port", str(port), "--data-dir", str(work)],
        cwd=args.code,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/health", proc, timeout_s=180)
        time.sleep(2)  # let start-up work settle before the baseline
        baseline = rss_mb(proc.pid)
        watch = Watch(f"{base}/health", proc.pid)
        watch.start()
        started = time.perf_counter()
        runs = {
            "ndjson": attack(
                f"{base}/ingest/v1/events", ndjson, "application/x-ndjson", args.requests, args.clients
            ),
            "json_array": attack(
                f"{base}/ingest/v1/events", array, "application/json", args.requests, args.clients
            ),
        }
        elapsed = time.perf_counter() - started
        watch.done.set()
        watch.join()
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    health = sorted(watch.health_ms)
    out = {
        "benchmark": "intake_limits",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "code": str(args.code),
        "attack": {"lines_per_body": args.lines, "requests_each": args.requests, "clients": args.clients},
        "runs": runs,
        "seconds": round(elapsed, 2),
        "rss_mb": {"baseline": round(baseline, 1), "peak": round(max(watch.rss, default=baseline), 1)},
        "health": {
            "probes": len(health),
            "failures": watch.health_failures,
            "median_ms": round(statistics.median(health), 1) if health else None,
            "max_ms": round(health[-1], 1) if health else None,
        },
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print("| run | body | answers | records accepted | slowest answer |\n| --- | --- | --- | --- | --- |")
    for name, run in runs.items():
        print(
            f"| {name} | {run['body_bytes']} B gzip | {run['statuses']} | {run['records_accepted']} "
            f"| {run['seconds_per_request_max']} s |"
        )
    print(
        f"\nRSS {out['rss_mb']['baseline']} MB -> peak {out['rss_mb']['peak']} MB; "
        f"/health {out['health']['probes']} probes, median {out['health']['median_ms']} ms, "
        f"max {out['health']['max_ms']} ms, {watch.health_failures} failed; {out['seconds']} s in all"
    )


if __name__ == "__main__":
    main()
