"""One way to page every JSON list: `?size=&cursor=`, answered `{"items", "next_cursor", "total"}`.

`size` is 50 by default and at most 500 (a 422 problem beyond). `next_cursor` is null on the last
page; pass it back as `cursor` to get the next one. `total` counts every item the filters select.

A cursor is opaque to callers: the base64url of the JSON sort key of the page's last item, so a page
starts right after it however many items were added before it meanwhile. Two kinds:

- lists the store pages (events, alerts, dead letters, incidents, audit): the store's own keyset
  cursor `[time, id]` (epoch milliseconds from Elasticsearch's `search_after`, an ISO time from
  SQLite), checked by `check_store_cursor` before the store sees it;
- lists read whole because they are small (inspection plans, visits, findings, evidence, reminders,
  suggestions; rules, users, API tokens, coverage gaps): sorted by a key unique per item and cut
  after the cursor's key by `page_of`.

A cursor that does not decode, or does not have the shape of the list's key, is `InvalidCursor`
(a 400 problem), never a 5xx.
"""

from __future__ import annotations

import base64
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, model_validator

from api.errors import InvalidCursor
from soc_core.store import Page

T = TypeVar("T")
R = TypeVar("R")
Key = tuple[str | int | float, ...]

DEFAULT_SIZE = 50
MAX_SIZE = 500
Size = Annotated[int, Query(ge=1, le=MAX_SIZE, description="items per page")]
Cursor = Annotated[str | None, Query(max_length=1024, description="`next_cursor` of the previous page")]
_MAX_EPOCH_MS = 253_402_300_800_000  # year 10000
NOT_OURS = "invalid paging cursor: not one this API handed out"


class ItemPage(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
    total: int

    def map(self, read: Callable[[T], R]) -> ItemPage[R]:
        return ItemPage(items=[read(i) for i in self.items], next_cursor=self.next_cursor, total=self.total)


class QueryParams(BaseModel):
    """A list's query parameters as one model; empty strings mean "no filter" (console forms send them)."""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_none(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


def encode(key: Sequence[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode()


def decode(cursor: str) -> list[Any]:
    """The sort key a cursor holds; `InvalidCursor` unless it is a JSON array."""
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        raise InvalidCursor(NOT_OURS) from exc
    if not isinstance(key, list):
        raise InvalidCursor(NOT_OURS)
    return key


def _is_time(value: object) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return 0 <= value < _MAX_EPOCH_MS
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


def check_store_cursor(cursor: str | None) -> None:
    """A store's cursor is `[time, id]`; anything else would make the store fail (a 5xx)."""
    if not cursor:
        return
    key = decode(cursor)
    if len(key) != 2 or not _is_time(key[0]) or not isinstance(key[1], str):
        raise InvalidCursor(NOT_OURS)


def _kind(value: object) -> type | None:
    if isinstance(value, str):
        return str
    return float if isinstance(value, int | float) and not isinstance(value, bool) else None


def _same_shape(a: Sequence[object], b: Sequence[object]) -> bool:
    """Same length, and a string or a number at each place: what compares with the list's keys."""
    if len(a) != len(b):
        return False
    return all(_kind(x) is not None and _kind(x) is _kind(y) for x, y in zip(a, b, strict=True))


def page_of(items: Iterable[T], *, key: Callable[[T], Key], size: int, cursor: str | None) -> ItemPage[T]:
    """One page of a list read whole, in `key` order; `key` must be unique per item, so that no item
    is repeated or skipped from one page to the next."""
    ordered = sorted(items, key=key)
    start = 0
    if cursor:
        after = tuple(decode(cursor))
        if ordered and not _same_shape(after, key(ordered[0])):
            raise InvalidCursor(NOT_OURS)
        start = bisect_right(ordered, after, key=key)
    chunk = ordered[start : start + size]
    more = start + size < len(ordered)
    return ItemPage(items=chunk, next_cursor=encode(key(chunk[-1])) if more else None, total=len(ordered))


def from_store(page: Page[T], read: Callable[[T], R]) -> ItemPage[R]:
    """A page the store cut (its cursor checked on the way in by `check_store_cursor`)."""
    return ItemPage(items=[read(i) for i in page.items], next_cursor=page.cursor, total=page.total)
