"""The `Store` port: events, alerts, dead letters and the registry, with idempotent writes.

Writes are keyed by the deterministic ids (`op_type=create` in Elasticsearch, `INSERT ... ON
CONFLICT DO NOTHING` in SQLite), so a replay reports duplicates instead of writing twice.
Adapters: `stores.elastic.store.ElasticStore` (distributed) and `stores.sqlite.store.SqliteStore`
(embedded). `tests/contract/test_store_contract.py` runs the same suite against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from soc_core.alert import Alert, AlertRepeat, Incident, Triage
from soc_core.coverage import CoverageRepository
from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.exceptions import ExceptionRepository
from soc_core.inspections import InspectionRepository
from soc_core.kql import Node
from soc_core.notify_config import NotifyConfigStore, NotifyStateStore
from soc_core.records import DeadLetter
from soc_core.registry import Registry
from soc_core.rule_state import RuleStateStore
from soc_core.saved_views import SavedViewStore

if TYPE_CHECKING:  # soc_core.retention builds audit entries of this module
    from soc_core.retention import Retention

T = TypeVar("T")


@dataclass(slots=True)
class WriteResult:
    """Outcome of a batch write: new documents, replays already stored, and permanent failures."""

    created: int = 0
    duplicates: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason): will never succeed

    def __iadd__(self, other: WriteResult) -> WriteResult:
        self.created += other.created
        self.duplicates += other.duplicates
        self.failed.extend(other.failed)
        return self


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    cursor: str | None = None  # opaque; pass back to get the next page (search_after)


@dataclass(slots=True)
class EventQuery:
    start: datetime | None = None
    end: datetime | None = None
    source_id: str | None = None
    unit_id: str | None = None
    system_id: str | None = None
    host_name: str | None = None
    text: str | None = None
    kql: Node | None = None
    """A parsed and checked query (`soc_core.kql.parse_for(text, EVENT_FIELDS)`)."""
    size: int = 50
    cursor: str | None = None
    count_total: bool = True
    """False: the matches are not counted (a sample, the next chunk of an export), which over a
    million events is most of the read; the page's `total` is then only its number of items."""


@dataclass(slots=True)
class AlertQuery:
    start: datetime | None = None
    end: datetime | None = None
    severity: str | None = None
    status: str | None = None
    rule_id: str | None = None
    unit_id: str | None = None
    host_name: str | None = None
    origin: str = "live"  # live | evidence | all
    size: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class OpenAlertQuery:
    """Live alerts created in [start, end), newest first: those of one rule and one host key
    (`soc_core.alert.repeat_key`) when given. Suppression seeds its open groups from them."""

    start: datetime
    end: datetime
    rule_id: str | None = None
    host_key: str | None = None
    limit: int = 10


@dataclass(slots=True)
class DeadLetterQuery:
    source_id: str | None = None
    format_tried: str | None = None
    stage: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    size: int = 50
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class HistogramBucket:
    """Matches in [start, start + interval): one bar of the explorer's and the rules page's charts."""

    start: datetime
    count: int


MAX_HISTOGRAM_BUCKETS = 2_000
"""More bars than a chart can show: a request for more is refused (`StoreError`) before it runs."""


def check_histogram(interval_s: int, start: datetime | None, end: datetime | None) -> None:
    """Refuse a histogram no chart could draw before a store computes it."""
    if interval_s < 1:
        raise StoreError("histogram interval must be at least one second", interval_s=interval_s)
    if (
        start is not None
        and end is not None
        and (end - start).total_seconds() / interval_s > MAX_HISTOGRAM_BUCKETS
    ):
        raise StoreError(
            "histogram would have too many buckets",
            interval_s=interval_s,
            max_buckets=MAX_HISTOGRAM_BUCKETS,
        )


@dataclass(frozen=True, slots=True)
class SourceActivity:
    """What the store has seen of one source: the coverage view is built on it."""

    source_id: str
    events: int
    last_ingested: datetime | None


# -- triage, incidents, identity and audit (issue 6) ----------------------------------------------

FACETS = (
    "severity",
    "status",
    "rule",
    "unit",
    "system",
    "host",
    "user",
    "checklist",
    "technique",
    "assignee",
)
"""The facets an alert search can count, by the names the API and the console use."""


