"""The console's rules pages over the whole SigmaHQ corpus and a store full of alerts (embedded mode).

    .venv/bin/python bench/bench_rules_page.py [--alerts 200000] [--runs 20]

Builds the engine `socpipe run` builds (the provincial pack plus SigmaHQ, `SOC_SIGMA_DIR`), loads
generated alerts into a fresh SQLite store (the queue benchmark's alert shape, `bench_alerts.gen_alert`,
spread over the last 90 days, and over the rules with a long tail: a few noisy rules, many quiet
ones), signs in as an analyst and times, through the real app in process:

- `/rules`: the first page of 100 rules, each with its 7-day sparkline (one rule facet per day);
- `/rules?q=powershell`: a filtered listing;
- `/rules/<id>` of the noisiest rule: its detail and 30-day chart; and with `?days=90`;
- `/api/v1/rules/<id>/histogram?days=90`.

Per page: wall p50/p95 and the CPU time per request (the machine's load average is recorded too).

It also counts the store's alert aggregations per listing, to show that they do not grow with the
number of rules. Writes p50/p95 to bench/results/rules_page.json.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth.deps import Role  # noqa: E402
from api.auth.testing import login  # noqa: E402
from bench.bench_alerts import gen_alert  # noqa: E402
from soc_core.alert import Alert, alert_id  # noqa: E402
from soc_core.settings import DetectionSettings, Settings  # noqa: E402
from soc_core.store import AlertSearch  # noqa: E402
from socpipe.app import create_app  # noqa: E402
from socpipe.heap import freeze_startup_heap  # noqa: E402
from socpipe.runtime import build_engine  # noqa: E402
from stores.sqlite.store import SqliteStore  # noqa: E402
from tests.backends import app_context  # noqa: E402
from tests.counting import count_calls  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "rules_page.json"
NOISY_RULES = 400  # rules that raised alerts at all; the rest of the corpus stays quiet


def load(store: SqliteStore, rules: list[tuple[str, str]], count: int, *, chunk: int = 5000) -> float:
    """`count` alerts over the last 90 days; rule k of the noisy ones is picked with weight 1/(k+1)."""
    rng = random.Random(15)
    noisy = rng.sample(rules, min(NOISY_RULES, len(rules)))
    weights = [1 / (k + 1) for k in range(len(noisy))]
    span = 90 * 86400
    start = datetime.now(UTC) - timedelta(seconds=span)
    t0 = time.perf_counter()
    batch: list[Alert] = []
    for n in range(count):
        _, doc = gen_alert(n, rng, start, span)
        rule_id, title = rng.choices(noisy, weights)[0]
        doc["rule"] = {**doc["rule"], "id": rule_id, "name": title}
        doc["id"] = alert_id(rule_id, doc["event_ids"][0])
        batch.append(Alert.model_validate(doc))
        if len(batch) == chunk:
            store.put_alerts(batch)
            batch = []
    store.put_alerts(batch)
    return time.perf_counter() - t0


def timed(client: TestClient, path: str, runs: int) -> dict[str, float]:
    """Wall time and this process's CPU time per request (the app runs in process, so the CPU time
    is the server's plus the test client's: on a shared machine it moves less than the wall time)."""
    took: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        resp = client.get(path)
        took.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if resp.status_code != 200:
            raise SystemExit(f"{path}: {resp.status_code} {resp.text[:300]}")
    took.sort()
    return {
        "p50_ms": round(statistics.median(took) * 1000, 1),
        "p95_ms": round(took[min(len(took) - 1, int(len(took) * 0.95))] * 1000, 1),
        "max_ms": round(took[-1] * 1000, 1),
        "cpu_p50_ms": round(statistics.median(cpu) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--store", type=Path, default=None, help="keep the SQLite store here, and reuse it when it exists"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-rules-") as tmp:
        cache = Path.home() / ".cache" / "socpipe" / "bench-rule-cache"  # a second run starts in seconds
        settings = Settings(data_dir=Path(tmp), detection=DetectionSettings(rule_cache_dir=cache))
        t0 = time.perf_counter()
        engine = build_engine(settings)
        engine_s = time.perf_counter() - t0
        rules = [(r.id, r.title) for r in engine.rules]
        path = args.store or Path(tmp) / "store.sqlite3"
        fresh = not path.exists()
        store = SqliteStore(path)
        store.setup()
        load_s = load(store, rules, args.alerts) if fresh else 0.0
        alerts = sum(b.count for b in store.alert_facets(AlertSearch(origin="all"), ["severity"])["severity"])
        ctx = app_context(store, environment="test")
        ctx.detect_engine = engine
        freeze_startup_heap()  # as `socpipe run` and `socpipe api` do before serving
        noisiest = store.alert_facets(AlertSearch(), ["rule"], size=1)["rule"][0]
        with TestClient(create_app(ctx), base_url="https://testserver") as client:
            login(client, store, role=Role.ANALYST, username="bench")
            calls = count_calls(store)
            client.get("/rules")
            per_listing = dict(calls)
            pages = {
                "/rules": timed(client, "/rules", args.runs),
                "/rules?q=powershell": timed(client, "/rules?q=powershell", args.runs),
                "/rules/<noisiest>": timed(client, f"/rules/{noisiest.value}", args.runs),
                "/rules/<noisiest>?days=90": timed(client, f"/rules/{noisiest.value}?days=90", args.runs),
                "/api/v1/rules/<noisiest>/histogram?days=90": timed(
                    client, f"/api/v1/rules/{noisiest.value}/histogram?days=90", args.runs
                ),
            }
        store.close()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "rules_loaded": len(engine.rules),
        "correlations": len(engine.correlations.by_id()),
        "quarantined": len(engine.quarantined),
        "alerts": alerts,
        "rules_with_alerts": NOISY_RULES,
        "noisiest_rule_alerts": noisiest.count,
        "engine_start_s": round(engine_s, 2),
        "load_s": round(load_s, 1) if load_s else None,  # None: a kept store (--store) was reused
        "store_aggregations_per_listing": per_listing,
        "runs": args.runs,
        "pages": pages,
    }
    RESULTS.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
