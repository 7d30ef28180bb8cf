"""The event explorer at scale (issue 15): what one explorer screen asks a store, over a realistic
set of filtered queries, p50/p95 per query and per request.

    .venv/bin/python bench/bench_explorer.py sqlite [--events 1000000] [--runs 20] [--db FILE]
    .venv/bin/python bench/bench_explorer.py elastic [--events 10000000] [--es-url URL]
        [--load-only | --query-only | --drop] [--warmup N]

A screen is three requests, each timed on its own (the explorer sends them separately):

- `page`: the 50 newest matches with the exact total (`search_events`, size 50),
- `histogram`: matches over time (`event_histogram`, 60 buckets over the range),
- `sample`: the 500 newest matches the field sidebar counts its top values from (not counted:
  the total is the page's).

The events are the demo province's traffic (`socpipe.demo.traffic`: Winlogbeat, FortiGate,
nginx, sshd, Kaspersky CEF records) normalized by the real `NormalizeStage` into a pool of
templates, then cloned over 30 days with their own ids and times, hosts, users and source
addresses drawn from skewed populations (a few busy, many quiet), so field values and free text
have realistic spreads. Each run of a query draws its value anew (another host, user, address),
so no answer is a repeat. Queries run over the whole 30 days (the widest range the explorer
offers), the worst case; Elasticsearch's shard request cache is off on the bench indices so a
repeated histogram is computed, not replayed.

SQLite: a file in a temporary folder (or `--db`, kept and reused). Elasticsearch: indices
`bench-explorer-events-*` (loaded once, kept for `--query-only` until `--drop`), bulk-loaded
with refresh off; point `--es-url` at a private instance with a larger heap
(`SOCPIPE_STATE=/tmp/x SOC_ES_PORT=19400 SOCPIPE_ES_HEAP="-Xms4g -Xmx4g" deploy/local/servers.sh
start elasticsearch`). Results: bench/results/explorer_<store>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from normalizers.stage import NormalizeStage  # noqa: E402
from soc_core.event import Event  # noqa: E402
from soc_core.kql import EVENT_FIELDS, parse_for  # noqa: E402
from soc_core.kql.text import search_text  # noqa: E402
from soc_core.records import DeadLetter, RawRecord  # noqa: E402
from soc_core.store import EventQuery, Store  # noqa: E402
from socpipe.demo.traffic import (  # noqa: E402
    fortigate_line,
    kaspersky_cef,
    nginx_line,
    sshd_line,
    windows_event,
)

RESULTS = ROOT / "bench" / "results"
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
END = START + timedelta(days=DAYS)
BUCKETS = 60
ES_PREFIX = "bench-explorer-"
POOL = 20_000
SEED = 15

HOSTS = [f"pc-{unit}-{n:03d}" for unit in ("sotp", "soyt", "vhtt", "hcc", "xa") for n in range(80)]
USERS = [f"user{n:04d}" for n in range(2_000)] + ["administrator", "admin", "SYSTEM"]
UNITS = [("so-y-te", "so-y-te-portal"), ("so-tu-phap", "so-tu-phap-dms"), ("tt-phvhcc", "hcc-lan")]
FORMATS: list[tuple[str, int, Callable[[random.Random, datetime], bytes]]] = [  # format, share, maker
    (
        "winlogbeat",
        50,
        lambda rng, now: orjson.dumps(windows_event(rng, now, f"{_skewed(rng, HOSTS)}.local")),
    ),
    ("fortigate", 25, lambda rng, now: fortigate_line(rng, now).encode()),
    ("web_access", 12, lambda rng, now: nginx_line(rng, now).encode()),
    ("linux_syslog", 8, lambda rng, now: sshd_line(rng, now).encode()),
    ("cef", 5, lambda rng, now: kaspersky_cef(rng, now).encode()),
]


def _skewed(rng: random.Random, values: list[str]) -> str:
    """A value where the first few are busy and the tail is quiet (a squared uniform index)."""
    return values[int(len(values) * rng.random() ** 2)]


def pool(size: int = POOL, seed: int = SEED) -> list[dict[str, Any]]:
    """`size` normalized events (JSON-native documents with their `soc` attribution)."""
    rng = random.Random(seed)
    stage = NormalizeStage()
    makers = [(fmt, make) for fmt, share, make in FORMATS for _ in range(share)]
    out: list[dict[str, Any]] = []
    while len(out) < size:
        fmt, make = rng.choice(makers)
        now = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        unit, system = rng.choice(UNITS)
        source = f"{system}-{fmt}"
        payload = make(rng, now).decode()
        record = RawRecord(
            id=f"pool{len(out)}", source_id=source, format=fmt, received_at=now, payload=payload
        )
        result = stage(record)
        if isinstance(result, DeadLetter):
            raise SystemExit(f"the demo {fmt} record did not normalize: {result.reason}")
        doc = result.to_doc()
        if isinstance(doc.get("user"), dict) and rng.random() < 0.7:
            doc["user"]["name"] = _skewed(rng, USERS)
        doc["soc"] = {
            "unit": {"id": unit},
            "system": {"id": system, "level": 3},
            "source": {"id": f"{system}-{fmt}", "format": fmt},
        }
        out.append(doc)
    return out


def addresses(rng: random.Random, count: int = 20_000) -> list[str]:
    """Source addresses: mostly the province's own 10/8, some from Vietnamese public ranges."""
    first = [10, 10, 10, 113, 171, 203]
    return [
        f"{rng.choice(first)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(count)
    ]


