"""A real cluster for the cluster-fault test (`SOCPIPE_CLUSTER=1 deploy/local/servers.sh`): three
KRaft Kafka nodes and a two-node Elasticsearch, private to the test session (their own state folder
and free ports), which the test may SIGKILL node by node and start again; stopped and removed at the
end. `servers.sh env` gives the addresses and the production profile of settings (replication 3,
min.insync 2, one index replica).
"""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.chaos.servers import PrivateServers
from tests.servers import SCRIPT, Servers

KAFKA_NODES = 3
ES_NODES = 2


def free_ports(*offsets: int) -> int:
    """A port p with p + o free for every offset o (several nodes' listeners from one base)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + max(offsets) >= 65536:
            continue
        try:
            for offset in offsets:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no free ports at offsets {offsets}")


class ClusterServers(PrivateServers):
    def __init__(self) -> None:
        super().__init__()
        # Kafka node i: broker port + 2(i-1), its controller one above; Elasticsearch node i: HTTP
        # port + i-1, transport 100 above.
        self.kafka_port = free_ports(*range(2 * KAFKA_NODES))
        self.es_port = free_ports(*range(ES_NODES), *range(100, 100 + ES_NODES))
        self.env.update(
            SOCPIPE_CLUSTER="1", SOC_KAFKA_PORT=str(self.kafka_port), SOC_ES_PORT=str(self.es_port)
        )
        for heap in ("SOCPIPE_KAFKA_HEAP", "SOCPIPE_ES_HEAP"):  # the cluster mode's smaller defaults
            self.env.pop(heap, None)
        self.env.setdefault("SOCPIPE_PYTHON", sys.executable)  # the health check counts the brokers
        self.values: dict[str, str] = {}

    def start(self, which: str = "all") -> None:
        self._run("start", *which.split())
        out = subprocess.run(
            ["bash", str(SCRIPT), "env"], env=self.env, capture_output=True, text=True, check=True
        ).stdout
        self.values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.servers = Servers(self.values["SOC_KAFKA_BOOTSTRAP"], self.values["SOC_ES_URL"])

    def kill(self, *nodes: str) -> None:
        """SIGKILL of nodes (`kafka-1`, `elasticsearch-2`): no shutdown, no flush."""
        self._run("kill", *nodes)

    @property
    def settings(self) -> dict[str, str]:
        """The cluster's durability settings (SOC_*), without the addresses."""
        addresses = ("SOC_KAFKA_BOOTSTRAP", "SOC_ES_URL")
        return {k: v for k, v in self.values.items() if k.startswith("SOC_") and k not in addresses}
