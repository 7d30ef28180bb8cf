"""Settings: one frozen object built in `main()` from the environment (prefix `SOC_`) and passed down.

Nothing reads the environment at import time, so tests set variables first and build their own.
Every setting has a default that works on a laptop (embedded mode, data in `./.socpipe`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from soc_core.errors import ConfigError

DEV_SECRET = "dev-only-secret-change-me"


class Mode(StrEnum):
    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOC_", extra="forbid", frozen=True)

    mode: Mode = Mode.EMBEDDED
    environment: str = Field(default="dev", description="dev, test or prod; prod refuses dev secrets")
    data_dir: Path = Path(".socpipe")
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    # HTTP (intake, API, console)
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_record_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # Syslog receiver (ingest/); a port left unset means "not listening"
    syslog_host: str = "127.0.0.1"
    syslog_udp_port: int | None = None
    syslog_tcp_port: int | None = None
    syslog_tls_port: int | None = None
    syslog_tls_cert: Path | None = None
    syslog_tls_key: Path | None = None
    syslog_tls_client_ca: Path | None = None
    syslog_tls_require_client_cert: bool = False
    syslog_batch_records: int = Field(default=500, ge=1)
    syslog_batch_ms: int = Field(default=50, ge=1)
    syslog_udp_backlog: int = 20_000

    # Per-source rate limit at intake (HTTP 429, TCP pause, UDP drop); 0 = unlimited
    ingest_rate_eps: float = Field(default=0.0, ge=0)
    ingest_rate_burst: int = Field(default=0, ge=0)

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_prefix: str = ""
    topic_partitions: int = 3
    publish_timeout_s: float = 10.0
    consumer_batch: int = 500

    # Elasticsearch
    es_url: str = "http://127.0.0.1:19200"
    index_prefix: str = "soc-"

    # Detection
    rule_dirs: list[Path] = Field(default_factory=list)
    rule_cache_dir: Path | None = None

    # Worker operations port (/health and /metrics); 0 picks a free port
    ops_port: int = 0

    @model_validator(mode="after")
    def _no_dev_secret_in_prod(self) -> Settings:
        if self.environment == "prod" and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ConfigError("SOC_SECRET_KEY must be set in production")
        return self

    # Topic names, with the test-isolation prefix.
    @property
    def topic_raw(self) -> str:
        return f"{self.topic_prefix}soc.raw"

    @property
    def topic_raw_pattern(self) -> str:
        """Agents that produce to Kafka themselves write to `soc.raw.<source-id>`."""
        return rf"^{self.topic_prefix.replace('.', chr(92) + '.')}soc\.raw(\..+)?$"

    @property
    def topic_events(self) -> str:
        return f"{self.topic_prefix}soc.events"

    @property
    def topic_alerts(self) -> str:
        return f"{self.topic_prefix}soc.alerts"

    @property
    def topic_deadletter(self) -> str:
        return f"{self.topic_prefix}soc.deadletter"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "socpipe.sqlite3"
