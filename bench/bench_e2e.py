"""End-to-end benchmark: events posted to the intake until searchable in Elasticsearch (issue 17).

The distributed product as processes on the real local servers (`deploy/local/servers.sh`): one
`socpipe api` (the HTTP intake) and R replicas each of the normalize, detect and index workers
(`socpipe worker ...`), for R in `--replicas` (default 1 and 2), with the default rules (the
provincial pack plus the whole SigmaHQ corpus). The corpus is every record of EVTX-ATTACK-SAMPLES
as `evtx_json` lines (about 19% of them fire a rule, so the alert path is loaded too), replayed
with a fresh EventRecordID (distinct events) and a current timestamp (today's index), spread over
`--sources` log sources: the intake keys Kafka records by source, so one source is one partition
and can keep one replica of a stage busy, no more (docs/scaling.md).

Per replica count it reports:

- sustained rate: `--events` records posted as fast as the intake takes them (two clients, NDJSON
  batches of 500), timed from the first post until Elasticsearch's `_count` (refreshed documents:
  searchable) has them all;
- the CPU seconds per event of each stage (all its replicas) and of the API, from /proc over that
  phase: the figure that moves least with the other work on this shared machine;
- latency at half load: background records paced at half the sustained rate while a probe record
  (a Winlogbeat `netsh advfirewall ... off`, which the provincial pack and SigmaHQ flag, on its
  own host so suppression never folds it) is posted every `--probe-interval` seconds; p50/p99 of
  post -> the alert is searchable (polled every 0.1 s);
- with `--profile`: py-spy (sampling, 50 Hz, idle threads too) on every worker and the API during
  the sustained phase; per stage, the innermost functions and the project's functions with the
  most samples (where the wall time goes, waiting included). py-spy takes CPU of its own (about
  5% of a core per process here): take the figures from a run without it.

In the same run, after the first replica count, Elasticsearch alone bulk-indexes the same
documents (read back from the pipeline's index) into a fresh index of the same template, with the
client the index worker uses (bulk `create`, 500 per request as the index worker sends them,
`--es-clients` threads), `--es-alone-runs` times (its rate varies by up to a third between runs):
the ratio pipeline / the fastest of them is the issue's figure (target >= 60%, p99 < 5 s at half
load).

With `--es-cores 0`, Elasticsearch runs on core 0 and everything else (Kafka, the API, the workers,
this client) on the other cores, in both phases (`CorePlan`): on a deployment Elasticsearch has
nodes of its own, and the ratio then asks how much of its capacity the pipeline turns into
searchable events, rather than how the two share one machine's cores.

Writes `bench/results/e2e.json` (`--output`) and prints a table; the load average is recorded
before and after each phase. Indices and topics have their own prefix; indices are deleted after.

    .venv/bin/python bench/bench_e2e.py [--events 40000] [--replicas 1 2] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soc_core.kql.text import search_text  # noqa: E402
from soc_core.registry import InformationSystem, LogSource, Registry, Unit  # noqa: E402
from soc_core.settings import DEFAULT_ES_REFRESH_INTERVAL  # noqa: E402
from soc_core.store import AlertQuery  # noqa: E402
from stores.elastic.kql import SEARCH_FIELD  # noqa: E402
from stores.elastic.store import ElasticStore  # noqa: E402
from tests.e2e.procs import SocProcess, process_env  # noqa: E402
from tests.servers import Servers, start_servers  # noqa: E402

SHARED = Path(os.environ.get("SOCPIPE_SHARED", ROOT.parent / "shared"))
EVTX = SHARED / "data" / "evtx-attack-samples"
RESULTS = ROOT / "bench" / "results" / "e2e.json"
TARGET_RATIO = 0.60
TARGET_P99_S = 5.0
POST_BATCH = 500
PROBE_UNIT = "bench-probe"
PROBE_SOURCE = "bench-probe"
STAGES = ("normalize", "detect", "index")
#: A worker's main loop (profiles count its thread's samples only) and the project's own frames.
LOOP = "StageWorker.run "
PROJECT = re.compile(r"\((?:soc_core|socpipe|stores|buses|detections|normalizers|api|ingest)/")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pids() -> dict[str, int]:
    """Kafka's and Elasticsearch's process ids, from `servers.sh status` ("kafka: running (pid N)")."""
    out = subprocess.run(
        ["bash", str(ROOT / "deploy/local/servers.sh"), "status"], capture_output=True, text=True, check=False
    ).stdout
    return {m[1]: int(m[2]) for m in re.finditer(r"^(kafka|elasticsearch): running \(pid (\d+)\)", out, re.M)}


def metric(text: str, series: str) -> float:
    """One series' value in a Prometheus text exposition (0 when absent)."""
    for row in text.splitlines():
        if row.startswith(series + " "):
            return float(row.split()[-1])
    return 0.0


