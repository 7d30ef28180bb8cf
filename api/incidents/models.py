"""Incident schemas: create, update, read (with time to acknowledge / resolve), the timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.incidents.sla import SlaSummary
from soc_core.alert import Incident, IncidentStatus, IncidentTask, ObservableType, Severity


class IncidentCreate(BaseModel):
    """Units and systems default to those of the alerts; more can be named."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    severity: Severity | None = Field(default=None, description="default: the highest of its alerts")
    owner: str | None = Field(default=None, max_length=64)
    alert_ids: list[str] = Field(default_factory=list, max_length=500)
    unit_ids: list[str] = Field(default_factory=list, max_length=100)
    system_ids: list[str] = Field(default_factory=list, max_length=100)


class IncidentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=20_000)
    severity: Severity | None = None
    status: IncidentStatus | None = None
    owner: str | None = Field(default=None, max_length=64, description='"" removes the owner')
    unit_ids: list[str] | None = Field(default=None, max_length=100)
    system_ids: list[str] | None = Field(default=None, max_length=100)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20_000)


class AlertIds(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alert_ids: list[str] = Field(min_length=1, max_length=500)


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=500)
    assignee: str | None = Field(default=None, max_length=64, description="a console user's name")
    due: date | None = Field(default=None, description="the day it is due (Asia/Ho_Chi_Minh)")


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(default=None, min_length=1, max_length=500)
    assignee: str | None = Field(default=None, max_length=64, description='"" removes the assignee')
    due: date | None = None
    clear_due: bool = Field(default=False, description="remove the due date")
    done: bool | None = None


class TaskRead(IncidentTask):
    overdue: bool = Field(description="undone and its due day has passed in Asia/Ho_Chi_Minh")


class ObservableCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: ObservableType
    value: str = Field(min_length=1, max_length=512)
    note: str | None = Field(default=None, max_length=2_000)


class ObservableRead(BaseModel):
    id: str
    type: ObservableType
    value: str
    origin: Literal["extracted", "manual"]
    fields: list[str] = Field(description="the event fields it was found in (extracted)")
    alerts: int = Field(description="how many of the incident's alerts hold it")
    added_by: str | None = None
    added_at: datetime | None = None
    note: str | None = None
    events_url: str = Field(description="the event explorer searching it (docs/explorer.md)")
    alerts_url: str = Field(description="the alert queue searching it, every status")
    events_query: str
    alerts_query: str


class TimelineItem(BaseModel):
    at: datetime
    kind: str = Field(
        description="alert, event, note, change, created, alert_added, alert_removed, task_added, "
        "task_changed, task_done, task_reopened, task_removed, observable_added, observable_removed, "
        "attachment_added, attachment_removed"
    )
    actor: str | None = None
    text: str | None = None
    ref: str | None = Field(default=None, description="alert or event id")
    severity: str | None = None
    field: str | None = None
    old: str | None = None
    new: str | None = None


class IncidentRead(BaseModel):
    incident: dict[str, Any]
    time_to_acknowledge_s: float | None
    time_to_resolve_s: float | None
    sla: SlaSummary | None = Field(
        default=None, description="SLA breaches among its alerts (in the list and the detail)"
    )

    @classmethod
    def of(cls, incident: Incident) -> IncidentRead:
        return cls(
            incident=incident.to_doc(),
            time_to_acknowledge_s=time_to_acknowledge(incident),
            time_to_resolve_s=time_to_resolve(incident),
        )


class IncidentDetail(IncidentRead):
    timeline: list[TimelineItem]
    alerts: list[dict[str, Any]]
    tasks: list[TaskRead] = Field(default_factory=list)
    observables: list[ObservableRead] = Field(default_factory=list)


def time_to_acknowledge(incident: Incident) -> float | None:
    if incident.acknowledged_at is None:
        return None
    return max(0.0, (incident.acknowledged_at - incident.detected_at).total_seconds())


def time_to_resolve(incident: Incident) -> float | None:
    if incident.resolved_at is None:
        return None
    return max(0.0, (incident.resolved_at - incident.detected_at).total_seconds())
