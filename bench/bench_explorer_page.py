"""The explorer page end to end on the embedded store: `GET /events` as the browser asks for it (the
page of 50 with its exact total, the histogram and the field sidebar's sample, rendered to HTML), for
the query language benchmark's queries over its generated events.

    .venv/bin/python bench/bench_explorer_page.py [--count 100000] [--runs 10]
    .venv/bin/python bench/bench_explorer_page.py --store elasticsearch [--es-url http://127.0.0.1:19200]

The store-level requests behind it, over 1,000,000 events in SQLite and 10,000,000 in
Elasticsearch, are `bench_explorer.py`'s; this one adds what the page itself costs (three reads at
once, the sample's field counts, Jinja) over what the store answers. Writes
bench/results/explorer_page.json (one entry per store). On Elasticsearch each query is timed twice:
the three reads one after another (embedded mode's way) and at once (distributed mode's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api.auth.deps import Role  # noqa: E402
from api.auth.testing import login  # noqa: E402
from bench.bench_kql_sqlite import QUERIES, events  # noqa: E402
from soc_core.store import Store  # noqa: E402
from socpipe.app import create_app  # noqa: E402
from stores.elastic.store import ElasticStore  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402
from tests.backends import app_context  # noqa: E402

RANGE = {"start": "2025-07-01T00:00:00Z", "end": "2025-08-01T00:00:00Z"}  # every generated event


def measure(store: Store, runs: int, mode: str) -> dict[str, Any]:
    """p50/p95 of `GET /events` for each query, the app in `mode` (distributed: reads at once)."""
    app = create_app(app_context(store, environment="test", mode=mode))
    results: dict[str, Any] = {}
    with TestClient(app, base_url="https://testserver") as client:
        login(client, store, role=Role.ANALYST)
        for query in ["", *QUERIES]:
            times, size = [], 0
            for _ in range(runs):
                start = time.perf_counter()
                resp = client.get("/events", params={**RANGE, "q": query})
                times.append((time.perf_counter() - start) * 1000)
                assert resp.status_code == 200, resp.text[:500]
                size = len(resp.content)
            times.sort()
            name = query or "(everything)"
            results[name] = row = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[max(int(len(times) * 0.95) - 1, 0)], 1),
                "html_kb": round(size / 1024, 1),
            }
            timing = f"p50 {row['p50_ms']:>8} ms  p95 {row['p95_ms']:>8} ms"
            print(f"{mode:11} {name!r:66} {timing}  {row['html_kb']} KB")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--store", choices=["sqlite", "elasticsearch"], default="sqlite")
    parser.add_argument("--es-url", default="http://127.0.0.1:19200")
    args = parser.parse_args()
    entry: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.count,
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store: Store
        if args.store == "sqlite":
            store = SqliteStore(Path(tmp) / "explorer.sqlite3")
        else:
            store = ElasticStore(args.es_url, prefix=f"bench-{uuid.uuid4().hex[:8]}-")
        store.setup()
        try:
            batch = events(args.count)
            for i in range(0, len(batch), 1000):
                store.put_events(batch[i : i + 1000])
            del batch
            store.refresh()
            if args.store == "sqlite":
                entry["pages"] = measure(store, args.runs, "embedded")
            else:
                entry["pages_one_by_one"] = measure(store, args.runs, "embedded")
                entry["pages"] = measure(store, args.runs, "distributed")
        finally:
            if isinstance(store, ElasticStore):
                store.es.indices.delete(
                    index=f"{store.prefix}*", ignore_unavailable=True, allow_no_indices=True
                )
                store.es.options(ignore_status=404).indices.delete_index_template(name=f"{store.prefix}*")
            store.close()
    path = ROOT / "bench" / "results" / "explorer_page.json"
    out: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    if "pages" in out:  # the first version's layout: SQLite only
        out = {"sqlite": out}
    out[args.store] = entry
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