#: Elasticsearch's counters per index kind (`events`, `alerts`, ...): where its work goes.
ES_COUNTERS = {
    "indexing": ("index_total", "index_time_in_millis", "delete_total"),
    "get": ("total", "time_in_millis"),
    "search": ("query_total", "query_time_in_millis", "fetch_total", "fetch_time_in_millis"),
    "refresh": ("total", "total_time_in_millis", "external_total"),
    "merges": ("total", "total_time_in_millis", "total_docs"),
    "flush": ("total", "total_time_in_millis"),
}
THREAD_POOLS = ("write", "search", "get", "refresh", "management", "system_write")


def es_activity(store: ElasticStore, prefix: str) -> dict[str, dict[str, float]]:
    """Elasticsearch's own counters so far for `prefix`'s indices, summed per index kind (the name
    after the prefix up to its date), and its thread pools' completed tasks (node-wide)."""
    metrics = [m.rstrip("s") if m == "merges" else m for m in ES_COUNTERS]  # the section of metric "merge"
    stats = store.es.indices.stats(index=f"{prefix}*", metric=metrics, level="indices")
    out: dict[str, dict[str, float]] = {}
    for name, index in stats.get("indices", {}).items():
        kind = re.sub(r"-\d{4}[.-].*$", "", name[len(prefix) :])
        into = out.setdefault(kind, {})
        for section, keys in ES_COUNTERS.items():
            for key in keys:
                value = index["primaries"].get(section, {}).get(key, 0)
                into[f"{section}.{key}"] = into.get(f"{section}.{key}", 0) + value
    pools = store.es.nodes.stats(metric="thread_pool")["nodes"]
    out["thread_pool_completed"] = {
        pool: sum(node["thread_pool"].get(pool, {}).get("completed", 0) for node in pools.values())
        for pool in THREAD_POOLS
    }
    return out


def activity_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], events: int
) -> dict[str, dict[str, float]]:
    """`after - before` per kind and counter, with the per-event rate of each (zeros left out)."""
    out: dict[str, dict[str, float]] = {}
    for kind, counters in after.items():
        for key, value in counters.items():
            delta = value - before.get(kind, {}).get(key, 0)
            if delta:
                out.setdefault(kind, {})[key] = delta
                out[kind][key + "_per_event"] = round(delta / events, 4)
    return out


