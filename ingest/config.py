"""Ingest settings: the syslog listeners, per-source rate limits and batching.

They are read from `soc_core.settings.Settings` when it has the fields (names below, env
`SOC_<NAME>`), else the defaults apply, so this package works before and after the fields are
wired into `Settings`. Tests and the CLI build `IngestConfig` directly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from soc_core.settings import Settings


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """Everything the receivers need beyond `Settings` proper; None ports mean "not listening"."""

    syslog_host: str = "127.0.0.1"
    syslog_udp_port: int | None = None
    syslog_tcp_port: int | None = None
    syslog_tls_port: int | None = None
    syslog_tls_cert: Path | None = None
    syslog_tls_key: Path | None = None
    syslog_tls_client_ca: Path | None = None
    syslog_tls_require_client_cert: bool = False
    # batches handed to `submit`: whichever comes first (the records of one read stay together)
    syslog_batch_records: int = 500
    syslog_batch_ms: int = 50
    # UDP has no back-pressure: beyond this many records waiting for `submit`, datagrams are dropped
    syslog_udp_backlog: int = 20_000
    # per-source token bucket (events/s, burst); 0 = unlimited
    ingest_rate_eps: float = 0.0
    ingest_rate_burst: int = 0
    max_record_bytes: int = 1024 * 1024
    registry_refresh_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> IngestConfig:
        """Take every field `Settings` defines (same name), then explicit overrides (not None)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if hasattr(settings, f.name):
                values[f.name] = getattr(settings, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def tls_enabled(self) -> bool:
        return self.syslog_tls_port is not None
