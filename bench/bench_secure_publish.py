"""What security costs a Kafka producer (issue 17): the same records published through `KafkaBus` to
the plaintext local broker and to the secured one (SASL_SSL with SCRAM-SHA-512, and mutual TLS),
measured as records per second and as the publishing process's CPU time per record (the client's
side of TLS and SCRAM; less sensitive to a busy machine than the wall time).

    SOCPIPE_SECURE=1 deploy/local/servers.sh start kafka   # the secured broker (29092, 29094)
    deploy/local/servers.sh start kafka                    # the plaintext one (19092)
    .venv/bin/python bench/bench_secure_publish.py [--count 50000] [--size 500] [--runs 3]

Each run publishes `--count` records of `--size` bytes in batches of 500 (the intake's shape: one
`publish` waits for its acknowledgements) to a new topic of one partition. Writes
bench/results/secure_publish.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaAdminClient  # noqa: E402

from buses.kafka import KafkaBus, KafkaSecurity  # noqa: E402

SCRIPT = ROOT / "deploy" / "local" / "servers.sh"
BATCH = 500


def server_env(secure: bool) -> dict[str, str]:
    env = {**os.environ, "SOCPIPE_SECURE": "1" if secure else "0"}
    out = subprocess.run(["bash", str(SCRIPT), "env"], env=env, capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def modes() -> dict[str, tuple[str, KafkaSecurity]]:
    plain = server_env(False)
    secure = server_env(True)
    ca = Path(secure["SOC_KAFKA_SSL_CAFILE"])
    return {
        "plaintext": (plain["SOC_KAFKA_BOOTSTRAP"], KafkaSecurity()),
        "sasl_ssl_scram": (
            secure["SOC_KAFKA_BOOTSTRAP"],
            KafkaSecurity(
                protocol="SASL_SSL",
                username=secure["SOC_KAFKA_SASL_USERNAME"],
                password=secure["SOC_KAFKA_SASL_PASSWORD"],
                cafile=ca,
            ),
        ),
        "mutual_tls": (
            secure["SOCPIPE_KAFKA_MTLS_BOOTSTRAP"],
            KafkaSecurity(
                protocol="SSL",
                cafile=ca,
                certfile=Path(secure["SOCPIPE_TLS_CLIENT_CERT"]),
                keyfile=Path(secure["SOCPIPE_TLS_CLIENT_KEY"]),
            ),
        ),
    }


def run(bootstrap: str, security: KafkaSecurity, count: int, size: int) -> dict[str, float]:
    topic = f"bench-secure-{uuid.uuid4().hex[:8]}"
    bus = KafkaBus(bootstrap, security=security)
    try:
        bus.ensure_topics([topic], 1)
        bus.publish(topic, [(b"warm", b"up")])  # connections and metadata outside the timing
        payload = os.urandom(size // 2).hex().encode()
        batches = [
            [(str(i).encode(), payload) for i in range(n, min(n + BATCH, count))]
            for n in range(0, count, BATCH)
        ]
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for batch in batches:
            bus.publish(topic, batch)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        bus.close()
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, **security.client_options())
        try:
            admin.delete_topics([topic])  # the plaintext broker is shared: leave nothing behind
        finally:
            admin.close()
    return {"records_per_s": count / wall, "cpu_us_per_record": cpu / count * 1e6, "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, Any] = {"count": args.count, "size": args.size, "runs": args.runs, "modes": {}}
    for name, (bootstrap, security) in modes().items():
        runs = [run(bootstrap, security, args.count, args.size) for _ in range(args.runs)]
        summary = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        results["modes"][name] = summary
        rate, cpu = summary["records_per_s"], summary["cpu_us_per_record"]
        print(f"{name:15} {rate:9.0f} records/s  {cpu:6.1f} µs CPU/record")
    results["load_average"] = os.getloadavg()
    out = ROOT / "bench" / "results" / "secure_publish.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
