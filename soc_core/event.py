"""The one canonical event model: ECS field names, plus our provincial `soc.*` namespace.

Every stage after the normalizers speaks only `Event`. The model types the ECS objects we read
(`event`, `host`, `user`, `process`, ...) and keeps every other field verbatim: each ECS object
accepts extra keys, and top-level fields we do not model (for example `winlog`, `powershell`)
are kept as plain dicts. `Event.flat()` gives the dotted view (`process.command_line`) that the
detection engine and the stores index.

Example::

    ev = Event.model_validate({"@timestamp": "2025-07-01T08:00:00+07:00",
                               "event": {"code": "4625"}, "host": {"name": "ws01"}})
    ev.flat()["host.name"]  # 'ws01'
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator


class EcsObject(BaseModel):
    """An ECS object: the fields we name are typed, any other ECS field is kept as given."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


def _as_list(value: Any) -> Any:
    """ECS `event.category`/`event.type` are arrays; accept a single string as a one-item list."""
    if value is None or isinstance(value, list):
        return value
    return [value]


class EventMeta(EcsObject):
    """`event.*`: what kind of thing happened, and the original record."""

    id: str | None = None
    kind: str | None = None
    category: list[str] | None = None
    type: list[str] | None = None
    outcome: str | None = None
    action: str | None = None
    code: str | None = None
    provider: str | None = None
    dataset: str | None = None
    module: str | None = None
    severity: int | None = None
    original: str | None = None
    created: datetime | None = None
    ingested: datetime | None = None

    _listify = field_validator("category", "type", mode="before")(_as_list)

    @field_validator("code", mode="before")
    @classmethod
    def _code_as_string(cls, value: Any) -> Any:
        """Windows event ids arrive as numbers from some shippers; ECS keeps `event.code` a string."""
        return str(value) if isinstance(value, int) else value


class Host(EcsObject):
    name: str | None = None
    hostname: str | None = None
    ip: list[str] | None = None
    os: dict[str, Any] | None = None

    _listify = field_validator("ip", mode="before")(_as_list)


class User(EcsObject):
    name: str | None = None
    domain: str | None = None
    id: str | None = None


class Endpoint(EcsObject):
    """`source.*` / `destination.*`."""

    ip: str | None = None
    port: int | None = None
    domain: str | None = None
    address: str | None = None


class Process(EcsObject):
    pid: int | None = None
    name: str | None = None
    executable: str | None = None
    command_line: str | None = None
    parent: dict[str, Any] | None = None


class SocUnit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    name: str | None = None


class SocSystem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    name: str | None = None
    level: int | None = None


class SocSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    format: str | None = None


class Soc(BaseModel):
    """Provincial context, stamped at ingest from the authenticated source, never from the payload."""

    model_config = ConfigDict(extra="forbid")
    unit: SocUnit = Field(default_factory=SocUnit)
    system: SocSystem = Field(default_factory=SocSystem)
    source: SocSource = Field(default_factory=SocSource)
    evidence: dict[str, Any] | None = None


class Event(BaseModel):
    """One security event in ECS. Unknown top-level fields are kept verbatim (`extra="allow"`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    TYPED_OBJECTS: ClassVar[tuple[str, ...]] = ("event", "host", "user", "source", "destination", "process")

    timestamp: datetime = Field(alias="@timestamp")
    message: str | None = None
    tags: list[str] | None = None
    labels: dict[str, str] | None = None
    event: EventMeta = Field(default_factory=EventMeta)
    host: Host | None = None
    user: User | None = None
    source: Endpoint | None = None
    destination: Endpoint | None = None
    process: Process | None = None
    file: dict[str, Any] | None = None
    registry: dict[str, Any] | None = None
    network: dict[str, Any] | None = None
    dns: dict[str, Any] | None = None
    url: dict[str, Any] | None = None
    http: dict[str, Any] | None = None
    user_agent: dict[str, Any] | None = None
    observer: dict[str, Any] | None = None
    related: dict[str, list[str]] | None = None
    log: dict[str, Any] | None = None
    winlog: dict[str, Any] | None = None
    soc: Soc = Field(default_factory=Soc)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        """A naive timestamp here is a normalizer bug; we assume UTC rather than guess."""
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def id(self) -> str:
        """The deterministic event id (set at ingest, see `soc_core.identity`)."""
        if not self.event.id:
            raise ValueError("event has no id: ids are assigned at ingest")
        return self.event.id

    def to_doc(self) -> dict[str, Any]:
        """The JSON document stored and published: ECS names, `@timestamp`, no nulls."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_doc())

    @classmethod
    def from_json(cls, data: bytes | str) -> Event:
        return cls.model_validate(orjson.loads(data))

    def flat(self) -> dict[str, Any]:
        """Dotted ECS view of the event (`host.name`, `winlog.event_data.CommandLine`)."""
        return flatten(self.to_doc())


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys; lists stay values (ECS arrays)."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)
