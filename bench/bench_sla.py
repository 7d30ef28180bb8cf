"""What the queue's "SLA breached" filter costs on SQLite (issue 16), through the HTTP API.

    .venv/bin/python bench/bench_sla.py [--count 200000] [--runs 20]

Loads the generated alerts of `bench_queue` (`bench_alerts.gen_alert`: 40 units, 80 rules, the
queue's status mix, raised over the 60 days before now, so most new high and critical ones are past
their SLA) into a fresh SQLite file, starts the real app on uvicorn with an analyst API token, and
times, each beside the same request without the filter:

- the queue's first page (`sla=breached`, the open statuses, newest first, 50 alerts, its total);
- the same page with `facets=true` (the counts per value of every filter);
- the new-alerts poll (its tab counts).

The filter is a KQL condition on `severity`, `created_at` and the triage fields, which SQLite reads
from each alert's document (`api.alerts.sla`). Writes bench/results/sla-sqlite.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth.deps import Role  # noqa: E402
from api.auth.service import create_api_token  # noqa: E402
from bench.bench_queue import OPEN, load_sqlite, timings  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402
from tests.backends import app_context  # noqa: E402
from tests.browser.live import serving  # noqa: E402

SLA = [("sla", "breached")]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    out = ROOT / "bench" / "results" / "sla-sqlite.json"
    folder = tempfile.TemporaryDirectory(prefix="bench-sla-")
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
            alerts, news = "/api/v1/alerts", "/api/v1/alerts/news"
            breached = client.get(alerts, params=[*OPEN, *SLA]).json()["total"]
            results["breached_total"] = breached
            for name, path, params in (
                ("page", alerts, OPEN),
                ("page_facets", alerts, [*OPEN, ("facets", "true")]),
                ("poll", news, [*OPEN, ("since", since)]),
            ):
                results[name] = timings(client, path, params, args.runs)
                results[f"{name}_sla_breached"] = timings(client, path, [*params, *SLA], args.runs)
                print(name, results[name]["p50_ms"], results[f"{name}_sla_breached"]["p50_ms"], flush=True)
        results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    finally:
        store.close()
        folder.cleanup()


if __name__ == "__main__":
    main()
