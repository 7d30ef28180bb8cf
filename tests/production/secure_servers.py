"""Kafka and Elasticsearch with security on (`SOCPIPE_SECURE=1 deploy/local/servers.sh`), private to
the test session: their own state folder and free ports, stopped and removed at the end.

Kafka listens with SASL_SSL (SCRAM-SHA-512) and, two ports up, with TLS and a required client
certificate, with authorization on (ACLs for socpipe, none for the SCRAM user `outsider`);
Elasticsearch has security on (a file-realm user with a socpipe role) and TLS on HTTP and transport.
`servers.sh env` gives the SOC_* settings that reach them; `settings` holds those of security.
"""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.chaos.servers import PrivateServers, _free_port_pair
from tests.servers import SCRIPT, Servers


def _kafka_ports() -> int:
    """A port p with p (SASL_SSL), p + 1 (controller) and p + 2 (mutual TLS) free."""
    for _ in range(50):
        port = _free_port_pair(2)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no three free ports in a row for Kafka")


class SecureServers(PrivateServers):
    def __init__(self) -> None:
        super().__init__()
        self.kafka_port = _kafka_ports()
        self.env["SOC_KAFKA_PORT"] = str(self.kafka_port)
        self.env["SOCPIPE_SECURE"] = "1"
        self.env.setdefault("SOCPIPE_PYTHON", sys.executable)  # kafka-python grants socpipe's ACLs
        self.values: dict[str, str] = {}

    def start(self, which: str = "all") -> None:
        super().start(which)
        out = subprocess.run(
            ["bash", str(SCRIPT), "env"], env=self.env, capture_output=True, text=True, check=True
        ).stdout
        self.values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        self.servers = Servers(self.values["SOC_KAFKA_BOOTSTRAP"], self.values["SOC_ES_URL"])

    @property
    def settings(self) -> dict[str, str]:
        """The security settings (SOC_*), without the addresses."""
        addresses = ("SOC_KAFKA_BOOTSTRAP", "SOC_ES_URL")
        return {k: v for k, v in self.values.items() if k.startswith("SOC_") and k not in addresses}