@dataclass(slots=True)
class AlertSearch:
    """The triage queue's search: every filter is optional; lists mean "any of"."""

    start: datetime | None = None
    end: datetime | None = None
    severity: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    rule_id: str | None = None
    unit_id: str | None = None
    system_id: str | None = None
    host_name: str | None = None
    user_name: str | None = None
    checklist: str | None = None
    technique: str | None = None
    assignee: str | None = None
    incident_id: str | None = None
    ids: list[str] | None = None
    text: str | None = None
    kql: Node | None = None
    """A parsed and checked query (`soc_core.kql.parse_for(q, ALERT_FIELDS)`), ANDed with the rest."""
    origin: str = "live"  # live | evidence | all: evidence-file alerts stay out unless asked for
    visit_id: str | None = None  # alerts from the evidence files of one inspection visit
    group: str | None = None  # the members of one alert group
    ascending: bool = False  # oldest first; the default is newest first
    size: int = 50
    cursor: str | None = None


@dataclass(slots=True)
class AlertGroup:
    """One row of the collapsed queue: the alerts of one group that match the search, most severe
    first (then by rule name); `size` counts them even when `members` is cut at `MAX_GROUP_MEMBERS`
    (Elasticsearch: at least that many, for a group larger than one read of the page)."""

    key: str
    members: list[Alert]
    size: int

    @property
    def lead(self) -> Alert:
        return self.members[0]


MAX_GROUP_MEMBERS = 50
"""Members listed per group row (one event rarely matches more rules; the group's page lists all)."""


def order_members(alerts: Sequence[Alert]) -> list[Alert]:
    """A group's members as every view lists them: most severe first, then by rule name and id."""
    return sorted(alerts, key=lambda a: (-a.severity.rank, a.rule.name, a.id))


@dataclass(slots=True)
class GroupRun:
    """One group cut from alerts read in group order, with the time its cursor pages from."""

    group: AlertGroup
    sort: Any


def group_runs(ordered: Sequence[tuple[Alert, Any]]) -> list[GroupRun]:
    """Alerts read in (time, group) order with their time's sort value, cut into one run per group
    (members most severe first, at most `MAX_GROUP_MEMBERS` listed, all counted)."""
    runs: list[GroupRun] = []
    members: list[Alert] = []
    for n, (alert, sort) in enumerate(ordered):
        members.append(alert)
        last = n + 1 == len(ordered) or ordered[n + 1][0].group != alert.group
        if last:
            listed = order_members(members)
            runs.append(
                GroupRun(AlertGroup(alert.group or alert.id, listed[:MAX_GROUP_MEMBERS], len(listed)), sort)
            )
            members = []
    return runs


@dataclass(frozen=True, slots=True)
class FacetBucket:
    value: str
    count: int
    label: str | None = None  # for rules: the rule's name


@dataclass(slots=True)
class IncidentQuery:
    status: list[str] = field(default_factory=list)
    severity: list[str] = field(default_factory=list)
    owner: str | None = None
    unit_id: str | None = None
    text: str | None = None
    size: int = 50
    cursor: str | None = None


class UserRecord(BaseModel):
    """A console user. `role` is one of api.auth's roles; only the argon2 hash of the password is kept."""

    model_config = ConfigDict(extra="forbid")
    id: str
    username: str
    role: str
    password_hash: str
    display_name: str | None = None
    active: bool = True
    created_at: datetime
    password_changed_at: datetime | None = None


class SessionRecord(BaseModel):
    """A console session, stored under the SHA-256 of its cookie value (the value itself is never kept)."""

    model_config = ConfigDict(extra="forbid")
    token_sha256: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    ip: str | None = None


class ApiTokenRecord(BaseModel):
    """An API bearer token for automation, stored as the SHA-256 of the token."""

    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    role: str
    token_sha256: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked: bool = False