def documents(count: int, templates: list[dict[str, Any]], seed: int = SEED) -> Iterator[dict[str, Any]]:
    """`count` JSON-native event documents spread evenly over the 30 days, newest last."""
    rng = random.Random(seed + 1)
    ips = addresses(rng)
    raw = [orjson.dumps(t) for t in templates]
    step = DAYS * 86400 / count
    for n in range(count):
        doc = orjson.loads(raw[rng.randrange(len(raw))])
        when = START + timedelta(seconds=n * step + rng.random() * step)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        doc["@timestamp"] = stamp
        doc["event"]["id"] = f"bx{n:010d}"
        doc["event"]["created"] = stamp
        source = doc.get("source")
        if isinstance(source, dict) and "ip" in source:
            source["ip"] = _skewed(rng, ips)
        yield doc


# -- the queries ------------------------------------------------------------------------------


def query_set(templates: list[dict[str, Any]], rng: random.Random) -> dict[str, Callable[[], str]]:
    """Query name -> a maker of its KQL text, a new value each run (drawn like the data's)."""
    ips = addresses(random.Random(SEED + 1))
    hosts = sorted(
        {t["host"]["name"] for t in templates if isinstance(t.get("host"), dict) and "name" in t["host"]}
    )
    return {
        "match-all": lambda: "",
        "host": lambda: f"host.name:{_skewed(rng, hosts)}",
        "user": lambda: f"user.name:{_skewed(rng, USERS)}",
        "source-ip": lambda: f"source.ip:{_skewed(rng, ips)}",
        "source-network": lambda: (
            f"source.ip:{rng.choice(['113', '171', '203'])}.{rng.randrange(256)}.0.0/16"
        ),
        "event-code": lambda: (
            f"event.code:{rng.choice(['4624', '4625', '4722', '0000000013', 'GNRL_EV_VIRUS_FOUND'])}"
        ),
        "free-text": lambda: rng.choice(["failed password", "sqlmap", "netsh", "da xoa", "heartbeat"]),
        "phrase": lambda: rng.choice(['"failed password for invalid user"', '"phat hien doi tuong"']),
        "wildcard": lambda: rng.choice(["process.name:power*", "host.name:pc-hcc-0*", "url.path:/tin-tuc*"]),
        "leading-wildcard": lambda: rng.choice(["process.executable:*\\\\netsh.exe", "user.name:*admin*"]),
        "port-range": lambda: f"destination.port >= {rng.choice([22, 53, 443])} and destination.port < 3390",
        "time-range": lambda: _day_range(rng),
        "code-and-ip": lambda: f"event.code:4625 and source.ip:{rng.choice(['10', '113'])}.0.0.0/8",
        "host-not-user": lambda: f"host.name:{_skewed(rng, hosts)} and not user.name:(SYSTEM or admin)",
        "text-and-field": lambda: (
            f"(failed or invalid) and event.outcome:failure and not user.name:{_skewed(rng, USERS)}"
        ),
    }


def _day_range(rng: random.Random) -> str:
    """One to three days somewhere in the 30, as a range on `@timestamp` in the query."""
    first = START + timedelta(days=rng.randrange(DAYS - 3))
    last = first + timedelta(days=rng.randint(1, 3), hours=12)
    return f'@timestamp >= "{first.date().isoformat()}" and @timestamp < "{last.isoformat()}"'


