"""Saved views: an analyst's named searches on the alert queue and the event explorer, and their port.

A view is what the page's address says after the `?` (the filters, the KQL in `q`, the time range),
kept under a name for one user and one kind of page, so reopening it is following a link. A name is
unique per owner and kind: saving under a name that exists replaces that view's query, which is how
an analyst updates a view. The id is derived from (owner, kind, name), so both stores upsert by it.

Adapters: `stores.sqlite.saved_views` and `stores.elastic.saved_views`; one contract suite
(`tests/contract/test_saved_views_contract.py`) runs against both.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

MAX_NAME = 80
MAX_QUERY = 4096
"""A page's query string: the KQL (at most `SOC_QUERY_MAX_LENGTH`, percent-encoded) and a few filters
fit; a longer address is refused by the schema, not stored."""


class ViewKind(StrEnum):
    """The page a view reopens."""

    ALERTS = "alerts"
    EVENTS = "events"


PAGE_OF_KIND = {ViewKind.ALERTS: "/alerts", ViewKind.EVENTS: "/events"}


def view_id(owner: str, kind: ViewKind, name: str) -> str:
    """The same id for the same owner, kind and name, in every store (saving again replaces)."""
    return hashlib.sha256(f"{owner}\x1f{kind.value}\x1f{name}".encode()).hexdigest()[:24]


class SavedView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    owner: str = Field(description="the user id of who saved it (a view is private to its owner)")
    kind: ViewKind
    name: str = Field(min_length=1, max_length=MAX_NAME)
    query: str = Field(max_length=MAX_QUERY, description="the page's query string, without the `?`")
    created_at: datetime
    updated_at: datetime

    @property
    def url(self) -> str:
        """Where the view opens: its page with its query string."""
        page = PAGE_OF_KIND[self.kind]
        return f"{page}?{self.query}" if self.query else page


class SavedViewStore(Protocol):
    """Where views are kept. Reads and writes are by owner: nobody lists or deletes another's views."""

    def setup(self) -> None:
        """Create the table or index (idempotent)."""

    def put(self, view: SavedView) -> bool:
        """Insert, or replace the query of the view with the same id (its `created_at` kept);
        True when it was new. Read back at once by `list_for`."""

    def list_for(self, owner: str, kind: ViewKind | None = None) -> list[SavedView]:
        """The owner's views (of one kind, or all), by name."""

    def get(self, owner: str, view_id: str) -> SavedView | None: ...

    def delete(self, owner: str, view_id: str) -> bool:
        """Remove the owner's view; False when the owner has no such view."""
