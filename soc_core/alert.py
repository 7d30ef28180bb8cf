"""The alert document: a rule fired on an event (or, with suppression, on several).

Alerts are ECS documents with `event.kind: alert`, the rule (`rule.*`, author shown as the Sigma
licence requires), ATT&CK (`threat.*`), provincial context (`soc.*`), the triggering event and the
triage state. The id is deterministic (`alert_id`), so a replay never duplicates an alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class TriageChange(BaseModel):
    """One recorded change of an alert's triage: who changed which field, when, from what to what."""

    model_config = ConfigDict(extra="forbid")
    at: datetime
    actor: str
    field: str
    old: str | None = None
    new: str | None = None


class Comment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    at: datetime
    author: str
    text: str


class Triage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AlertStatus = AlertStatus.NEW
    assignee: str | None = None
    tags: list[str] = Field(default_factory=list)
    updated_at: datetime | None = None
    # Added for triage (issue 6); defaults keep older documents valid.
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    incident_id: str | None = None
    history: list[TriageChange] = Field(default_factory=list)
    comments: list[Comment] = Field(default_factory=list)


def alert_id(rule_id: str, event_id: str, group_key: str | None = None) -> str:
    """hash(rule, event[, group]): the same rule on the same event is always the same alert."""
    h = hashlib.blake2b(digest_size=16)
    for part in (rule_id, event_id, group_key or ""):
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def alert_group(timestamp: datetime, event_ids: Iterable[str]) -> str:
    """The alert group key: every alert raised on the same evidence (the same triggering events) shares it.

    `<UTC time of the evidence>/<hash of the sorted event ids>`. Deterministic, so a replay or another
    detect replica computes the same key. Rules matching one event all stamp that event's time, so a
    group's members share their time and sit together in time order; the time prefix makes the keys
    sort in time order too, so a store can page the collapsed queue by key.
    """
    ids = sorted(set(event_ids))
    digest = hashlib.blake2b(b"".join([i.encode() + b"\x00" for i in ids]), digest_size=10).hexdigest()
    return f"{_utc_text(timestamp)}/{digest}"


def _utc_text(timestamp: datetime) -> str:
    """The time in UTC as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds always written).

    Every offline alert stamps one, so the common case (already UTC, year from 1000) is orjson's
    rendering with the microseconds padded: `datetime.replace` and `isoformat` parse their keyword
    arguments and format through `sprintf`, several times orjson's cost. The others take the general
    path; `tests/test_alert_group.py` compares both on generated times."""
    if timestamp.tzinfo is UTC and timestamp.year >= 1000:
        text = orjson.dumps(timestamp, option=orjson.OPT_UTC_Z).decode()  # '"...:SS[.ffffff]Z"'
        return text[1:-2] + "Z" if timestamp.microsecond else text[1:-2] + ".000000Z"
    at = timestamp.replace(tzinfo=UTC) if timestamp.tzinfo is None else timestamp.astimezone(UTC)
    if at.year >= 1000:  # isoformat is several times cheaper than strftime, and the same from year 1000
        return f"{at.replace(tzinfo=None).isoformat(timespec='microseconds')}Z"
    return f"{at:%Y-%m-%dT%H:%M:%S.%fZ}"


_EVENT = {"event"}


Origin = Literal["live", "evidence"]
"""Live telemetry, or an evidence file uploaded during an inspection visit (`soc.evidence`)."""


def repeat_key(alert: Alert) -> tuple[str, str]:
    """What suppression folds repeats by: the rule and the host (or, without one, the log source),
    case-insensitive. Stores answer seed lookups by the same key (`AlertStore.open_alert_candidates`)."""
    host = alert.host_name or alert.soc.source.id or ""
    return (alert.rule.id, host.lower())


