"""What the acknowledgement endpoint reads and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


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
