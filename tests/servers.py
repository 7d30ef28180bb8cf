"""Start the real Kafka and Elasticsearch through deploy/local/servers.sh, once per test session.

When they cannot start: with `CI` set the tests that need them fail (never skip); on a developer
machine they are skipped with the reason, so pure-logic tests still run anywhere.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "local" / "servers.sh"


#: The refresh interval of every index the tests create (`SOC_ES_REFRESH_INTERVAL`; the product's
#: default is Elasticsearch's 1 s). Writes read back at once (`refresh="wait_for"`: users, incidents,
#: registry, alert triage...) wait for the next refresh: at 1 s a scenario of a dozen such writes waits
#: ~10 s. What the tests prove does not change: a write is still searchable only after a refresh.
ES_REFRESH_INTERVAL = "100ms"


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    es_url: str


def start_servers() -> Servers:
    """Start (idempotently) and return the addresses; raise RuntimeError with the script's output."""
    proc = subprocess.run(["bash", str(SCRIPT), "start", "all"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"servers.sh start all failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    env = subprocess.run(["bash", str(SCRIPT), "env"], capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in env.split() if "=" in line)
    return Servers(values["SOC_KAFKA_BOOTSTRAP"], values["SOC_ES_URL"])


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")
