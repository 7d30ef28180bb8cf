"""Private Kafka and Elasticsearch for the chaos tests that stop and restart them.

The shared servers (ports 19092/19200) are used by every other test, and by other people's test
runs on the same machine: a test that stops a server must never stop those. `PrivateServers`
starts its own pair through `deploy/local/servers.sh` with its own state folder and free ports
(smaller heaps), keeps their data across a stop and start (`SOCPIPE_KEEP_DATA=1`), and stops and
removes them at the end.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.servers import SCRIPT, Servers

#: Heaps small enough for a CI machine that also runs the shared pair.
KAFKA_HEAP = "-Xms256m -Xmx512m"
ES_HEAP = "-Xms256m -Xmx512m"


def _free_port_pair(gap: int) -> int:
    """A port p with p and p + gap both free (Kafka's controller port, Elasticsearch's transport)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + gap < 65536:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + gap))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair")


class PrivateServers:
    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="socpipe-chaos-"))
        self.kafka_port = _free_port_pair(1)
        self.es_port = _free_port_pair(100)
        self.env = {
            **os.environ,
            "SOCPIPE_STATE": str(self.state),
            "SOC_KAFKA_PORT": str(self.kafka_port),
            "SOC_ES_PORT": str(self.es_port),
            "SOCPIPE_KAFKA_HEAP": KAFKA_HEAP,
            "SOCPIPE_ES_HEAP": ES_HEAP,
            "SOCPIPE_KEEP_DATA": "1",  # a restart keeps the topics and indices (the state is ours)
        }
        self.servers = Servers(f"127.0.0.1:{self.kafka_port}", f"http://127.0.0.1:{self.es_port}")

    def _run(self, *args: str, timeout_s: float = 600) -> None:
        proc = subprocess.run(
            ["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout_s
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"servers.sh {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )

    def start(self, which: str = "all") -> None:
        self._run("start", which)

    def stop(self, which: str = "all") -> None:
        self._run("stop", which)

    def close(self) -> None:
        try:
            self.stop("all")
        finally:
            shutil.rmtree(self.state, ignore_errors=True)
