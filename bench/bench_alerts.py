"""Alert queue latency with a million alerts in Elasticsearch, measured through the HTTP API.

    .venv/bin/python bench/bench_alerts.py [--count 1000000] [--runs 40]

Bulk-loads generated alerts under a unique index prefix (deleted afterwards), starts the real app on
uvicorn on a free loopback port with an analyst API token, and times:

- the queue's first page as the console asks for it: open statuses, newest first, 50 rows, with facets;
- a filtered page: one unit + severity + free text, with facets;
- a deep page: the 200th page of the queue (cursor paging; `search_after` underneath);
- the first page without facets;
- the queue collapsed by alert group (`collapse=group`, as the console shows it, with facets), its
  first page and its 200th page.

One alert in five shares its event with the alert before it (a SigmaHQ rule and its provincial
counterpart), so groups have one or two members; one in fifty comes from an inspection evidence file
(kept out of the live queue every query here reads).

Writes p50/p95 per query to bench/results/alerts.json. Target: p95 < 500 ms.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth.deps import Role  # noqa: E402
from api.auth.service import create_api_token  # noqa: E402
from soc_core.alert import Alert, alert_group, alert_id  # noqa: E402
from socpipe.app import create_app  # noqa: E402
from stores.elastic.alert_document import to_document  # noqa: E402
from stores.elastic.store import ElasticStore, connect  # noqa: E402
from tests.backends import app_context  # noqa: E402
from tests.servers import start_servers  # noqa: E402

RULES = [
    (f"r-{i:03d}", f"Provincial rule {i} {w}")
    for i, w in enumerate(
        [
            "brute force",
            "mimikatz",
            "usb storage",
            "firewall off",
            "kms activator",
            "guest admin",
            "webshell",
            "powershell download",
            "rdp login",
            "defender disabled",
            "secret pc internet",
            "portal admin",
        ]
        * 5
    )
]
UNITS = [f"unit-{i:02d}" for i in range(40)]
SEVERITIES = ["low"] * 5 + ["medium"] * 3 + ["high"] * 2 + ["critical"]
STATUSES = ["new"] * 6 + ["acknowledged", "in_progress", "resolved", "resolved", "false_positive"]
CHECKLIST = ["VN-01", "VN-02", "VN-05", "VN-06", "VN-10", "VN-11", "VN-12"]
TECHNIQUES = ["T1110", "T1003", "T1562", "T1059", "T1078", "T1091", "T1505"]


def gen_alert(
    n: int, rng: random.Random, start: datetime, span_s: int, previous: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Alert `n`; given the previous one, a second rule on the same event (same time, same group)."""
    rule_id, rule_name = rng.choice(RULES)
    unit = rng.choice(UNITS)
    ts = start + timedelta(seconds=rng.randrange(span_s))
    ev = f"bench-ev-{n}"
    if previous is not None:
        ts, ev = datetime.fromisoformat(previous["@timestamp"]), previous["event_ids"][0]
        while rule_id == previous["rule"]["id"]:  # another rule on the same event
            rule_id, rule_name = rng.choice(RULES)
    status = rng.choice(STATUSES)
    doc = {
        "id": alert_id(rule_id, ev),
        "@timestamp": ts.isoformat(),
        "kind": "alert",
        "severity": rng.choice(SEVERITIES),
        "rule": {
            "id": rule_id,
            "name": rule_name,
            "author": "SOC tỉnh",
            "description": f"{rule_name} detected",
            "tags": ["attack.t1110"],
            "reference": [],
        },
        "threat": [{"framework": "MITRE ATT&CK", "technique": {"id": rng.choice(TECHNIQUES), "name": "x"}}],
        "checklist": [rng.choice(CHECKLIST)],
        "soc": {
            "unit": {"id": unit, "name": unit.upper()},
            "system": {"id": f"{unit}-sys{rng.randrange(3)}"},
            "source": {"id": f"{unit}-src"},
        },
        "host_name": f"{unit}-ws{rng.randrange(200):03d}",
        "user_name": f"user{rng.randrange(2000)}",
        "event_ids": [ev],
        "event": {"@timestamp": ts.isoformat(), "message": f"event {n}", "host": {"name": "h"}},
        "count": 1,
        "created_at": ts.isoformat(),
        "triage": {"status": status, "tags": []},
        "group": alert_group(ts, [ev]),
    }
    if n % 50 == 7:
        doc["soc"]["evidence"] = {"visit_id": f"KT-{n}", "file_id": f"TL-{n}", "unit_id": unit}  # type: ignore[index]
    return doc["id"], doc  # type: ignore[return-value]


