"""Read-modify-write under optimistic concurrency, shared by alert triage and incidents.

Each try reads the record with the store's version of it, changes it, and writes it only if the
store still holds that version. A try that lost the race reads again after a short, growing pause
(20 ms, 40 ms, ...), at most `MAX_TRIES` times: two analysts acting on the same record at the same
moment both see their change applied in order, never one silently lost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt, wait_incrementing

from soc_core.errors import SocError

MAX_TRIES = 8

T = TypeVar("T")
C = TypeVar("C")


class _LostRace(Exception):
    """The store held another version than the one read: read again."""


def change_versioned(
    read: Callable[[], tuple[T, str] | None],
    change: Callable[[T, datetime], tuple[T, list[C]]],
    write: Callable[[T, str], bool],
    *,
    missing: Callable[[], SocError],
    conflict: Callable[[], SocError],
) -> tuple[T, list[C]]:
    """The record as written and its changes; the record as read and no changes when `change` finds
    nothing to do. Raises `missing()` when `read` finds nothing, `conflict()` when every try lost."""

    def attempt() -> tuple[T, list[C]]:
        got = read()
        if got is None:
            raise missing()
        record, version = got
        new, changes = change(record, datetime.now(UTC))
        if not changes:
            return record, []
        if not write(new, version):
            raise _LostRace
        return new, changes

    retrying = Retrying(
        retry=retry_if_exception_type(_LostRace),
        stop=stop_after_attempt(MAX_TRIES),
        wait=wait_incrementing(start=0.02, increment=0.02),
    )
    try:
        return retrying(attempt)
    except RetryError:
        raise conflict() from None