class Alert(BaseModel):
    """A rule fired on an event (or, with suppression, on several; `event_ids[0]` is the first).

    `group` is the alert group (`alert_group`), fixed when the alert is created: the queue shows one
    row per group, so a SigmaHQ rule and its provincial counterpart on one event are one row.
    Alerts from evidence files carry `soc.evidence` (`visit_id`, `file_id`, `unit_id`): their origin
    is "evidence" and the live queue leaves them out unless asked for.
    """

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
    group: str | None = Field(default=None, description="the alert group key (`alert_group`)")

    @model_validator(mode="after")
    def _group_from_evidence(self) -> Alert:
        """A new alert's group comes from its triggering events (stores backfill older documents)."""
        if self.group is None:
            self.group = alert_group(self.timestamp, self.event_ids or [self.id])
        return self

    @property
    def origin(self) -> Origin:
        return "evidence" if self.soc.evidence is not None else "live"

    @property
    def visit_id(self) -> str | None:
        """The inspection visit whose evidence file raised this alert."""
        value = (self.soc.evidence or {}).get("visit_id")
        return str(value) if value else None

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        """The same document as `orjson.dumps(self.to_doc())`: pydantic serialises the alert but
        its event, which orjson writes (the event document is most of an alert, and orjson
        writes it several times faster) into the event's place, between `event_ids` and `matched`
        (the model's field order). An event that holds what orjson cannot write goes through
        pydantic with the rest."""
        try:
            event = orjson.dumps(self.event, option=orjson.OPT_UTC_Z)
        except orjson.JSONEncodeError:
            return self.model_dump_json(by_alias=True, exclude_none=True).encode()
        rest = self.model_dump_json(by_alias=True, exclude_none=True, exclude=_EVENT).encode()
        # `matched` is never None, so always written; no field after it has a key of that name
        # (and a string value cannot hold an unescaped quote): the last occurrence is the field.
        cut = rest.rindex(b',"matched":')
        return b"".join((rest[:cut], b',"event":', event, rest[cut:]))

    @classmethod
    def from_json(cls, data: bytes | str) -> Alert:
        return cls.model_validate(orjson.loads(data))


# -- incidents (sự cố) ------------------------------------------------------------------------------


class IncidentStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class IncidentEntry(BaseModel):
    """A note or a recorded change on an incident; alerts and events join the timeline when read."""

    model_config = ConfigDict(extra="forbid")
    id: str
    at: datetime
    actor: str
    kind: str  # "note", "change", "alert_added", "alert_removed", "created"
    text: str | None = None
    field: str | None = None
    old: str | None = None
    new: str | None = None


class IncidentTask(BaseModel):
    """A piece of work on an incident: who does it and by when; overdue when undone past `due`."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    assignee: str | None = None
    due: date | None = None
    done: bool = False
    done_at: datetime | None = None
    done_by: str | None = None
    created_at: datetime
    created_by: str


ObservableType = Literal["ip", "domain", "hash", "user", "host"]


class IncidentObservable(BaseModel):
    """An indicator an analyst added by hand, or an extracted one they dismissed (`dismissed`).

    Extracted observables are read from the alerts' events each time, so only what a person
    decided is kept here; `id` is derived from type and value (`observable_id`)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    type: ObservableType
    value: str
    added_at: datetime
    added_by: str
    note: str | None = None
    dismissed: bool = False


def observable_id(kind: str, value: str) -> str:
    """The same observable has the same id, whether extracted or added by hand."""
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()[:16]


class IncidentAttachment(BaseModel):
    """A file kept for the case, by content hash in the evidence folder (`stored_as`), never rewritten."""

    model_config = ConfigDict(extra="forbid")
    id: str
    filename: str
    sha256: str
    size: int
    stored_as: str
    uploaded_at: datetime
    uploaded_by: str


class Incident(BaseModel):
    """A group of alerts handled as one case, with the units and systems it touches.

    `detected_at` is the earliest time of its alerts (or its creation), the start of both clocks:
    time to acknowledge ends at `acknowledged_at`, time to resolve at `resolved_at`.
    """

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    description: str | None = None
    severity: Severity = Severity.MEDIUM
    status: IncidentStatus = IncidentStatus.NEW
    owner: str | None = None
    unit_ids: list[str] = Field(default_factory=list)
    system_ids: list[str] = Field(default_factory=list)
    alert_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str
    updated_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    entries: list[IncidentEntry] = Field(default_factory=list)
    tasks: list[IncidentTask] = Field(default_factory=list)
    observables: list[IncidentObservable] = Field(default_factory=list)
    attachments: list[IncidentAttachment] = Field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class AlertRepeat(BaseModel):
    """The same rule fired again on the same host within the suppression window.

    Absolute values (count, last seen), so applying a repeat twice changes nothing: replays after a
    crash stay harmless.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    alert_id: str
    first_seen: datetime = Field(description="the alert's own @timestamp: it locates the alert's index")
    count: int
    last_seen: datetime
    event_id: str | None = None

    def apply(self, alert: Alert, max_event_ids: int = 100) -> Alert:
        """The alert with this repeat folded in (count and last_seen only grow)."""
        event_ids = list(alert.event_ids)
        if self.event_id and self.event_id not in event_ids and len(event_ids) < max_event_ids:
            event_ids.append(self.event_id)
        last = max(alert.last_seen or self.last_seen, self.last_seen)
        return alert.model_copy(
            update={"count": max(alert.count, self.count), "last_seen": last, "event_ids": event_ids}
        )

    def to_json(self) -> bytes:
        return orjson.dumps({"repeat": self.model_dump(mode="json")})
