"""Saved view schemas: what a user sends to save one, and what a read answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from soc_core.saved_views import MAX_NAME, MAX_QUERY, SavedView, ViewKind

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME)]


class ViewCreate(BaseModel):
    """Save the page's query string under a name; the same name again replaces its query."""

    model_config = ConfigDict(extra="forbid")

    kind: ViewKind = Field(description="the page: alerts (the queue) or events (the explorer)")
    name: Name
    query: str = Field(
        max_length=MAX_QUERY,
        description="the page's query string (`q=...&status=new`; a leading `?` is dropped); paging"
        " state (`cursor`) and empty fields are not kept; a `q` that is not valid KQL is a 422",
    )


class ViewRead(BaseModel):
    id: str
    kind: ViewKind
    name: str
    query: str
    url: str = Field(description="where the view opens: the page with its query string")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, view: SavedView) -> ViewRead:
        return cls(**view.model_dump(exclude={"owner"}), url=view.url)
