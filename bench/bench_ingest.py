"""Ingest benchmark: events/s from ONE receiver process into Kafka (acks=all), on the real servers.

- syslog TCP: `python -m socpipe.cli syslog` (distributed), two TCP connections sending
  newline-framed RFC 5424 lines; measured until the receiver's per-source counter (records that
  Kafka acknowledged) reaches the total;
- HTTP bulk: `socpipe api` (distributed), two clients posting NDJSON batches of 1,000 Fluent Bit
  style records; measured by the 202 answers (each means Kafka has the batch);
- shipper: `socpipe ship` tailing one file into that `socpipe api`, until the API counted them all.

Writes `bench/results/ingest.json` and prints a table. Target: >= 20,000 events/s per receiver.
Beside the figures it records the receiver process's CPU seconds over each measurement (events per
CPU-second move less with other work on the machine than wall figures do) and the load average.

Where a receiver's CPU went before issue #3's fixes, by profile (py-spy, per-thread CPU): 57-68% in
kafka-python's pure-Python CRC-32C (the `crc32c` C package is now a dependency), a quarter to a
third of `socpipe api` in full garbage collections over its startup heap (now frozen), then
per-record calls: orjson once per record, pydantic `model_dump`, batcher and Prometheus calls per
record, a clock read per record. What is left per record is parsing the request and building the
validated `RawRecord`.

    .venv/bin/python bench/bench_ingest.py [--events 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soc_core.registry import InformationSystem, LogSource, Registry, Unit  # noqa: E402
from stores.elastic.store import ElasticStore  # noqa: E402
from tests.servers import start_servers  # noqa: E402

TOKEN_HTTP = "bench-http-token"
TOKEN_SHIP = "bench-ship-token"
LINE = (
    "<38>1 2025-07-01T08:00:00.{n:06d}+07:00 web01 sshd 4242 - - "
    "Failed password for root from 10.0.{a}.{b} port 22 ssh2"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def figures(events: int, elapsed: float, cpu: float) -> dict[str, float]:
    return {
        "events": events,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "receiver_cpu_seconds": round(cpu, 2),
        "events_per_cpu_second": round(events / cpu) if cpu > 0 else 0,
    }


def line(n: int) -> str:
    return LINE.format(n=n % 1_000_000, a=(n // 250) % 250, b=n % 250)


def metric(url: str, name: str, source: str) -> float:
    try:
        text = httpx.get(url, timeout=5).text
    except httpx.TransportError:
        return 0.0
    needle = f'{name}{{source="{source}"}}'
    for row in text.splitlines():
        if row.startswith(needle):
            return float(row.split()[-1])
    return 0.0


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy")


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *args],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def bench_syslog(env: dict[str, str], total: int, logs: Path) -> dict[str, float]:
    tcp, ops = free_port(), free_port()
    proc = spawn(
        ["socpipe.cli", "syslog", "--tcp-port", str(tcp)],
        {**env, "SOC_OPS_PORT": str(ops)},
        logs / "syslog.log",
    )
    try:
        wait_healthy(f"http://127.0.0.1:{ops}/health", proc)
        metrics = f"http://127.0.0.1:{ops}/metrics"
        half = total // 2
        chunks = ["".join(line(n) + "\n" for n in range(start, start + half)).encode() for start in (0, half)]
        cpu = cpu_seconds(proc.pid)
        started = time.perf_counter()

        def send(data: bytes) -> None:
            with socket.create_connection(("127.0.0.1", tcp)) as s:
                s.sendall(data)

        senders = [threading.Thread(target=send, args=(c,)) for c in chunks]
        for t in senders:
            t.start()
        while metric(metrics, "soc_source_events_received_total", "bench-syslog") < 2 * half:
            if time.perf_counter() - started > 600:
                raise RuntimeError("syslog benchmark timed out")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid) - cpu
        for t in senders:
            t.join()
    finally:
        stop(proc)
    return figures(2 * half, elapsed, cpu)


def bench_http(url: str, pid: int, total: int, batch: int = 1000, clients: int = 2) -> dict[str, float]:
    bodies = [
        b"\n".join(orjson.dumps({"date": 1751331600 + n / 1e6, "log": line(n)}) for n in range(s, s + batch))
        for s in range(0, total, batch)
    ]
    todo = list(range(len(bodies)))
    lock = threading.Lock()
    done = [0]

    def work() -> None:
        with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {TOKEN_HTTP}"}) as c:
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop()
                while True:
                    resp = c.post("/ingest/v1/events", content=bodies[i])
                    if resp.status_code == 202:
                        break
                    time.sleep(float(resp.headers.get("Retry-After", "1")))
                with lock:
                    done[0] += batch

    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return figures(done[0], elapsed, cpu_seconds(pid) - cpu)


def bench_shipper(
    url: str, ops: str, pid: int, env: dict[str, str], total: int, work: Path
) -> dict[str, float]:
    """`pid` is the receiver's (`socpipe api`): its CPU is what the figure is about; `ops` its ops
    listener, where its metrics are."""
    log_file = work / "app.log"
    log_file.write_text("".join(line(n) + "\n" for n in range(total)))
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    proc = spawn(
        ["ingest.cli", "ship", "--url", url, "--path", str(log_file), "--state-dir", str(work / "state")],
        {**env, "SOC_SHIP_TOKEN": TOKEN_SHIP},
        work / "shipper.log",
    )
    try:
        while metric(f"{ops}/metrics", "soc_source_events_received_total", "bench-ship") < total:
            if time.perf_counter() - started > 600 or proc.poll() is not None:
                raise RuntimeError("shipper benchmark failed: see " + str(work / "shipper.log"))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
    finally:
        stop(proc)
    return figures(total, elapsed, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--shipper-events", type=int, default=100_000)
    args = parser.parse_args()
    servers = start_servers()
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    store = ElasticStore(servers.es_url, prefix=prefix)
    store.setup()
    store.save_registry(
        Registry(
            units=[Unit(id="bench", name="Bench")],
            systems=[InformationSystem(id="bench", name="Bench", unit_id="bench", level=3)],
            sources=[
                LogSource.model_validate(
                    {
                        "id": "bench-syslog",
                        "name": "s",
                        "system_id": "bench",
                        "format": "linux_syslog",
                        "address": "127.0.0.1",
                    }
                ),
                LogSource.model_validate(
                    {
                        "id": "bench-http",
                        "name": "h",
                        "system_id": "bench",
                        "format": "linux_syslog",
                        "token": TOKEN_HTTP,
                    }
                ),
                LogSource.model_validate(
                    {
                        "id": "bench-ship",
                        "name": "f",
                        "system_id": "bench",
                        "format": "linux_syslog",
                        "token": TOKEN_SHIP,
                    }
                ),
            ],
        )
    )
    env = {
        "SOC_MODE": "distributed",
        "SOC_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "SOC_ES_URL": servers.es_url,
        "SOC_TOPIC_PREFIX": prefix,
        "SOC_INDEX_PREFIX": prefix,
        "SOC_LOG_LEVEL": "WARNING",
    }
    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"socpipe-{prefix}"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    load_before = os.getloadavg()
    try:
        results["syslog_tcp"] = bench_syslog(env, args.events, work)
        port, ops_port = free_port(), free_port()
        api_env = {**env, "SOC_HTTP_PORT": str(port), "SOC_OPS_PORT": str(ops_port)}
        api = spawn(["socpipe.cli", "api"], api_env, work / "api.log")
        url, ops = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}"
        try:
            wait_healthy(f"{url}/health", api)
            results["http_bulk"] = bench_http(url, api.pid, args.events)
            results["shipper"] = bench_shipper(url, ops, api.pid, env, args.shipper_events, work)
        finally:
            stop(api)
    finally:
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
    out = {
        "benchmark": "ingest",
        "at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "target_events_per_s": 20_000,
        "note": "one receiver process into Kafka acks=all; Kafka, sender and receiver share the 2 cores",
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "results": results,
    }
    dest = ROOT / "bench" / "results" / "ingest.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'path':<12} {'events':>9} {'seconds':>8} {'events/s':>9} {'per CPU-s':>10}  target 20,000")
    for name, r in results.items():
        mark = "ok" if r["events_per_s"] >= 20_000 else "BELOW"
        print(
            f"{name:<12} {int(r['events']):>9} {r['seconds']:>8} {int(r['events_per_s']):>9} "
            f"{int(r['events_per_cpu_second']):>10}  {mark}"
        )
    print(f"load average before {out['load_average']['before']}, after {out['load_average']['after']}")
    print(f"written to {dest}")


if __name__ == "__main__":
    main()
