"""The alert document: a rule fired on an event (or, with suppression, on several).

Alerts are ECS documents with `event.kind: alert`, the rule (`rule.*`, author shown as the Sigma
licence requires), ATT&CK (`threat.*`), provincial context (`soc.*`), the triggering event and the
triage state. The id is deterministic (`alert_id`), so a replay never duplicates an alert.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from soc_core.event import Soc, utcnow


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def from_sigma_level(cls, level: str | None) -> Severity:
        """Sigma levels: informational/low -> low; medium; high; critical."""
        return {"medium": cls.MEDIUM, "high": cls.HIGH, "critical": cls.CRITICAL}.get(
            (level or "").lower(), cls.LOW
        )

    @property
    def rank(self) -> int:
        return {"low": 1, "medium": 2, "high": 3, "critical": 4}[self.value]


class AlertStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


class RuleRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    author: str | None = None
    description: str | None = None
    level: str | None = None
    reference: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    ruleset: str | None = None


class Threat(BaseModel):
    """One ATT&CK tactic/technique pair from the rule tags (ECS `threat.*`)."""

    model_config = ConfigDict(extra="forbid")
    framework: str = "MITRE ATT&CK"
    tactic: dict[str, str] | None = None
    technique: dict[str, str] | None = None


class Triage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AlertStatus = AlertStatus.NEW
    assignee: str | None = None
    tags: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None


def alert_id(rule_id: str, event_id: str, group_key: str | None = None) -> str:
    """hash(rule, event[, group]): the same rule on the same event is always the same alert."""
    h = hashlib.blake2b(digest_size=16)
    for part in (rule_id, event_id, group_key or ""):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    timestamp: datetime = Field(alias="@timestamp")
    kind: str = "alert"
    severity: Severity
    rule: RuleRef
    threat: list[Threat] = Field(default_factory=list)
    checklist: list[str] = Field(default_factory=list)
    soc: Soc = Field(default_factory=Soc)
    host_name: str | None = None
    user_name: str | None = None
    event_ids: list[str] = Field(default_factory=list)
    event: dict[str, Any] = Field(default_factory=dict, description="the triggering event document")
    matched: list[str] = Field(default_factory=list, description="names of the selections that matched")
    count: int = 1
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    triage: Triage = Field(default_factory=Triage)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_doc())

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        return cls.model_validate(orjson.loads(data))
