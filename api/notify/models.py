"""What the acknowledgement and the notification-configuration endpoints read and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from soc_core.notify_config import MAX_CONFIG_TEXT, MAX_REASON, ConfigKind


class AcknowledgeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=2000, description="the token of the acknowledgement link")


class Acknowledgement(BaseModel):
    """The alert's acknowledgement as recorded (a second click answers the first one's record)."""

    alert_id: str
    acknowledged_at: datetime
    acknowledged_by: str
    time_to_acknowledge_s: float = Field(description="from the alert's creation to its acknowledgement")
    already: bool = Field(description="it had been acknowledged before this request")


class ConfigVersionRead(BaseModel):
    """One version of the routing rules or the guidance; version 0 is the seed file (never saved)."""

    kind: ConfigKind
    version: int = Field(
        description="0: the seed (SOC_NOTIFY_RULES_FILE / SOC_NOTIFY_GUIDANCE_FILE or built-in)"
    )
    text: str = Field(description="the YAML")
    author: str | None = Field(description="who saved it; null for the seed")
    reason: str | None
    created_at: datetime | None


class ConfigSave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=MAX_CONFIG_TEXT, description="the whole YAML text")
    reason: str = Field(
        min_length=1, max_length=MAX_REASON, description="why (kept with the version and audited)"
    )
    base_version: int = Field(
        ge=0, description="the version this text was edited from: a save over a newer one is a 409"
    )


ListName = Literal["oncall", "escalation"]


class ContactsRead(BaseModel):
    """Who is on duty by the routing version in force: the on-call list and the escalation chain."""

    version: int = Field(description="the routing version they come from (0: the seed)")
    oncall: list[str] = Field(description="told by every rule with `oncall: true`")
    escalation: list[str] = Field(description="in order, one step per SLA")
    from_settings: list[ListName] = Field(
        description="the lists the routing text does not name: SOC_NOTIFY_ONCALL / SOC_NOTIFY_ESCALATION"
    )
