"""`/health` and `/metrics` for worker processes, which have no web framework of their own.

The API process serves the same two routes through FastAPI (`api.ops`).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soc_core.health import HealthCheck, health_status


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
