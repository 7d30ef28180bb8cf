"""Analysts' exceptions: "this rule, on events with these values, is not an attack", until a date.

An analyst who closes an alert as a false positive (cảnh báo nhầm) can create one from it. Its scope
is one rule and the values of some of the event's fields (`process.executable`, `user.name`...),
optionally narrowed to the event's unit, system or host (`soc.unit.id`, `soc.system.id`,
`host.name`). It has a reason, an owner and an expiry; it can be revoked before it expires.

Each exception is stored as a Sigma filter document (`sigma_filter_yaml`), the Sigma
specification's meta filter: the detect stage compiles that stored text, not the fields above, with
the rules' own pipeline (`detections.filters`), so what is applied is exactly what the document says
and the document can be read, reviewed or moved into a rule folder by anyone who knows Sigma::

    title: 'Exception: Suspicious backup tool'
    id: 1b7c...
    description: the nightly backup job on the finance server
    author: analyst1
    date: 2026-12-05
    logsource: {category: process_creation, product: windows}
    filter:
      rules: [<rule id>]
      exception: {process.executable: 'C:\\Tools\\backup.exe', host.name: fin-srv01}
      condition: not exception
    expires: '2027-03-05T00:00:00+00:00'

Field names are the event's own (ECS, dotted), which the rules' pipeline leaves as they are; values
are escaped so that `*`, `?` and `\\` match themselves.

Expiry is judged by the wall clock when a rule matches, not by the event's time: an analyst who
wrote "until 5 March" expects alerts again from 5 March, for late and replayed events too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field

SCOPE_FIELDS = {"unit": "soc.unit.id", "system": "soc.system.id", "host": "host.name"}
"""The optional context an exception can be narrowed to, and the event fields that hold it."""

SELECTION = "exception"
"""The name of the filter's one selection; its condition is `not exception`."""

FieldValue = str | int | float | bool
FieldName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_@][\w@-]*(\.[\w@-]+)+$")]
"""A dotted event field (ECS): the rules' pipeline keeps dotted names as they are."""


class ExceptionState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


class AnalystException(BaseModel):
    """One exception as stored: what it applies to, why, whose, until when, and its Sigma filter."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="a UUID: the Sigma filter's id")
    rule_id: str
    rule_title: str
    logsource: dict[str, str] = Field(description="the rule's logsource, the filter's too")
    fields: dict[str, list[FieldValue]] = Field(
        description="event field -> accepted values (any of); the fields are ANDed"
    )
    reason: str
    owner: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    alert_id: str | None = Field(default=None, description="the false-positive alert it came from")
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
    suppressed: int = Field(default=0, description="rule matches it suppressed (flushed by detect)")
    last_suppressed_at: datetime | None = None
    sigma: str = Field(description="the Sigma filter document the detect stage applies")

    def state(self, now: datetime) -> ExceptionState:
        if self.revoked_at is not None:
            return ExceptionState.REVOKED
        return ExceptionState.EXPIRED if now >= self.expires_at else ExceptionState.ACTIVE

    def expiring_within(self, now: datetime, days: float) -> bool:
        """Active, and expires within `days` from `now` (what the console highlights)."""
        return self.state(now) is ExceptionState.ACTIVE and self.expires_at - now <= timedelta(days=days)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def escape_sigma(value: str) -> str:
    """A Sigma string that matches `value` exactly: wildcards and the escape character escaped."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _sigma_values(values: list[FieldValue]) -> Any:
    out = [escape_sigma(v) if isinstance(v, str) else v for v in values]
    return out[0] if len(out) == 1 else out


def sigma_filter_yaml(
    *,
    exception_id: str,
    rule_id: str,
    rule_title: str,
    logsource: Mapping[str, str],
    fields: Mapping[str, list[FieldValue]],
    reason: str,
    owner: str,
    created_at: datetime,
    expires_at: datetime,
) -> str:
    """The Sigma filter document of one exception (see the module docstring)."""
    doc = {
        "title": f"Exception: {rule_title}",
        "id": exception_id,
        "description": reason,
        "author": owner,
        "date": created_at.date().isoformat(),
        "logsource": dict(logsource),
        "filter": {
            "rules": [rule_id],
            SELECTION: {name: _sigma_values(values) for name, values in fields.items()},
            "condition": f"not {SELECTION}",
        },
        "expires": expires_at.isoformat(),
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


class ExceptionRepository(Protocol):
    """Where exceptions are kept (`stores.sqlite.exceptions`, `stores.elastic.exceptions`).

    Writes by people are read back at once; the suppressed counts are added by the detect stage.
    """

    def setup(self) -> None:
        """Create the table or index (idempotent)."""

    def create(self, exception: AnalystException) -> None:
        """Store a new exception (StoreError if the id exists)."""

    def get_versioned(self, exception_id: str) -> tuple[AnalystException, str] | None:
        """The exception and an opaque version for `update`'s optimistic concurrency."""

    def update(self, exception: AnalystException, *, version: str) -> bool:
        """Replace it (not its counts) if it is still at `version`; False when someone else won."""

    def list_all(self, *, rule_id: str | None = None, limit: int = 10_000) -> list[AnalystException]:
        """Every exception (revoked and expired included), newest first, at most `limit`."""

    def active(self, now: datetime, *, limit: int = 10_000) -> list[AnalystException]:
        """Neither revoked nor expired at `now`: what the detect stage applies."""

    def add_suppressed(self, counts: Mapping[str, int], *, at: datetime) -> None:
        """Add to the suppressed counts (ids no longer stored are ignored)."""
