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


def measure(store: SqliteStore, runs: int) -> dict[str, Any]:
    """Each request with and without the filter, through the app on uvicorn (an analyst's token)."""
    token, _ = create_api_token(store=store, name="bench", role=Role.ANALYST, actor="bench")
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    alerts, news = "/api/v1/alerts", "/api/v1/alerts/news"
    out: dict[str, Any] = {}
    auth = {"authorization": f"Bearer {token}"}
    with serving(app_context(store)) as url, httpx.Client(base_url=url, headers=auth, timeout=300) as client:
        out["breached_total"] = client.get(alerts, params=[*OPEN, *SLA]).json()["total"]
        for name, path, params in (
            ("page", alerts, OPEN),
            ("page_facets", alerts, [*OPEN, ("facets", "true")]),
            ("poll", news, [*OPEN, ("since", since)]),
        ):
            out[name] = timings(client, path, params, runs)
            out[f"{name}_sla_breached"] = timings(client, path, [*params, *SLA], runs)
            print(name, out[name]["p50_ms"], out[f"{name}_sla_breached"]["p50_ms"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sla-") as folder:
        store = SqliteStore(Path(folder) / "store.sqlite3")
        store.setup()
        try:
            load_s = load_sqlite(store, args.count)
            results = {"store": "sqlite", "alerts": args.count, "load_s": round(load_s)}
            results |= measure(store, args.runs)
        finally:
            store.close()
    results["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    text = orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n"
    (ROOT / "bench" / "results" / "sla-sqlite.json").write_bytes(text)
    print(text.decode())


if __name__ == "__main__":
    main()
