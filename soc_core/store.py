"""The `Store` port: events, alerts, dead letters and the registry, with idempotent writes.

Writes are keyed by the deterministic ids (`op_type=create` in Elasticsearch, `INSERT ... ON
CONFLICT DO NOTHING` in SQLite), so a replay reports duplicates instead of writing twice.
Adapters: `soc_core.store_es.ElasticStore` (distributed) and `soc_core.store_sqlite.SqliteStore`
(embedded). `tests/contract/test_store_contract.py` runs the same suite against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from soc_core.alert import Alert
from soc_core.event import Event
from soc_core.records import DeadLetter
from soc_core.registry import Registry

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
    size: int = 50
    cursor: str | None = None


@dataclass(slots=True)
class AlertQuery:
    start: datetime | None = None
    end: datetime | None = None
    severity: str | None = None
    status: str | None = None
    rule_id: str | None = None
    unit_id: str | None = None
    host_name: str | None = None
    size: int = 50
    cursor: str | None = None


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
class SourceActivity:
    """What the store has seen of one source: the coverage view is built on it."""

    source_id: str
    events: int
    last_ingested: datetime | None


class Store(Protocol):
    def setup(self) -> None:
        """Create tables / index templates (idempotent)."""

    def health(self) -> dict[str, str]: ...

    def close(self) -> None: ...

    def refresh(self) -> None:
        """Make recent writes visible to searches (a no-op where writes are immediately visible)."""

    def put_events(self, events: Sequence[Event]) -> WriteResult: ...

    def put_alerts(self, alerts: Sequence[Alert]) -> WriteResult: ...

    def put_deadletters(self, letters: Sequence[DeadLetter]) -> WriteResult: ...

    def get_event(self, event_id: str) -> Event | None: ...

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def search_events(self, query: EventQuery) -> Page[Event]: ...

    def search_alerts(self, query: AlertQuery) -> Page[Alert]: ...

    def list_deadletters(self, query: DeadLetterQuery) -> Page[DeadLetter]: ...

    def save_registry(self, registry: Registry) -> None:
        """Upsert every entry of `registry` (entries not mentioned are left as they are)."""

    def load_registry(self) -> Registry: ...

    def source_activity(self) -> dict[str, SourceActivity]: ...
