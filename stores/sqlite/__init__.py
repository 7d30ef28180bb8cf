"""The embedded backend: every port over one SQLite file, and the rule state in a JSON file beside it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from stores.sqlite.coverage import SqliteCoverageRepository
from stores.sqlite.exceptions import SqliteExceptionRepository
from stores.sqlite.inspections import SqliteInspectionRepository
from stores.sqlite.notify_config import SqliteNotifyConfigStore, SqliteNotifyStateStore
from stores.sqlite.retention import SqliteRetention
from stores.sqlite.rule_state import JsonRuleStateStore
from stores.sqlite.saved_views import SqliteSavedViewStore
from stores.sqlite.store import SqliteStore


class SqliteBackend:
    """Opens each adapter on first use, over the same database file."""

    def __init__(
        self, path: Path, *, rule_state_path: Path | None = None, query_timeout_s: float | None = None
    ) -> None:
        self.path = path
        self.query_timeout_s = query_timeout_s
        self.rule_state_path = rule_state_path or path.with_name("rule-state.json")

    @classmethod
    def over(cls, store: SqliteStore) -> SqliteBackend:
        """The backend around a core store that is already open (tests, tools)."""
        backend = cls(store.path)
        backend.__dict__["store"] = store  # what cached_property would have stored
        return backend

    @cached_property
    def store(self) -> SqliteStore:
        store = SqliteStore(self.path, query_timeout_s=self.query_timeout_s)
        store.setup()
        return store

    def retention(self, days: Mapping[str, int]) -> SqliteRetention:
        """Retention of events, alerts, dead letters and audit rows, `days` per kind."""
        return SqliteRetention(self.store, days)

    @cached_property
    def coverage(self) -> SqliteCoverageRepository:
        repo = SqliteCoverageRepository(self.store.path)  # its index is on the core store's events
        repo.setup()
        return repo

    @cached_property
    def inspections(self) -> SqliteInspectionRepository:
        repo = SqliteInspectionRepository(self.store.path)
        repo.setup()
        return repo

    @cached_property
    def exceptions(self) -> SqliteExceptionRepository:
        repo = SqliteExceptionRepository(self.path)
        repo.setup()
        return repo

    @cached_property
    def saved_views(self) -> SqliteSavedViewStore:
        views = SqliteSavedViewStore(self.path)
        views.setup()
        return views

    @cached_property
    def rule_state(self) -> JsonRuleStateStore:
        return JsonRuleStateStore(self.rule_state_path)

    @cached_property
    def notify_config(self) -> SqliteNotifyConfigStore:
        repo = SqliteNotifyConfigStore(self.path)
        repo.setup()
        return repo

    @cached_property
    def notify_state(self) -> SqliteNotifyStateStore:
        repo = SqliteNotifyStateStore(self.path)
        repo.setup()
        return repo