class CpuBudget:
    """Elasticsearch held to a fixed CPU budget (Linux cgroup CPU quota; root), in both phases.

    On a deployment Elasticsearch has nodes of its own and the workers scale out on others
    (docs/scaling.md), so the issue's ratio asks how much of Elasticsearch's capacity the pipeline
    turns into searchable events. On this machine everything shares two cores: with `--es-cpus` the
    ratio measures that (Elasticsearch's budget the same in the pipeline and alone, the rest of the
    machine for the API, the workers, Kafka and this client) rather than the sum of every process's
    CPU against Elasticsearch's alone. An imitation only, and a pessimistic one: once its quota is
    spent Elasticsearch stalls for the rest of the period, which the pipeline's smaller requests
    (real-time gets, alert bulks, `_count` polls) feel more than bulk indexing (docs/scaling.md)."""

    V1 = Path("/sys/fs/cgroup/cpu")
    V2 = Path("/sys/fs/cgroup")
    PERIOD_US = 100_000

    def __init__(self, cpus: float, pid: int) -> None:
        self.cpus, self.pid = cpus, pid
        quota = int(cpus * self.PERIOD_US)
        if (self.V1 / "cpu.cfs_quota_us").exists():
            self.group = self.V1 / "socpipe-bench-es"
            self.group.mkdir(exist_ok=True)
            (self.group / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.group / "cpu.cfs_quota_us").write_text(str(quota))
            self.root = self.V1
        elif (self.V2 / "cgroup.controllers").exists():
            self.group = self.V2 / "socpipe-bench-es"
            self.group.mkdir(exist_ok=True)
            (self.group / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            self.root = self.V2
        else:
            raise SystemExit("--es-cpus needs a cgroup CPU controller (Linux, root)")
        (self.group / "cgroup.procs").write_text(str(pid))  # every thread of the process

    def release(self) -> None:
        (self.root / "cgroup.procs").write_text(str(self.pid))
        self.group.rmdir()


class CorePlan:
    """Elasticsearch on cores of its own, everything else on the others, in both phases (CPU
    affinity: `taskset -a` on every thread of the servers, this process's own for the API, the
    workers and the client it starts).

    What `CpuBudget` means to imitate (a deployment gives Elasticsearch nodes of its own, so the
    ratio asks how much of its capacity the pipeline turns into searchable events), without the
    quota's stalls: a core is the unit a node has, and nothing throttles a pinned thread. Kafka
    goes with the pipeline (on a deployment it has nodes of its own too: a pessimistic choice)."""

    def __init__(self, es_cores: set[int]) -> None:
        machine = os.sched_getaffinity(0)
        self.es_cores = es_cores
        self.others = machine - es_cores
        if not es_cores <= machine or not self.others:
            raise SystemExit(
                f"--es-cores {sorted(es_cores)}: cores of {sorted(machine)}, leaving one at least"
            )
        self.machine = machine
        self.pids = server_pids()
        self._pin(self.pids["elasticsearch"], es_cores)
        self._pin(self.pids["kafka"], self.others)
        os.sched_setaffinity(0, self.others)  # this process; what it starts afterwards inherits it

    @staticmethod
    def _pin(pid: int, cores: set[int]) -> None:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", ",".join(map(str, sorted(cores))), str(pid)],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def describe(self) -> dict[str, list[int]]:
        return {"elasticsearch": sorted(self.es_cores), "pipeline_kafka_and_client": sorted(self.others)}

    def release(self) -> None:
        for pid in self.pids.values():
            self._pin(pid, self.machine)
        os.sched_setaffinity(0, self.machine)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def token(source: str) -> str:
    return f"{source}-token"


# ---------------------------------------------------------------------------------------- corpus


def evtx_records() -> list[dict[str, Any]]:
    """Every record of the EVTX samples as pyevtx-rs's JSON (the `evtx_json` format)."""
    import evtx  # pyevtx-rs, a project dependency

    out: list[dict[str, Any]] = []
    for path in sorted(EVTX.rglob("*.evtx")):
        try:
            for record in evtx.PyEvtxParser(str(path)).records_json():
                if record is not None:
                    out.append(orjson.loads(record["data"]))
        except (OSError, RuntimeError):  # a few samples are truncated on purpose
            continue
    if not out:
        raise SystemExit(f"no EVTX records under {EVTX}")
    return out


class Corpus:
    """The EVTX records replayed as distinct, current events: NDJSON bodies per source."""

    def __init__(self, records: list[dict[str, Any]], sources: list[str]) -> None:
        self.records = records
        self.sources = sources
        self.next = 0  # the next EventRecordID: every body ever made is new to the pipeline

    def bodies(self, count: int, batch: int = POST_BATCH) -> list[tuple[str, bytes]]:
        """`count` records as (source, body) posts of `batch` lines, the sources taking turns."""
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        out: list[tuple[str, bytes]] = []
        for start in range(0, count, batch):
            lines = []
            for _ in range(min(batch, count - start)):
                n = self.next
                self.next += 1
                doc = self.records[n % len(self.records)]
                system = doc["Event"]["System"]
                system["EventRecordID"] = n
                system["TimeCreated"] = {"#attributes": {"SystemTime": now}}
                lines.append(orjson.dumps(doc))
            out.append((self.sources[(start // batch) % len(self.sources)], b"\n".join(lines)))
        return out


def probe_body(n: int) -> bytes:
    """A Winlogbeat record that fires (netsh turning the firewall off) on host `probe-<n>`."""
    return orjson.dumps(
        {
            "@timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "winlog": {
                "channel": "Microsoft-Windows-Sysmon/Operational",
                "event_id": 1,
                "record_id": n,
                "provider_name": "Microsoft-Windows-Sysmon",
                "computer_name": f"probe-{n}",
                "event_data": {
                    "Image": "C:\\Windows\\System32\\netsh.exe",
                    "CommandLine": "netsh advfirewall set allprofiles state off",
                    "ParentImage": "C:\\Windows\\System32\\cmd.exe",
                    "User": "XA\\vanthu",
                },
            },
        }
    )


# ---------------------------------------------------------------------------------------- posting


def post(client: httpx.Client, source: str, body: bytes) -> None:
    """Post until acknowledged (202), honouring Retry-After as a shipper does."""
    while True:
        try:
            resp = client.post(
                "/ingest/v1/events", content=body, headers={"Authorization": f"Bearer {token(source)}"}
            )
        except httpx.TransportError:
            time.sleep(0.5)
            continue
        if resp.status_code == 202:
            return
        if resp.status_code not in (429, 503):
            raise RuntimeError(f"intake answered {resp.status_code}: {resp.text[:500]}")
        time.sleep(float(resp.headers.get("Retry-After", "0.5")))


def post_all(url: str, bodies: list[tuple[str, bytes]], clients: int = 2) -> None:
    todo = list(reversed(bodies))
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                with lock:
                    if not todo:
                        return
                    source, body = todo.pop()
                post(client, source, body)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


# ---------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """One replica count's processes, on its own topics and indices."""

    servers: Servers
    replicas: int
    sources: list[str]
    data_dir: Path
    logs: Path
    settings: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"bench-e2e-{uuid.uuid4().hex[:8]}-")
    procs: dict[str, list[SocProcess]] = field(default_factory=dict)
    store: ElasticStore | None = None

    def start(self) -> None:
        self.store = ElasticStore(self.servers.es_url, prefix=self.prefix)
        self.store.setup()
        self.store.save_registry(registry(self.sources))
        env = process_env(
            self.servers,
            self.prefix,
            SOC_DATA_DIR=str(self.data_dir),
            SOC_LOG_LEVEL="WARNING",
            # the product's default, not the tests' short interval: ten refreshes a second cost
            # Elasticsearch more than the indexing itself, and Elasticsearch alone runs with it
            SOC_ES_REFRESH_INTERVAL=DEFAULT_ES_REFRESH_INTERVAL,
            **self.settings,
        )
        self.env = env
        self.procs["api"] = [SocProcess(["api"], env, "api", log_path=self.logs / f"{self.prefix}api.log")]
        for stage in STAGES:
            self.procs[stage] = [
                SocProcess(
                    ["worker", stage], env, stage, log_path=self.logs / f"{self.prefix}{stage}-{i}.log"
                )
                for i in range(self.replicas)
            ]
        for proc in self.all():
            proc.spawn()
        for proc in self.all():
            proc.wait_healthy(300)  # a cold rule cache compiles the SigmaHQ corpus first

    def all(self) -> Iterator[SocProcess]:
        for group in self.procs.values():
            yield from group

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['SOC_HTTP_PORT']}"

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per process kind: ours, and the servers' (shared with whatever else
        uses them: on a busy machine an upper bound of what this run cost them)."""
        ours = {
            name: sum(cpu_seconds(p.proc.pid) for p in group if p.proc is not None)
            for name, group in self.procs.items()
        }
        return {**ours, **{name: cpu_seconds(pid) for name, pid in server_pids().items()}}

    def batches(self) -> dict[str, tuple[float, float]]:
        """Per stage, batches handled and records taken in so far (all replicas, from /metrics)."""
        out: dict[str, tuple[float, float]] = {}
        for stage in STAGES:
            batches = received = 0.0
            for proc in self.procs[stage]:
                assert proc.ops_url is not None
                text = httpx.get(f"{proc.ops_url}/metrics", timeout=10).text
                batches += metric(text, f'soc_stage_batch_seconds_count{{stage="{stage}"}}')
                received += metric(text, f'soc_stage_events_received_total{{stage="{stage}"}}')
            out[stage] = (batches, received)
        return out

    def pids(self) -> dict[str, list[int]]:
        return {n: [p.proc.pid for p in g if p.proc is not None] for n, g in self.procs.items()}

    def events_searchable(self) -> int:
        """Records searchable in Elasticsearch: events, and dead letters (a record that does not
        normalize is one: without them the count would never arrive)."""
        assert self.store is not None
        kinds = f"{self.prefix}events-*,{self.prefix}deadletters-*"
        resp = self.store.es.count(index=kinds, ignore_unavailable=True, allow_no_indices=True)
        return int(resp["count"])

    def wait_events(self, count: int, timeout_s: float) -> float:
        """Poll `_count` (searchable documents) until `count`; the monotonic time it was reached."""
        deadline = time.monotonic() + timeout_s
        while True:
            now = time.monotonic()
            seen = self.events_searchable()
            if seen >= count:
                return now
            if now > deadline:
                raise RuntimeError(
                    f"{seen} of {count} events searchable after {timeout_s}s; logs in {self.logs}"
                )
            for proc in self.all():
                if proc.proc is not None and proc.proc.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited:\n{proc.log()}")
            time.sleep(0.25)

    def stop(self) -> None:
        for proc in self.all():
            proc.terminate()
        if self.store is not None:
            self.store.es.indices.delete(
                index=f"{self.prefix}*", ignore_unavailable=True, allow_no_indices=True
            )
            self.store.close()


def registry(sources: list[str]) -> Registry:
    return Registry(
        units=[Unit(id="bench", name="Bench"), Unit(id=PROBE_UNIT, name="Probe")],
        systems=[
            InformationSystem(id="bench", name="Bench", unit_id="bench", level=3),
            InformationSystem(id=PROBE_UNIT, name="Probe", unit_id=PROBE_UNIT, level=3),
        ],
        sources=[
            *(
                LogSource.model_validate(
                    {"id": s, "name": s, "system_id": "bench", "format": "evtx_json", "token": token(s)}
                )
                for s in sources
            ),
            LogSource.model_validate(
                {
                    "id": PROBE_SOURCE,
                    "name": "probe",
                    "system_id": PROBE_UNIT,
                    "format": "winlogbeat",
                    "token": token(PROBE_SOURCE),
                }
            ),
        ],
    )


# ---------------------------------------------------------------------------------------- profiling


class Profiler:
    """py-spy on each process for the sustained phase (raw collapsed stacks, stopped with SIGINT)."""

    def __init__(self, stack: Stack, folder: Path) -> None:
        self.folder = folder
        self.runs: list[tuple[str, Path, subprocess.Popen[bytes]]] = []
        for name, pids in stack.pids().items():
            for i, pid in enumerate(pids):
                out = folder / f"{stack.prefix}{name}-{i}.txt"
                proc = subprocess.Popen(
                    [
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(pid),
                        "--rate",
                        "50",
                        "--format",
                        "raw",
                        "--nonblocking",
                        "--idle",
                        "-o",
                        str(out),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                self.runs.append((name, out, proc))

    def stop(self) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """Per stage (its replicas together), as shares of the samples of the worker's loop thread
        (the API: of all its threads), waiting included, so where the wall time goes: the innermost
        functions (`leaf`) and the project's functions with the samples under them (`inclusive`)."""
        own: dict[str, Counter[str]] = {}
        inclusive: dict[str, Counter[str]] = {}
        totals: Counter[str] = Counter()
        for name, out, proc in self.runs:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if not out.exists():
                continue
            for row in out.read_text().splitlines():
                stack, _, count = row.rpartition(" ")
                if not stack or not count.isdigit():
                    continue
                frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
                if name != "api" and not any(f.startswith(LOOP) for f in frames):
                    continue  # a worker's other threads (Kafka's I/O, the ops listener) wait by design
                totals[name] += int(count)
                own.setdefault(name, Counter())[frames[-1]] += int(count)
                for frame in set(frames):
                    if PROJECT.search(frame):
                        inclusive.setdefault(name, Counter())[frame] += int(count)
        return {
            name: {
                kind: [
                    (fn, round(n / totals[name], 3)) for fn, n in table.get(name, Counter()).most_common(15)
                ]
                for kind, table in (("leaf", own), ("inclusive", inclusive))
            }
            for name in totals
        }


# ---------------------------------------------------------------------------------------- phases


def sustained(stack: Stack, corpus: Corpus, events: int, profile_dir: Path | None) -> dict[str, Any]:
    """Post `events` records as fast as the intake takes them; time until all are searchable."""
    # Warm-up: the whole corpus once, so every partition is assigned and the detect stage's
    # suppression knows every (rule, host) of the corpus, as a long-running worker does: the first
    # sight of a key asks Elasticsearch for its open alert (one search per new key; docs/scaling.md).
    warm = corpus.bodies(len(corpus.records))
    post_all(stack.url, warm)
    stack.wait_events(len(corpus.records), 900)
    bodies = corpus.bodies(events)
    base = stack.events_searchable()
    profiler = Profiler(stack, profile_dir) if profile_dir is not None else None
    assert stack.store is not None
    load_before, cpu_before, batches_before = load(), stack.cpu(), stack.batches()
    es_before = es_activity(stack.store, stack.prefix)
    started = time.monotonic()
    post_all(stack.url, bodies)
    posted = time.monotonic() - started
    done = stack.wait_events(base + events, 900)
    elapsed = done - started
    cpu_after, load_after, batches_after = stack.cpu(), load(), stack.batches()
    es_after = es_activity(stack.store, stack.prefix)
    profiles = profiler.stop() if profiler is not None else None
    cpu = {name: round(cpu_after[name] - cpu_before[name], 2) for name in cpu_after}
    out: dict[str, Any] = {
        "events": events,
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
        "intake_seconds": round(posted, 2),
        "cpu_seconds": cpu,
        "cpu_ms_per_event": {name: round(1000 * s / events, 3) for name, s in cpu.items()},
        "load_average": {"before": load_before, "after": load_after},
        # records per batch (the index stage counts events and alerts): what each bulk carries
        "mean_batch": {
            stage: round(
                (batches_after[stage][1] - batches_before[stage][1]) / max(1.0, n - batches_before[stage][0])
            )
            for stage, (n, _) in batches_after.items()
        },
    }
    # what Elasticsearch did for the pipeline, per index kind (its CPU per event above is the sum)
    out["elasticsearch_activity"] = activity_delta(es_before, es_after, events)
    if profiles is not None:
        out["profile_top_own_time"] = profiles
    return out


def half_load_latency(
    stack: Stack, corpus: Corpus, rate: float, seconds: float, interval: float
) -> dict[str, Any]:
    """Background records at `rate`/s and a probe every `interval` s; post -> searchable alert."""
    assert stack.store is not None
    batch = max(1, min(POST_BATCH, round(rate / 5)))  # about five posts a second
    background = corpus.bodies(round(rate * seconds), batch=batch)
    stop = threading.Event()
    posted_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    load_before = load()

    def pace() -> None:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            t0 = time.monotonic()
            for i, (source, body) in enumerate(background):
                delay = t0 + i * batch / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                post(client, source, body)

    def probe() -> None:
        with httpx.Client(base_url=stack.url, timeout=60) as client:
            n = 0
            while not stop.is_set():
                at = time.monotonic()
                post(client, PROBE_SOURCE, probe_body(n))
                posted_at[f"probe-{n}"] = at
                n += 1
                stop.wait(max(0.0, interval - (time.monotonic() - at)))

    def watch(until: float) -> None:
        assert stack.store is not None
        while time.monotonic() < until and (not stop.is_set() or set(posted_at) - set(seen_at)):
            page = stack.store.search_alerts(AlertQuery(unit_id=PROBE_UNIT, size=500))
            now = time.monotonic()
            for alert in page.items:
                if alert.host_name and alert.host_name not in seen_at:
                    seen_at[alert.host_name] = now
            time.sleep(0.1)

    pacer = threading.Thread(target=pace)
    prober = threading.Thread(target=probe)
    watcher = threading.Thread(target=watch, args=(time.monotonic() + seconds + 60,))
    for t in (pacer, prober, watcher):
        t.start()
    time.sleep(seconds)
    stop.set()
    prober.join()
    pacer.join()
    watcher.join()
    latencies = sorted(seen_at[h] - posted_at[h] for h in posted_at if h in seen_at)
    missing = len(set(posted_at) - set(seen_at))
    if len(latencies) < 2:
        raise RuntimeError(f"{len(latencies)} probe alerts seen of {len(posted_at)}; logs in {stack.logs}")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "background_events_per_s": round(rate),
        "seconds": seconds,
        "probes": len(posted_at),
        "probes_without_alert": missing,
        "latency_s": {
            "p50": round(q[49], 3),
            "p99": round(q[98], 3),
            "max": round(latencies[-1], 3),
            "min": round(latencies[0], 3),
        },
        "load_average": {"before": load_before, "after": load()},
    }


