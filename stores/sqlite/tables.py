"""The base of the embedded database's domain adapters (coverage, inspections).

Each adapter owns a few tables in the same SQLite file as the core store, through its own
connection: a lock per connection (sqlite3 connections are not thread-safe), autocommit unless a
method opens a transaction, and a busy timeout so the core store's writer and these never fail
on each other's locks. Errors become `StoreError`s naming the adapter.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from soc_core.errors import StoreError


class SqliteTables:
    SCHEMA: ClassVar[str]
    """`CREATE ... IF NOT EXISTS` statements: `setup()` runs them at every start."""
    WHAT: ClassVar[str]
    """What the tables hold, for error messages ("coverage", "inspection")."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._lock = threading.Lock()

    def setup(self) -> None:
        with self._lock:
            self._conn.executescript(self.SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"{self.WHAT} query failed: {exc}") from exc
