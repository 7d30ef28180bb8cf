"""A console app on real uvicorn in a thread, for browser tests (Chromium checked first)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from api.context import AppContext
from socpipe.app import create_app
from tests.servers import in_ci

CHROMIUM = os.environ.get("SOC_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail(f"Chromium missing at {CHROMIUM}: install Debian's `chromium` (make system-deps)")
        pytest.skip(f"Chromium missing at {CHROMIUM}")


@contextmanager
def serving(ctx: AppContext) -> Iterator[str]:
    """The app's base URL while the block runs; the server stops after it."""
    port = free_port()
    config = uvicorn.Config(
        create_app(ctx), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
