"""The ops listener of every process: `/metrics` (Prometheus) and the detailed `/health` (each
dependency's state), on `SOC_OPS_HOST:SOC_OPS_PORT`, loopback by default.

The API process runs one beside its HTTP port, whose own `/health` says only up or down and whose
`/metrics` needs the scrape token (`api.ops`): the series name every unit, system and source, and
which are silent, so they stay off the port every shipper reaches. A plain `http.server` in a
thread: workers have no web framework of their own, and a scrape is one small GET.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soc_core.health import HealthCheck, health_status
from soc_core.settings import Settings


def serve_ops(host: str, port: int, health: HealthCheck) -> ThreadingHTTPServer:
    """Start the ops server in a daemon thread; returns it (its port is `server.server_address[1]`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/metrics"):
                status, body, ctype = 200, generate_latest(), CONTENT_TYPE_LATEST
            elif self.path.startswith("/health"):
                status, body = health_status(health())
                ctype = "application/json"
            else:
                status, body, ctype = 404, b"not found", "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server


def start_ops(settings: Settings, health: HealthCheck, name: str) -> ThreadingHTTPServer:
    """`serve_ops` on the settings' ops address; says on stderr where (the port may be a free one)."""
    server = serve_ops(settings.ops_host, settings.ops_port, health)
    print(f"{name} ops on http://{settings.ops_host}:{server.server_address[1]}", file=sys.stderr, flush=True)
    return server