def indexed_documents(stack: Stack, limit: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The pipeline's event documents as the index worker sent them: (index, id, source), paged in a
    point in time (plain `_doc` paging saw a document twice when a merge reordered segments between
    pages), with the free-text field the store adds and `_source` leaves out put back (without it,
    Elasticsearch alone would skip analysing every document's words, and compare too well)."""
    assert stack.store is not None
    es = stack.store.es
    stack.store.refresh()
    pit = es.open_point_in_time(index=f"{stack.prefix}events-*", keep_alive="2m")["id"]
    out: list[tuple[str, str, dict[str, Any]]] = []
    after: list[Any] | None = None
    try:
        while len(out) < limit:
            resp = es.search(
                pit={"id": pit, "keep_alive": "2m"}, size=5000, sort=["_shard_doc"], search_after=after
            )
            pit = resp.get("pit_id", pit)
            hits = resp["hits"]["hits"]
            if not hits:
                break
            out += [
                (h["_index"], h["_id"], {**h["_source"], SEARCH_FIELD: search_text(h["_source"])})
                for h in hits
            ]
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)
    return out[:limit]


def elasticsearch_alone(
    servers: Servers, docs: list[tuple[str, str, dict[str, Any]]], clients: int, bulk: int = POST_BATCH
) -> dict[str, Any]:
    """Bulk-create `docs` into a fresh prefix (the store's templates), `clients` threads of 500 per
    request as the index worker sends them; timed until all are searchable."""
    prefix = f"bench-e2e-es-{uuid.uuid4().hex[:8]}-"
    store = ElasticStore(servers.es_url, prefix=prefix)
    store.setup()
    old = docs[0][0].split("events-", 1)[0]
    chunks = [docs[i : i + bulk] for i in range(0, len(docs), bulk)]
    load_before = load()

    def send(chunk: list[tuple[str, str, dict[str, Any]]]) -> None:
        ops: list[Any] = []
        for index, doc_id, doc in chunk:
            ops += [{"create": {"_index": prefix + index[len(old) :], "_id": doc_id}}, doc]
        resp = store.es.bulk(operations=ops, refresh=False)
        if resp["errors"]:
            raise RuntimeError(f"bulk errors: {[i for i in resp['items'] if 'error' in i['create']][:3]}")

    try:
        activity_before = es_activity(store, prefix)
        servers_cpu = {name: cpu_seconds(pid) for name, pid in server_pids().items()}
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(send, chunks))
        while True:
            count = store.es.count(index=f"{prefix}events-*")["count"]
            if count >= len(docs):
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - started
        es_cpu = cpu_seconds(server_pids()["elasticsearch"]) - servers_cpu["elasticsearch"]
        activity = activity_delta(activity_before, es_activity(store, prefix), len(docs))
        store.es.indices.refresh(index=f"{prefix}events-*")
        stats = store.es.indices.stats(index=f"{prefix}events-*", metric="store")
        stored = stats["_all"]["primaries"]["store"]["size_in_bytes"]  # before merges: an upper bound
    finally:
        store.es.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
    return {
        "documents": len(docs),
        "clients": clients,
        "bulk_size": bulk,
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(docs) / elapsed),
        "elasticsearch_cpu_ms_per_event": round(1000 * es_cpu / len(docs), 3),
        "stored_bytes_per_event": round(stored / len(docs)),
        "elasticsearch_activity": activity,
        "load_average": {"before": load_before, "after": load()},
    }