def load(store: ElasticStore, count: int, *, chunk: int = 5000) -> float:
    rng = random.Random(42)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    span = 60 * 86400
    t0 = time.perf_counter()
    # Create the monthly indices first so bulk loading can run without refreshes.
    for month in (6, 7, 8):
        store.es.indices.create(index=store.alert_index(datetime(2025, month, 1, tzinfo=UTC)))
    store.es.indices.put_settings(index=f"{store.prefix}alerts-*", settings={"refresh_interval": "-1"})
    body: list[bytes] = []
    doc: dict[str, Any] | None = None
    for n in range(count):
        doc_id, doc = gen_alert(n, rng, start, span, doc if n % 5 == 1 else None)
        alert = Alert.model_validate(doc)  # stored as the product stores it: an ECS document
        body.append(orjson.dumps({"create": {"_index": store.alert_index(alert.timestamp), "_id": doc_id}}))
        body.append(orjson.dumps(to_document(alert)))
        if len(body) >= 2 * chunk:
            _bulk(store, body)
            body = []
        if n and n % 100_000 == 0:
            print(f"  loaded {n:,} alerts ({time.perf_counter() - t0:.0f} s)", flush=True)
    if body:
        _bulk(store, body)
    store.es.indices.put_settings(index=f"{store.prefix}alerts-*", settings={"refresh_interval": "1s"})
    store.es.indices.refresh(index=f"{store.prefix}alerts-*")
    store.es.options(request_timeout=1800).indices.forcemerge(
        index=f"{store.prefix}alerts-*", max_num_segments=1
    )
    return time.perf_counter() - t0


def _bulk(store: ElasticStore, lines: list[bytes]) -> None:
    payload = b"\n".join(lines) + b"\n"
    resp = store.es.options(request_timeout=300).bulk(operations=payload, refresh=False)  # type: ignore[arg-type]
    if resp.get("errors"):
        bad = next(i for i in resp["items"] if i["create"].get("status", 201) >= 300)
        raise RuntimeError(f"bulk load failed: {bad}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(client: httpx.Client, path: str, params: Any, runs: int) -> dict[str, Any]:
    for _ in range(3):
        client.get(path, params=params).raise_for_status()
    samples = []
    total = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = client.get(path, params=params)
        samples.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
        total = resp.json()["total"]
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(0.95 * len(samples)) - 1)], 1),
        "max_ms": round(samples[-1], 1),
        "runs": runs,
        "total_hits": total,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "alerts.json")
    args = parser.parse_args()

    servers = start_servers()
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    store = ElasticStore(connect(servers.es_url, request_timeout=120), prefix=prefix)
    store.setup()
    server: uvicorn.Server | None = None
    try:
        print(f"loading {args.count:,} alerts into {prefix}alerts-* ...", flush=True)
        load_s = load(store, args.count)
        print(f"loaded in {load_s:.0f} s", flush=True)
        token, _ = create_api_token(store=store, name="bench", role=Role.ANALYST, actor="bench")
        port = free_port()
        config = uvicorn.Config(
            create_app(app_context(store, mode="distributed")),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        open_statuses = [("status", s) for s in ("new", "acknowledged", "in_progress")]
        results: dict[str, Any] = {}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {token}"}, timeout=60
        ) as client:
            path = "/api/v1/alerts"
            results["first_page_with_facets"] = measure(
                client, path, [*open_statuses, ("size", "50"), ("facets", "true")], args.runs
            )
            results["first_page_no_facets"] = measure(
                client, path, [*open_statuses, ("size", "50")], args.runs
            )
            results["filtered_page_with_facets"] = measure(
                client,
                path,
                [
                    *open_statuses,
                    ("unit", "unit-07"),
                    ("severity", "high"),
                    ("severity", "critical"),
                    ("q", "mimikatz"),
                    ("size", "50"),
                    ("facets", "true"),
                ],
                args.runs,
            )
            cursor = None
            for _ in range(199):
                page = client.get(
                    path, params=[*open_statuses, ("size", "50"), *([("cursor", cursor)] if cursor else [])]
                ).json()
                cursor = page["next_cursor"]
            results["page_200_by_cursor"] = measure(
                client, path, [*open_statuses, ("size", "50"), ("cursor", cursor)], args.runs
            )
            results["severity_sorted_first_page"] = measure(
                client, path, [*open_statuses, ("size", "50"), ("sort", "severity")], args.runs
            )
            grouped = [*open_statuses, ("size", "50"), ("collapse", "group")]
            results["grouped_first_page_with_facets"] = measure(
                client, path, [*grouped, ("facets", "true")], args.runs
            )
            results["grouped_first_page_no_facets"] = measure(client, path, grouped, args.runs)
            cursor = None
            for _ in range(199):
                page = client.get(path, params=[*grouped, *([("cursor", cursor)] if cursor else [])]).json()
                cursor = page["next_cursor"]
            results["grouped_page_200_by_cursor"] = measure(
                client, path, [*grouped, ("cursor", cursor)], args.runs
            )
        out = {
            "benchmark": "alert queue through the HTTP API (uvicorn, bearer token), Elasticsearch store",
            "alerts": args.count,
            "load_seconds": round(load_s, 1),
            "machine": "2 cores shared, single-node Elasticsearch 8.19 on loopback",
            "target": "p95 < 500 ms",
            "command": f"python bench/bench_alerts.py --count {args.count} --runs {args.runs}",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "results": results,
        }
        target: Path = args.out
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n", encoding="utf-8")
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    finally:
        if server is not None:
            server.should_exit = True
        time.sleep(0.5)  # let the server thread stop before its indices go
        names = list(store.es.indices.get(index=f"{prefix}*", allow_no_indices=True, ignore_unavailable=True))
        for name in names:
            store.es.indices.delete(index=name, ignore_unavailable=True)
        for template in ("events", "alerts", "deadletters", "audit"):
            store.es.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}{template}")
        print(f"deleted {len(names)} indices under {prefix}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
