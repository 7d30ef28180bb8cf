"""Run socpipe processes (api, workers) as real subprocesses for end-to-end tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.servers import ES_REFRESH_INTERVAL, Servers

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(servers: Servers, prefix: str, **settings: str) -> dict[str, str]:
    """The environment of one test's distributed processes: its servers, its own topics and indices
    (`prefix`, refreshed as often as the tests' stores), a free HTTP port, plus `settings` (SOC_*
    names)."""
    return {
        "SOC_MODE": "distributed",
        "SOC_KAFKA_BOOTSTRAP": servers.kafka_bootstrap,
        "SOC_ES_URL": servers.es_url,
        "SOC_TOPIC_PREFIX": prefix,
        "SOC_INDEX_PREFIX": prefix,
        "SOC_ES_REFRESH_INTERVAL": ES_REFRESH_INTERVAL,
        "SOC_HTTP_PORT": str(free_port()),
        **settings,
    }


@dataclass
class SocProcess:
    """One `socpipe ...` process with its log file, health URL and stop/kill helpers."""

    args: list[str]
    env: dict[str, str]
    name: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))
    health_url: str | None = None
    ops_url: str | None = None

    def start(self, timeout_s: float = 60) -> SocProcess:
        self.spawn()
        self.wait_healthy(timeout_s)
        return self

    def spawn(self) -> SocProcess:
        """Start the process without waiting for it to be healthy (start several, then wait)."""
        env = {**os.environ, **self.env}
        env["SOC_OPS_PORT"] = str(free_port())  # every process's ops listener: /metrics, detailed /health
        self.ops_url = f"http://127.0.0.1:{env['SOC_OPS_PORT']}"
        self.health_url = f"{self.ops_url}/health"
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "socpipe.cli", *self.args],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        assert self.health_url
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.health_url, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not healthy after {timeout_s}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no chance to finish or commit anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout_s: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def batches_logged(self) -> int:
        found = re.findall(r"stopped after (\d+) batches", self.log())
        return int(found[-1]) if found else 0