# ---------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000, help="records in the sustained phase")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sources", type=int, default=6, help="log sources the records are spread over")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--probe-interval", type=float, default=0.25)
    parser.add_argument("--es-clients", type=int, default=2)
    parser.add_argument(
        "--es-alone-runs",
        type=int,
        default=3,
        help="times Elasticsearch alone indexes the documents; the ratio is to the fastest",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy on every process (sustained phase)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--es-cpus",
        type=float,
        help="hold Elasticsearch to this many CPUs in both phases (cgroup quota, root; see CpuBudget)",
    )
    parser.add_argument(
        "--es-cores",
        type=lambda text: {int(c) for c in text.split(",")},
        help="Elasticsearch on these CPUs (e.g. 0), the pipeline, Kafka and the client on the others, "
        "in both phases (CPU affinity; see CorePlan)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="SOC_NAME=VALUE",
        help="a setting for every process of the pipeline (repeatable), e.g. SOC_CONSUMER_BATCH=2000",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "socpipe-bench-e2e",
        help="the processes' SOC_DATA_DIR (its compiled-rule cache is reused)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    if bad := [name for name in settings if not name.startswith("SOC_")]:
        parser.error(f"--setting takes SOC_* names: {bad}")

    servers = start_servers()
    if args.es_cpus and args.es_cores:
        parser.error("--es-cpus and --es-cores are two ways of the same thing: one of them")
    budget = CpuBudget(args.es_cpus, server_pids()["elasticsearch"]) if args.es_cpus else None
    plan = CorePlan(args.es_cores) if args.es_cores else None
    try:
        run_all(args, servers, settings, plan)
    finally:
        if budget is not None:
            budget.release()
        if plan is not None:
            plan.release()


def run_all(
    args: argparse.Namespace, servers: Servers, settings: dict[str, str], plan: CorePlan | None = None
) -> None:
    """Every replica count, Elasticsearch alone after the first, the results file and the table."""
    work = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    data_dir = args.data_dir  # kept between runs: the compiled-rule cache (SigmaHQ compiles in ~10 s)
    sources = [f"bench-evtx-{i}" for i in range(args.sources)]
    corpus = Corpus(evtx_records(), sources)
    results: list[dict[str, Any]] = []
    es_alone: dict[str, Any] | None = None
    for replicas in args.replicas:
        stack = Stack(servers, replicas, sources, data_dir, work, settings)
        try:
            stack.start()
            run: dict[str, Any] = {"replicas_per_stage": replicas}
            run["sustained"] = sustained(stack, corpus, args.events, work if args.profile else None)
            print(f"replicas {replicas}: {run['sustained']['events_per_s']:,} events/s sustained", flush=True)
            run["half_load"] = half_load_latency(
                stack, corpus, run["sustained"]["events_per_s"] / 2, args.latency_seconds, args.probe_interval
            )
            print(f"replicas {replicas}: half load p99 {run['half_load']['latency_s']['p99']} s", flush=True)
            if es_alone is None:
                docs = indexed_documents(stack, args.events)
                # its rate varies by a third from one run to the next (merges, the JVM): the
                # fastest of several is the ratio's denominator, the conservative choice
                tries = [
                    elasticsearch_alone(servers, docs, args.es_clients) for _ in range(args.es_alone_runs)
                ]
                print(f"Elasticsearch alone: {[t['events_per_s'] for t in tries]} events/s", flush=True)
                es_alone = {**max(tries, key=lambda t: t["events_per_s"]), "runs": tries}
            results.append(run)
        finally:
            stack.stop()
    assert es_alone is not None
    for run in results:
        ratio = run["sustained"]["events_per_s"] / es_alone["events_per_s"]
        run["ratio_to_elasticsearch"] = round(ratio, 3)
        run["targets_met"] = {
            "ratio": ratio >= TARGET_RATIO,
            "p99_half_load": run["half_load"]["latency_s"]["p99"] < TARGET_P99_S,
        }
    out = {
        "benchmark": "e2e",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/bench_e2e.py " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "corpus": {
            "records": len(corpus.records),
            "what": "EVTX-ATTACK-SAMPLES as evtx_json, replayed with fresh record ids and timestamps",
            "sources": len(sources),
        },
        "rules": "default: provincial pack + SigmaHQ corpus",
        "settings": settings,
        "elasticsearch_cpus": args.es_cpus,
        "cores": plan.describe() if plan is not None else None,
        "targets": {"ratio_to_elasticsearch": TARGET_RATIO, "p99_alert_latency_half_load_s": TARGET_P99_S},
        "elasticsearch_alone": es_alone,
        "runs": results,
        "note": (
            f"Elasticsearch on cores {plan.describe()['elasticsearch']}, the API, workers, Kafka and "
            f"this client on {plan.describe()['pipeline_kafka_and_client']}, in both phases"
            if plan is not None
            else "API, workers, Kafka, Elasticsearch and this client share the machine's cores"
        ),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'replicas':>8} {'events/s':>9} {'ratio':>6} {'p50 s':>6} {'p99 s':>6}  CPU ms/event per stage")
    for run in results:
        s, h = run["sustained"], run["half_load"]["latency_s"]
        per = " ".join(f"{k}={v}" for k, v in s["cpu_ms_per_event"].items())
        print(
            f"{run['replicas_per_stage']:>8} {s['events_per_s']:>9,} {run['ratio_to_elasticsearch']:>6.0%} "
            f"{h['p50']:>6} {h['p99']:>6}  {per}"
        )
    print(f"Elasticsearch alone: {es_alone['events_per_s']:,} events/s; written to {args.output}")


if __name__ == "__main__":
    main()