class AuditEntry(BaseModel):
    """Who did what, when, from where: logins (including failures) and every change."""

    model_config = ConfigDict(extra="forbid")
    id: str
    at: datetime
    actor: str  # a username, "token:<name>", or "anonymous" for failed logins
    action: str  # e.g. "login.success", "login.failure", "logout", "alert.update", "incident.create"
    target_type: str | None = None
    target_id: str | None = None
    ip: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass(slots=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    size: int = 50
    cursor: str | None = None


class EventStore(Protocol):
    """Events and dead letters: what the pipeline writes and the explorer reads."""

    def refresh(self) -> None:
        """Make recent writes visible to searches (a no-op where writes are immediately visible)."""

    def put_events(self, events: Iterable[Event]) -> WriteResult:
        """Write `events` (taken once, in order: a store may start writing before the last is made)."""

    def put_deadletters(self, letters: Sequence[DeadLetter]) -> WriteResult: ...

    def get_event(self, event_id: str) -> Event | None: ...

    def search_events(self, query: EventQuery) -> Page[Event]: ...

    def event_histogram(self, query: EventQuery, interval_s: int, offset_s: int = 0) -> list[HistogramBucket]:
        """How many events `query` matches (its size and cursor ignored) per bucket of `interval_s`
        seconds starting at `k * interval_s + offset_s` (Unix time; a day in Asia/Ho_Chi_Minh is
        `86400, -25200`), ascending, empty buckets left out."""

    def list_deadletters(self, query: DeadLetterQuery) -> Page[DeadLetter]: ...

    def source_activity(self) -> dict[str, SourceActivity]:
        """Per log source: first and last event ingested, and how many (what coverage measures)."""


class RegistryStore(Protocol):
    """The province's units, systems, log sources, endpoints and targets."""

    def save_registry(self, registry: Registry) -> None:
        """Upsert every entry of `registry` (entries not mentioned are left as they are)."""

    def load_registry(self) -> Registry: ...

    def delete_registry_entry(self, kind: str, entry_id: str) -> bool:
        """Remove one registry entry (`kind` is units, systems, sources, endpoints or targets)."""


class AlertStore(Protocol):
    """Alerts: idempotent writes, suppressed repeats, the triage queue with optimistic updates."""

    def put_alerts(self, alerts: Sequence[Alert]) -> WriteResult: ...

    def record_repeats(self, repeats: Sequence[AlertRepeat]) -> int:
        """Fold suppressed repeats into their alerts (count, last_seen, event ids); returns how many
        alerts changed. A repeat of an alert not (yet) stored raises StoreError, so the batch is retried."""

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def search_alerts(self, query: AlertQuery) -> Page[Alert]: ...

    def search_alert_queue(self, query: AlertSearch) -> Page[Alert]:
        """Alerts by time (newest first unless `ascending`), with every triage filter; keyset paging."""

    def alert_facets(
        self, query: AlertSearch, facets: Sequence[str], size: int = 10
    ) -> dict[str, list[FacetBucket]]:
        """Counts per value of each facet (see `FACETS`) among the alerts `query` matches."""

    def alert_histogram(
        self, query: AlertSearch, interval_s: int, offset_s: int = 0
    ) -> list[HistogramBucket]:
        """`event_histogram` for alerts: per bucket, how many alerts `query` matches."""

    def search_alert_groups(self, query: AlertSearch) -> Page[AlertGroup]:
        """The queue collapsed by alert group: groups with a member matching every filter, by group key
        (time order, newest first unless `ascending`), keyset paging on the key; `total` counts groups
        (Elasticsearch: approximate beyond 40,000, a cardinality aggregation)."""

    def open_alert_candidates(self, query: OpenAlertQuery) -> list[Alert]:
        """The live alerts `query` selects, newest first (suppression seeds its open groups from them)."""

    def open_alert_candidates_many(self, queries: Sequence[OpenAlertQuery]) -> list[list[Alert]]:
        """`open_alert_candidates` of each query, in order, in as few round trips as the store
        allows (Elasticsearch: one multi-search): a detect worker asks for every new (rule, host)
        of a batch at once, after a restart thousands."""

    def get_alert_versioned(self, alert_id: str) -> tuple[Alert, str] | None:
        """The alert and an opaque version for `update_alert_triage`'s optimistic concurrency."""

    def update_alert_triage(self, alert_id: str, triage: Triage, *, version: str) -> bool:
        """Replace the triage state if the alert is still at `version`; False when someone else won."""


class IncidentStore(Protocol):
    """Incidents, with the same optimistic concurrency as triage."""

    def create_incident(self, incident: Incident) -> None:
        """Store a new incident (StoreError if the id exists)."""

    def get_incident_versioned(self, incident_id: str) -> tuple[Incident, str] | None: ...

    def update_incident(self, incident: Incident, *, version: str) -> bool:
        """Replace the incident if it is still at `version`; False when someone else won."""

    def search_incidents(self, query: IncidentQuery) -> Page[Incident]:
        """Newest first (by `detected_at`), keyset paging."""


class AccountStore(Protocol):
    """Console users, their sessions, and API tokens (hashes only)."""

    def put_user(self, user: UserRecord) -> None:
        """Insert or replace a user; usernames are unique (StoreError if another user has it)."""

    def get_user(self, user_id: str) -> UserRecord | None: ...

    def get_user_by_name(self, username: str) -> UserRecord | None: ...

    def list_users(self) -> list[UserRecord]: ...

    def put_session(self, session: SessionRecord) -> None: ...

    def get_session(self, token_sha256: str) -> SessionRecord | None: ...

    def delete_session(self, token_sha256: str) -> None: ...

    def delete_user_sessions(self, user_id: str) -> None: ...

    def put_api_token(self, token: ApiTokenRecord) -> None: ...

    def get_api_token(self, token_sha256: str) -> ApiTokenRecord | None: ...

    def list_api_tokens(self) -> list[ApiTokenRecord]: ...


class LoginAttemptStore(Protocol):
    """Failed logins, counted where every API replica sees them (the console's login throttling).

    A key is an opaque string the caller derives (a hash of username and address, or of the address);
    each failure is one row/document, so replicas counting at once never lose an increment."""

    def record_login_failure(self, keys: Sequence[str], at: datetime, *, forget_before: datetime) -> None:
        """Count one failure under each key, and drop every failure older than `forget_before`."""

    def login_failures(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        """How many failures `key` has at or after `since`, and the oldest of them (None when none)."""

    def clear_login_failures(self, key: str) -> None:
        """Forget the key's failures (a successful login clears its username's count)."""


class AuditStore(Protocol):
    """The append-only audit log of every change people make."""

    def append_audit(self, entries: Sequence[AuditEntry]) -> None: ...

    def search_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        """Newest first, keyset paging."""


class Store(
    EventStore,
    AlertStore,
    IncidentStore,
    RegistryStore,
    AccountStore,
    LoginAttemptStore,
    AuditStore,
    Protocol,
):
    """The core store: every domain port above over one database, with its lifecycle.

    The adapters (`stores.sqlite.store`, `stores.elastic.store`) implement it whole; code that needs
    one domain should ask for that domain's port, so a test or a new backend can give just that.
    """

    def setup(self) -> None:
        """Create tables / index templates (idempotent)."""

    def health(self) -> dict[str, str]: ...

    def close(self) -> None: ...


class StoreBackend(Protocol):
    """Every port of one persistence backend, opened on first use (one folder of `stores/` each).

    The composition root picks one backend from the settings (`socpipe.runtime.build_backend`) and
    hands its adapters to whoever needs them. Opening is lazy because a process uses only some of
    them: a detect worker reads the rule state and must start while the event store is down.
    """

    @property
    def store(self) -> Store:
        """Events, alerts, incidents, registry, accounts and audit (set up on first use)."""

    @property
    def coverage(self) -> CoverageRepository:
        """Coverage snapshots and gaps."""

    @property
    def inspections(self) -> InspectionRepository:
        """Inspection plans, visits, findings, evidence files and reminders."""

    @property
    def exceptions(self) -> ExceptionRepository:
        """Analysts' exceptions, stored as Sigma filters, with their suppressed counts."""

    @property
    def saved_views(self) -> SavedViewStore:
        """Analysts' saved views of the alert queue and the event explorer."""

    @property
    def rule_state(self) -> RuleStateStore:
        """Which rules are disabled (no I/O until first read)."""

    @property
    def notify_config(self) -> NotifyConfigStore:
        """The notifier's routing rules and guidance, versioned."""

    @property
    def notify_state(self) -> NotifyStateStore:
        """The notifier's flood-control memory (survives a restart)."""

    def retention(self, days: Mapping[str, int]) -> Retention:
        """Deletes what is older than `days` per kind (events, alerts, deadletters, audit)."""
