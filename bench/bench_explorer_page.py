"""The explorer page end to end on the embedded store: `GET /events` as the browser asks for it (the
page of 50 with its exact total, the histogram and the field sidebar's sample, rendered to HTML), for
the query language benchmark's queries over its generated events.

    .venv/bin/python bench/bench_explorer_page.py [--count 100000] [--runs 10]

The store-level requests behind it, over 1,000,000 events in SQLite and 10,000,000 in
Elasticsearch, are `bench_explorer.py`'s; this one adds what the page itself costs (three reads at
once, the sample's field counts, Jinja) over what the store answers. Writes
bench/results/explorer_page.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from api.auth.deps import Role  # noqa: E402
from api.auth.testing import login  # noqa: E402
from bench.bench_kql_sqlite import QUERIES, events  # noqa: E402
from socpipe.app import create_app  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402
from tests.backends import app_context  # noqa: E402

RANGE = {"start": "2025-07-01T00:00:00Z", "end": "2025-08-01T00:00:00Z"}  # every generated event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "explorer.sqlite3")
        store.setup()
        batch = events(args.count)
        for i in range(0, len(batch), 1000):
            store.put_events(batch[i : i + 1000])
        del batch
        app = create_app(app_context(store, environment="test"))
        results: dict[str, Any] = {}
        with TestClient(app, base_url="https://testserver") as client:
            login(client, store, role=Role.ANALYST)
            for query in ["", *QUERIES]:
                times, size = [], 0
                for _ in range(args.runs):
                    start = time.perf_counter()
                    resp = client.get("/events", params={**RANGE, "q": query})
                    times.append((time.perf_counter() - start) * 1000)
                    assert resp.status_code == 200, resp.text[:500]
                    size = len(resp.content)
                times.sort()
                results[query or "(everything)"] = row = {
                    "p50_ms": round(statistics.median(times), 1),
                    "p95_ms": round(times[max(int(len(times) * 0.95) - 1, 0)], 1),
                    "html_kb": round(size / 1024, 1),
                }
                name = query or "(everything)"
                print(
                    f"{name!r:70} p50 {row['p50_ms']:>8} ms  p95 {row['p95_ms']:>8} ms  {row['html_kb']} KB"
                )
        store.close()
    out = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.count,
        "runs": args.runs,
        "pages": results,
    }
    (ROOT / "bench" / "results" / "explorer_page.json").write_text(
        json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    )


if __name__ == "__main__":
    main()