REQUESTS: dict[str, Callable[[Store, EventQuery], int]] = {
    "page": lambda store, q: store.search_events(q).total,
    "histogram": lambda store, q: sum(
        b.count for b in store.event_histogram(q, int((END - START).total_seconds()) // BUCKETS)
    ),
    "sample": lambda store, q: len(  # uncounted, as the explorer's sidebar asks (api/events/service.py)
        store.search_events(
            EventQuery(start=q.start, end=q.end, kql=q.kql, size=500, count_total=False)
        ).items
    ),
}


def measure(
    store: Store, queries: dict[str, Callable[[], str]], runs: int, give_up_ms: float
) -> dict[str, Any]:
    """p50/p95 per query and request; a query whose slowest request takes over `give_up_ms` at
    the median of its first three runs stops there (it misses the target either way)."""
    out: dict[str, Any] = {}
    for name, make in queries.items():
        times: dict[str, list[float]] = {r: [] for r in REQUESTS}
        cpu: dict[str, list[float]] = {r: [] for r in REQUESTS}
        totals: list[int] = []
        examples: list[str] = []
        for run in range(runs):
            if run == 3 and max(statistics.median(v) for v in times.values()) > give_up_ms:
                break
            text = make()
            examples.append(text)
            query = EventQuery(start=START, end=END, kql=parse_for(text, EVENT_FIELDS), size=50)
            for request, call in REQUESTS.items():
                began, began_cpu = time.perf_counter(), time.process_time()
                got = call(store, query)
                times[request].append((time.perf_counter() - began) * 1000)
                cpu[request].append((time.process_time() - began_cpu) * 1000)
                if request == "page":
                    totals.append(got)
        row: dict[str, Any] = {
            "example": examples[0],
            "runs": len(totals),
            "matches_median": int(statistics.median(totals)),
            "matches_max": max(totals),
        }
        for request, values in times.items():
            values.sort()
            spent = sorted(cpu[request])
            row[request] = {
                "p50_ms": round(statistics.median(values), 1),
                "p95_ms": round(_p95(values), 1),
                # the process's CPU time (SQLite runs in it; Elasticsearch does not): what a busy
                # machine's wall time is not, on the shared 2-core machine
                "cpu_p50_ms": round(statistics.median(spent), 1),
                "cpu_p95_ms": round(_p95(spent), 1),
            }
        out[name] = row
        print(
            f"{name:18} {row['matches_median']:>9} matches (max {row['matches_max']:>9})  "
            + "  ".join(
                f"{r} p50 {row[r]['p50_ms']:>7} p95 {row[r]['p95_ms']:>7} (cpu {row[r]['cpu_p95_ms']:>6})"
                for r in REQUESTS
            ),
            flush=True,
        )
    return out


def _p95(values: list[float]) -> float:
    """The nearest-rank 95th percentile of sorted `values`."""
    return values[max(0, -(-len(values) * 95 // 100) - 1)]


# -- SQLite -----------------------------------------------------------------------------------


def load_sqlite(path: Path, count: int, templates: list[dict[str, Any]]) -> dict[str, float]:
    from stores.sqlite.store import SqliteStore

    store = SqliteStore(path)
    store.setup()
    batch: list[Event] = []
    began, cpu = time.perf_counter(), time.process_time()
    for doc in documents(count, templates):
        batch.append(Event.from_doc(doc))
        if len(batch) == 1000:
            store.put_events(batch)
            batch = []
    store.put_events(batch)
    took, cpu_took = time.perf_counter() - began, time.process_time() - cpu
    store.close()
    return {"load_s": round(took, 1), "load_cpu_s": round(cpu_took, 1)}


# -- Elasticsearch ----------------------------------------------------------------------------


def load_elastic(
    url: str, count: int, templates: list[dict[str, Any]], batch: int = 4000
) -> dict[str, float]:
    """Bulk `create`s (as the store writes: its index names, ids and `search_text`) from this
    thread while two others wait on Elasticsearch; refresh off until the end."""
    from stores.elastic.kql import SEARCH_FIELD
    from stores.elastic.store import ElasticStore

    store = ElasticStore(url, prefix=ES_PREFIX)
    store.setup()
    client = httpx.Client(base_url=url, timeout=300)
    for day in range(DAYS + 1):
        index = store.event_index(START + timedelta(days=day))
        client.put(
            f"/{index}",
            json={
                "settings": {
                    "refresh_interval": "-1",
                    "translog.durability": "async",
                    "requests.cache.enable": False,
                }
            },
        )
    began, cpu = time.perf_counter(), time.process_time()

    def send(body: bytes) -> None:
        resp = client.post("/_bulk", content=body, headers={"Content-Type": "application/x-ndjson"})
        resp.raise_for_status()
        if resp.json()["errors"]:
            bad = [i for i in resp.json()["items"] if i["create"].get("error")][:3]
            raise SystemExit(f"bulk errors: {bad}")

    pending: list[Future[None]] = []
    lines: list[bytes] = []
    with ThreadPoolExecutor(2) as pool_:
        for n, doc in enumerate(documents(count, templates), 1):
            index = f"{ES_PREFIX}events-{doc['@timestamp'][:10].replace('-', '.')}"
            lines.append(orjson.dumps({"create": {"_index": index, "_id": doc["event"]["id"]}}))
            doc[SEARCH_FIELD] = search_text(doc)
            lines.append(orjson.dumps(doc))
            if n % batch == 0:
                pending.append(pool_.submit(send, b"\n".join(lines) + b"\n"))
                lines = []
                while len(pending) > 2:
                    pending.pop(0).result()
                if n % 500_000 == 0:
                    print(f"  {n:,} events in {time.perf_counter() - began:.0f} s", flush=True)
        if lines:
            pending.append(pool_.submit(send, b"\n".join(lines) + b"\n"))
        for f in pending:
            f.result()
    took, cpu_took = time.perf_counter() - began, time.process_time() - cpu
    client.put(f"/{ES_PREFIX}events-*/_settings", json={"index": {"refresh_interval": "1s"}})
    client.post(f"/{ES_PREFIX}events-*/_refresh")
    merge = time.perf_counter()
    client.post(f"/{ES_PREFIX}events-*/_forcemerge", params={"max_num_segments": 1}, timeout=3600)
    client.close()
    return {
        "load_s": round(took, 1),
        "load_cpu_s": round(cpu_took, 1),
        "forcemerge_s": round(time.perf_counter() - merge, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store", choices=["sqlite", "elastic"])
    parser.add_argument("--events", type=int)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--db", type=Path, help="SQLite file: loaded if missing, kept")
    parser.add_argument("--es-url", default="http://127.0.0.1:19400")
    parser.add_argument("--load-only", action="store_true")
    parser.add_argument("--query-only", action="store_true")
    parser.add_argument("--drop", action="store_true", help="delete the Elasticsearch bench indices")
    parser.add_argument("--only", nargs="*", help="query names to run")
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="runs of every query first, not recorded (a server just started reads from disk)",
    )
    parser.add_argument("--give-up-ms", type=float, default=5000, help="stop a query after 3 runs this slow")
    parser.add_argument(
        "--without-columns",
        action="store_true",
        help="SQLite: answer every field from the documents (what the indexed columns buy)",
    )
    args = parser.parse_args()
    count = args.events or (1_000_000 if args.store == "sqlite" else 10_000_000)
    if args.drop:
        httpx.delete(f"{args.es_url}/{ES_PREFIX}*", params={"expand_wildcards": "all"}).raise_for_status()
        return
    templates = pool()
    queries = query_set(templates, random.Random(SEED + 2))
    if args.only:
        queries = {k: v for k, v in queries.items() if k in args.only}
    load: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store: Store
        if args.store == "sqlite":
            from stores.sqlite.store import SqliteStore

            path = args.db or Path(tmp) / "explorer.sqlite3"
            if not path.exists():
                load = load_sqlite(path, count, templates)
                print(f"loaded {count:,} events: {load}", flush=True)
            if args.load_only:
                return
            store = SqliteStore(path)
            store.setup()
            size = {"file_mb": round(path.stat().st_size / 1e6)}
            if args.without_columns:
                from stores.sqlite import store as sqlite_store

                bare = dataclasses.replace(sqlite_store.EVENT_TARGET, columns={"host.name": "host_name"})
                sqlite_store.EVENT_TARGET = bare
                size["columns"] = "host.name only"
        else:
            from stores.elastic.store import ElasticStore

            if not args.query_only:
                load = load_elastic(args.es_url, count, templates)
                print(f"loaded {count:,} events: {load}", flush=True)
            if args.load_only:
                return
            store = ElasticStore(args.es_url, prefix=ES_PREFIX)
            stats = httpx.get(f"{args.es_url}/{ES_PREFIX}events-*/_stats/docs,store", timeout=60).json()
            size = {
                "docs": stats["_all"]["primaries"]["docs"]["count"],
                "store_mb": round(stats["_all"]["primaries"]["store"]["size_in_bytes"] / 1e6),
            }
        if args.warmup:
            measure(store, queries, args.warmup, args.give_up_ms)
            print(f"warmed up: {args.warmup} runs of every query, not recorded", flush=True)
        results = measure(store, queries, args.runs, args.give_up_ms)
    out = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "store": args.store,
        "events": count,
        "range": [START.isoformat(), END.isoformat()],
        "runs": args.runs,
        "warmup_runs": args.warmup,
        **load,
        **size,
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "target_p95_ms": 1000,
        "queries": results,
    }
    name = RESULTS / f"explorer_{args.store}{'_without_columns' if args.without_columns else ''}.json"
    name.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {name}")


if __name__ == "__main__":
    main()
