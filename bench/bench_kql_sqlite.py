"""The query language on the embedded store: write rate with the FTS5 index (written with each row), and
query latency over many events (first page of 50 plus the total, as a search page asks).

    .venv/bin/python bench/bench_kql_sqlite.py [--count 100000] [--runs 20]

Generates events with varied hosts, users, processes and Vietnamese messages into a temporary
SQLite file, once with the free-text index and once writing the rows alone (the write cost of the
index), then times each query. Writes bench/results/kql_sqlite.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from soc_core.event import Event  # noqa: E402
from soc_core.kql import EVENT_FIELDS, parse_for  # noqa: E402
from soc_core.store import EventQuery  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402

QUERIES = [
    "da xoa",
    '"dang nhap that bai"',
    "netsh*",
    "host.name:ws-0042",
    "host.name:srv-* and event.code:4625",
    "process.executable:*netsh.exe and not user.name:admin",
    "source.port >= 50000 and mimikatz",
    '@timestamp >= "2025-07-01T12:00:00Z" and (da xoa or powershell)',
]
MESSAGES = [
    "Đã xóa tệp nhật ký bảo mật",
    "Đăng nhập thất bại cho tài khoản",
    "Process created: netsh advfirewall set allprofiles state off",
    "powershell -enc SQBFAFgA",
    "mimikatz sekurlsa::logonpasswords",
    "Người dùng đã thay đổi mật khẩu",
]
EXES = ["C:\\Windows\\System32\\netsh.exe", "C:\\Windows\\System32\\cmd.exe", "C:\\Users\\Public\\x.exe"]


def events(count: int) -> list[Event]:
    rnd = random.Random(15)
    base = datetime(2025, 7, 1, tzinfo=UTC)
    out = []
    for n in range(count):
        out.append(
            Event.from_doc(
                {
                    "@timestamp": (base + timedelta(seconds=n)).isoformat(),
                    "message": f"{rnd.choice(MESSAGES)} {n}",
                    "event": {"id": f"e{n:09d}", "code": rnd.choice(["4624", "4625", "4688", "1102"])},
                    "host": {"name": rnd.choice([f"ws-{i:04d}" for i in range(200)] + ["srv-db", "srv-web"])},
                    "user": {"name": rnd.choice(["admin", "nguyen.van.a", "svc_backup", "tran.thi.b"])},
                    "process": {"executable": rnd.choice(EXES), "pid": rnd.randrange(10, 9000)},
                    "source": {
                        "ip": f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.7",
                        "port": rnd.randrange(65535),
                    },
                    "soc": {"source": {"id": "bench"}, "unit": {"id": "u1"}},
                }
            )
        )
    return out


def write(path: Path, batch: list[Event], *, index: bool) -> tuple[float, float]:
    """Events per second of wall time and of CPU time (the load-independent one: SQLite runs in
    this process) writing `batch` in thousands, with the free-text index or without it (the rows
    only: `put_events` as it was before the index)."""
    store = SqliteStore(path)
    store.setup()
    if not index:
        store._insert = lambda sql, rows, fts=None: SqliteStore._insert(store, sql, rows)  # type: ignore[method-assign]
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(batch), 1000):
        store.put_events(batch[i : i + 1000])
    took, cpu_took = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    return len(batch) / took, len(batch) / cpu_took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    batch = events(args.count)
    with tempfile.TemporaryDirectory() as tmp:
        plain = write(Path(tmp) / "plain.sqlite3", batch, index=False)
        indexed = write(Path(tmp) / "kql.sqlite3", batch, index=True)
        store = SqliteStore(Path(tmp) / "kql.sqlite3")
        store.setup()
        results: dict[str, Any] = {}
        for query in QUERIES:
            node = parse_for(query, EVENT_FIELDS)
            times = []
            total = 0
            for _ in range(args.runs):
                start = time.perf_counter()
                total = store.search_events(EventQuery(kql=node, size=50)).total
                times.append((time.perf_counter() - start) * 1000)
            times.sort()
            results[query] = {
                "matches": total,
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
            }
            print(
                f"{query!r:70} {total:>8} matches  p50 {results[query]['p50_ms']:>8} ms"
                f"  p95 {results[query]['p95_ms']:>8} ms"
            )
        store.close()
    print(
        f"write: {plain[0]:,.0f} events/s ({plain[1]:,.0f} per CPU-second) without the free-text index,"
        f" {indexed[0]:,.0f} ({indexed[1]:,.0f}) with it"
    )
    out = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.count,
        "write_eps_without_index": round(plain[0]),
        "write_eps_with_index": round(indexed[0]),
        "write_eps_per_cpu_s_without_index": round(plain[1]),
        "write_eps_per_cpu_s_with_index": round(indexed[1]),
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "queries": results,
    }
    (ROOT / "bench" / "results" / "kql_sqlite.json").write_text(
        json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
