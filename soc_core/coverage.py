"""Coverage: how much of the province is monitored, measured against the registry (never typed in).

Definitions (also shown in the console's help text):
- A log source is *delivering* at time t when it has an event ingested in (t - allowed silence, t].
- A source gap starts when a source stops delivering (its last event + allowed silence) or, for a
  source that never sent anything, when it was first measured; it ends at the next event ingested.
- An information system is *monitored* when every log source it must send is delivering; a system
  that declares no source is never monitored ("no log source declared").
- An endpoint is *protected* when its anti-malware agent reported within the allowed window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class SourceState(StrEnum):
    DELIVERING = "delivering"
    SILENT = "silent"
    NEVER = "never_connected"


class TargetState(StrEnum):
    MET = "met"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    MISSED = "missed"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceStatus(Frozen):
    source_id: str
    name: str
    system_id: str
    state: SourceState
    last_seen: datetime | None
    allowed_silence_minutes: int
    not_delivering_since: datetime | None = Field(
        default=None, description="last event + allowed silence; None while delivering or never connected"
    )


class SystemStatus(Frozen):
    system_id: str
    name: str
    unit_id: str
    level: int
    important: bool
    monitored: bool
    monitoring_deadline: date | None
    sources: list[SourceStatus]

    @property
    def failing_sources(self) -> list[SourceStatus]:
        return [s for s in self.sources if s.state is not SourceState.DELIVERING]


class EndpointStatus(Frozen):
    endpoint_id: str
    hostname: str
    unit_id: str
    protected: bool
    last_report: datetime | None
    secret_documents: bool


class Figure(Frozen):
    """One ratio: `covered` of `total` (e.g. 13 of 20 important systems monitored)."""

    scope: str
    unit_id: str | None = None
    covered: int
    total: int

    @property
    def ratio(self) -> float:
        return self.covered / self.total if self.total else 0.0


class CoverageSnapshot(Frozen):
    at: datetime
    systems: list[SystemStatus]
    endpoints: list[EndpointStatus]
    figures: list[Figure]

    def figure(self, scope: str, unit_id: str | None = None) -> Figure:
        for f in self.figures:
            if f.scope == scope and f.unit_id == unit_id:
                return f
        return Figure(scope=scope, unit_id=unit_id, covered=0, total=0)


class TargetStatus(Frozen):
    target_id: str
    scope: str
    unit_id: str | None
    percent: float
    deadline: date
    current: Figure
    state: TargetState
    projected_percent: float | None = Field(
        default=None,
        description="percent expected at the deadline from the recent trend (None: no trend yet)",
    )


class Gap(Frozen):
    """A period without coverage of one subject (a source, a system or an endpoint)."""

    kind: str  # source | system | endpoint
    subject_id: str
    start: datetime
    end: datetime | None
    reason: str


class CoverageRepository(Protocol):
    def setup(self) -> None: ...

    def save_snapshot(self, snapshot: CoverageSnapshot) -> None: ...

    def history(
        self, scope: str, unit_id: str | None, start: datetime, end: datetime, max_points: int = 500
    ) -> list[tuple[datetime, int, int]]: ...

    def open_gaps(self) -> dict[tuple[str, str], Gap]: ...

    def save_gaps(self, opened: Sequence[Gap], closed: Sequence[Gap]) -> None: ...

    def gaps(
        self,
        *,
        kind: str | None = None,
        subject_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Gap]: ...

    def first_ingest_after(self, source_id: str, after: datetime) -> datetime | None: ...

    def antimalware_last_report(self, since: datetime) -> dict[str, datetime]: ...
