"""The notifier's stored configuration and memory: its ports.

- `NotifyConfigStore`: the routing rules and the response guidance, as YAML texts an admin edits in
  the console. Every save is a new numbered version (who, when, why), never an overwrite, so the
  previous versions stay readable and a save based on a stale version is refused
  (`ConfigVersionTaken`) instead of silently undoing someone else's change. The YAML files
  (`SOC_NOTIFY_RULES_FILE`, `SOC_NOTIFY_GUIDANCE_FILE`) are the seed until the first save.
- `NotifyStateStore`: flood control's memory (alert groups already told to a recipient, digests
  held, the recent sends that count towards a digest), so a restarted notify worker neither tells
  a group again nor loses the alerts a digest was holding. Told marks are numbered (`seq`) so the
  store keeps the same bound as memory (`SOC_NOTIFY_MAX_TRACKED`) by forgetting below a number.

Adapters: `stores.sqlite.notify_config`, `stores.elastic.notify_config`; one contract suite
(`tests/notify/test_notify_config_contract.py`) runs against both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from soc_core.errors import SocError

MAX_CONFIG_TEXT = 256 * 1024
"""A routing or guidance YAML text: the shipped guidance is 8 KB; far larger is a mistake."""
MAX_REASON = 500


class ConfigKind(StrEnum):
    ROUTING = "routing"
    GUIDANCE = "guidance"


class ConfigVersionTaken(SocError):
    """Someone saved this version number first: the save was based on a version no longer current."""


class NotifyConfigVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ConfigKind
    version: int = Field(ge=1, description="1 for the first save; the seed file is version 0")
    text: str = Field(max_length=MAX_CONFIG_TEXT, description="the YAML as the admin wrote it")
    author: str = Field(description="the user id of who saved it")
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    created_at: datetime


class NotifyConfigStore(Protocol):
    def setup(self) -> None:
        """Create the table or index (idempotent)."""

    def current(self, kind: ConfigKind) -> NotifyConfigVersion | None:
        """The newest version of `kind` (None: never saved, the seed file applies)."""

    def get(self, kind: ConfigKind, version: int) -> NotifyConfigVersion | None: ...

    def history(self, kind: ConfigKind, limit: int) -> list[NotifyConfigVersion]:
        """The newest `limit` versions of `kind`, newest first."""

    def put(self, version: NotifyConfigVersion) -> None:
        """Store a new version; `ConfigVersionTaken` when its number exists (compare-and-set).
        Read back at once by `current`."""


@dataclass(frozen=True, slots=True)
class ToldMark:
    """An alert group told to a recipient: number `seq` in the order they were told."""

    seq: int
    recipient: str
    group: str
    at: datetime


class NotifyStateStore(Protocol):
    def setup(self) -> None: ...

    def add_told(self, marks: Sequence[ToldMark]) -> None:
        """Keep these marks (a mark with an existing `seq` replaces it)."""

    def told(self, limit: int) -> list[ToldMark]:
        """The `limit` marks with the highest `seq`, in `seq` order."""

    def forget_told(self, below_seq: int) -> None:
        """Drop the marks numbered below `below_seq` (the bound)."""

    def put_entries(self, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Write small keyed documents (held digests, send windows); None deletes the key."""

    def entries(self) -> dict[str, dict[str, Any]]:
        """Every keyed document."""
