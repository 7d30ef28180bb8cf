"""What an open alert queue costs the server (issue 15): the new-alerts poll every analyst's queue
sends every `SOC_QUEUE_POLL_S`, and the CSV export of a filter, measured through the HTTP API.

    .venv/bin/python bench/bench_queue.py [--count 200000] [--runs 40]

Embedded mode (SQLite), where the poll is dearest: an alert's storage time (`created_at`) is read
from its document there, while Elasticsearch indexes it. Loads generated alerts
(`bench_alerts.gen_alert`: 40 units, 80 rules, the queue's status mix) spread over the 60 days
before now, so the indicator's 24 hours (`SOC_QUEUE_NEW_LOOKBACK_H`) hold a sixtieth of them, into a
fresh SQLite file; starts the real app on uvicorn with an analyst API token, and times:

- the poll as the console's queue sends it: open statuses, `since` a minute ago (the count of new
  alerts and the tab counts, one facet over every status);
- the same poll under a filtered queue (one unit, high and critical);
- the CSV export of the open queue, `SOC_ALERT_EXPORT_MAX_ROWS` (10,000) rows: time to the last
  byte and rows per second.

Writes the figures to bench/results/queue-sqlite.json.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth.deps import Role  # noqa: E402
from api.auth.service import create_api_token  # noqa: E402
from bench.bench_alerts import gen_alert  # noqa: E402
from soc_core.alert import Alert  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402
from tests.backends import app_context  # noqa: E402
from tests.browser.live import serving  # noqa: E402

OPEN = [("status", "new,acknowledged,in_progress")]


def load_sqlite(store: SqliteStore, count: int, chunk: int = 5000) -> float:
    """The same alerts `bench_alerts.load` writes to Elasticsearch, through the store's own writes."""
    rng = random.Random(42)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=60)
    t0 = time.perf_counter()
    batch: list[Alert] = []
    doc: dict[str, Any] | None = None
    for n in range(count):
        _, doc = gen_alert(n, rng, start, 60 * 86400, doc if n % 5 == 1 else None)
        batch.append(Alert.model_validate(doc))
        if len(batch) == chunk:
            store.put_alerts(batch)
            batch = []
    if batch:
        store.put_alerts(batch)
    return time.perf_counter() - t0


def timings(client: httpx.Client, path: str, params: Any, runs: int) -> dict[str, Any]:
    for _ in range(3):
        client.get(path, params=params).raise_for_status()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(0.95 * len(samples)) - 1)], 1),
        "max_ms": round(samples[-1], 1),
        "runs": runs,
    }


def export(client: httpx.Client, runs: int) -> dict[str, Any]:
    samples, rows = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        with client.stream("GET", "/api/v1/alerts/export.csv", params=tuple(OPEN)) as resp:
            resp.raise_for_status()
            body = b"".join(resp.iter_bytes())
        samples.append(time.perf_counter() - t0)
        rows = body.count(b"\n") - 1
    best = statistics.median(samples)
    return {"rows": rows, "median_s": round(best, 2), "rows_per_s": round(rows / best), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "queue-sqlite.json"
    folder = tempfile.TemporaryDirectory(prefix="bench-queue-")
    store = SqliteStore(Path(folder.name) / "store.sqlite3")
    store.setup()
    try:
        print(f"loading {args.count:,} alerts into SQLite ...", flush=True)
        load_s = load_sqlite(store, args.count)
        print(f"loaded in {load_s:.0f} s", flush=True)
        token, _ = create_api_token(store=store, name="bench", role=Role.ANALYST, actor="bench")
        since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        results: dict[str, Any] = {"store": "sqlite", "alerts": args.count, "load_s": round(load_s)}
        with (
            serving(app_context(store)) as url,
            httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=300) as client,
        ):
            news = "/api/v1/alerts/news"
            results["poll_open_queue"] = timings(client, news, [*OPEN, ("since", since)], args.runs)
            filtered = [*OPEN, ("unit", "unit-07"), ("severity", "high,critical"), ("since", since)]
            results["poll_filtered_queue"] = timings(client, news, filtered, args.runs)
            results["export_csv_open_queue"] = export(client, max(3, args.runs // 10))
        results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    finally:
        store.close()
        folder.cleanup()


if __name__ == "__main__":
    main()
