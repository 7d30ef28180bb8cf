"""The health document every process serves at `/health`: one shape for the API and the workers."""

from __future__ import annotations

from collections.abc import Callable

import orjson

HealthCheck = Callable[[], dict[str, str]]
"""Reports each dependency's state as `{"name": "ok ..." | "<problem>"}`."""


def health_status(checks: dict[str, str]) -> tuple[int, bytes]:
    """200 when every dependency says ok, else 503; the body lists each dependency's state."""
    ok = all(v.startswith("ok") for v in checks.values())
    body = orjson.dumps({"status": "ok" if ok else "degraded", "checks": checks})
    return (200 if ok else 503), body
