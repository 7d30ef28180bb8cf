"""The one canonical event: an ECS document (ECS field names plus our provincial `soc.*`).

Every stage after the normalizers speaks only `Event`. An `Event` is a thin, typed handle on one
JSON-ready document (`Event.doc`: nested dicts, ECS names, `@timestamp` and `event.created` /
`event.ingested` as aware datetimes), not an object graph: the pipeline's work is moving
documents (normalize -> detect -> store, over Kafka in distributed mode), and building a model
object per event, then dumping it back to a dict at every hop, cost more than parsing the log
line did (measured in `bench/bench_normalize.py`: a pydantic model per event halved the stage).

The schema is still declared once and enforced by pydantic, where data comes from outside:
`Event.from_doc` / `Event.from_json` validate a document from a store, a Kafka topic, the API or
an ECS payload against the TypedDicts below (typed ECS objects, any other ECS field kept
verbatim; `event.category`/`type` and `host.ip` accept one string; numeric `event.code` becomes a
string; a naive `@timestamp` is UTC) and raise `pydantic.ValidationError` (the detect worker
defers that to the events it alerts on: `UncheckedEvent`). The normalize stage
validates parser output the same way (`validate_ecs`) unless the parser builds its documents from
typed values only (see `normalizers.base.Normalizer.typed_output`).

`soc.*` is typed by the pydantic `Soc` model (shared with alerts); in the document it is a plain
dict, and `Event.soc` gives the model. `Event.flat()` gives the dotted view (`process.command_line`)
that the detection engine and the stores index.

Example::

    ev = Event.from_doc({"@timestamp": "2025-07-01T08:00:00+07:00",
                         "event": {"code": 4625}, "host": {"name": "ws01"}})
    ev.flat()["host.name"], ev.event["code"]  # ('ws01', '4625')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, NotRequired, cast

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from soc_core.flat import flatten_into


def _as_list(value: Any) -> Any:
    """ECS `event.category`/`event.type`/`host.ip` are arrays; accept a single string as a one-item list."""
    if value is None or isinstance(value, list):
        return value
    return [value]


def _aware(value: datetime) -> datetime:
    """A naive timestamp here is a normalizer bug; we assume UTC rather than guess."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


StrList = Annotated[list[str], BeforeValidator(_as_list)]
AwareTime = Annotated[datetime, AfterValidator(_aware)]


@with_config(ConfigDict(extra="allow", coerce_numbers_to_str=True))
class EventMeta(TypedDict, total=False):
    """`event.*`: what kind of thing happened, and the original record."""

    id: str
    kind: str
    category: StrList
    type: StrList
    outcome: str
    action: str
    code: str  # Windows event ids arrive as numbers from some shippers; ECS keeps a string
    provider: str
    dataset: str
    module: str
    severity: int
    original: str
    created: AwareTime
    ingested: AwareTime


@with_config(ConfigDict(extra="allow"))
class Host(TypedDict, total=False):
    name: str
    hostname: str
    ip: StrList
    os: dict[str, Any]


@with_config(ConfigDict(extra="allow"))
class User(TypedDict, total=False):
    name: str
    domain: str
    id: str


@with_config(ConfigDict(extra="allow"))
class Endpoint(TypedDict, total=False):
    """`source.*` / `destination.*`."""

    ip: str
    port: int
    domain: str
    address: str


@with_config(ConfigDict(extra="allow"))
class Process(TypedDict, total=False):
    pid: int
    name: str
    executable: str
    command_line: str
    parent: dict[str, Any]


# The ECS part of an event document (everything but `soc`); `@timestamp` needs the call syntax.
EcsDoc = TypedDict(
    "EcsDoc",
    {
        "@timestamp": AwareTime,
        "message": NotRequired[str],
        "tags": NotRequired[list[str]],
        "labels": NotRequired[dict[str, str]],
        "event": NotRequired[EventMeta],
        "host": NotRequired[Host],
        "user": NotRequired[User],
        "source": NotRequired[Endpoint],
        "destination": NotRequired[Endpoint],
        "process": NotRequired[Process],
        "file": NotRequired[dict[str, Any]],
        "registry": NotRequired[dict[str, Any]],
        "network": NotRequired[dict[str, Any]],
        "dns": NotRequired[dict[str, Any]],
        "url": NotRequired[dict[str, Any]],
        "http": NotRequired[dict[str, Any]],
        "user_agent": NotRequired[dict[str, Any]],
        "observer": NotRequired[dict[str, Any]],
        "related": NotRequired[dict[str, list[str]]],
        "log": NotRequired[dict[str, Any]],
        "winlog": NotRequired[dict[str, Any]],
    },
)
EcsDoc.__pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[attr-defined]
_ECS: TypeAdapter[EcsDoc] = TypeAdapter(EcsDoc)


def validate_ecs(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ECS part of a document checked and coerced (a new dict); raises `ValidationError`.

    A `soc` key is left out: attribution is stamped from the registry, never taken from a payload.
    """
    data = {key: value for key, value in doc.items() if key != "soc"} if "soc" in doc else doc
    return cast(dict[str, Any], _ECS.validate_python(data))


class SocUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str | None = None
    name: str | None = None


class SocSystem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str | None = None
    name: str | None = None
    level: int | None = None


class SocSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str | None = None
    format: str | None = None


class Soc(BaseModel):
    """Provincial context, stamped at ingest from the authenticated source, never from the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unit: SocUnit = Field(default_factory=SocUnit)
    system: SocSystem = Field(default_factory=SocSystem)
    source: SocSource = Field(default_factory=SocSource)
    evidence: dict[str, Any] | None = None

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


_EMPTY_SOC = Soc()
_JSON_OPTIONS = orjson.OPT_UTC_Z

#: `soc` parts already validated, by their JSON: every event of a source carries the same one, and
#: validating it again (model and dump) was a tenth of the detect worker's CPU. Bounded: cleared
#: when full (sources number in the hundreds; an evidence file's events share theirs too).
_SOCS_SEEN: dict[bytes, tuple[Soc, dict[str, Any]]] = {}
SOCS_REMEMBERED = 4096


def _validated_soc(data: Any) -> tuple[Soc, dict[str, Any]]:
    """The `Soc` model of a document's `soc` part and its dump. The dump is shared by the events
    that carry the same `soc` (as the normalize stage shares it): it is never changed in place."""
    try:
        key = orjson.dumps(data) if type(data) is dict else None
    except TypeError:  # a value JSON cannot hold: validation says what is wrong with it
        key = None
    if key is not None and (seen := _SOCS_SEEN.get(key)) is not None:
        return seen
    soc = Soc.model_validate(data)
    found = soc, soc.to_doc()
    if key is not None:
        if len(_SOCS_SEEN) >= SOCS_REMEMBERED:
            _SOCS_SEEN.clear()
        _SOCS_SEEN[key] = found
    return found


class Event:
    """One security event: its ECS document, with typed access to the fields every stage reads.

    `Event(doc)` trusts `doc` (the normalize stage has validated it, or built it from typed
    values); use `Event.from_doc` for anything that comes from outside.
    """

    __slots__ = ("_soc", "doc")

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self._soc: Soc | None = None

    @classmethod
    def from_doc(cls, data: Mapping[str, Any]) -> Event:
        """Validate a document from outside (store, topic, API); raises `pydantic.ValidationError`."""
        doc = validate_ecs(data)
        soc, doc["soc"] = _validated_soc(data.get("soc") or {})
        event = cls(doc)
        event._soc = soc
        return event

    @classmethod
    def from_json(cls, data: bytes | str) -> Event:
        return cls.from_doc(orjson.loads(data))

    # -- typed access ---------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The deterministic event id (set at ingest, see `soc_core.records.record_id`)."""
        event_id = self.event.get("id")
        if not event_id:
            raise ValueError("event has no id: ids are assigned at ingest")
        return event_id

    @property
    def timestamp(self) -> datetime:
        moment: datetime = self.doc["@timestamp"]
        return moment

    @property
    def event(self) -> EventMeta:
        return cast(EventMeta, self.doc.get("event") or {})

    @property
    def message(self) -> str | None:
        return self.doc.get("message")

    @property
    def host(self) -> Host | None:
        return cast(Host | None, self.doc.get("host"))

    @property
    def user(self) -> User | None:
        return cast(User | None, self.doc.get("user"))

    @property
    def source(self) -> Endpoint | None:
        return cast(Endpoint | None, self.doc.get("source"))

    @property
    def destination(self) -> Endpoint | None:
        return cast(Endpoint | None, self.doc.get("destination"))

    @property
    def process(self) -> Process | None:
        return cast(Process | None, self.doc.get("process"))

    @property
    def winlog(self) -> dict[str, Any] | None:
        return self.doc.get("winlog")

    @property
    def source_id(self) -> str | None:
        """`soc.source.id`, read without building the `Soc` model (workers key messages by it)."""
        soc = self.doc.get("soc")
        return soc.get("source", {}).get("id") if soc else None

    @property
    def source_format(self) -> str | None:
        """`soc.source.format`, read without building the `Soc` model (counted for every event)."""
        soc = self.doc.get("soc")
        return soc.get("source", {}).get("format") if soc else None

    @property
    def soc(self) -> Soc:
        """The provincial context as the typed model (built once, on first use)."""
        if self._soc is None:
            data = self.doc.get("soc")
            self._soc = Soc.model_validate(data) if data else _EMPTY_SOC
        return self._soc

    # -- serialisation --------------------------------------------------------------------

    def to_json(self) -> bytes:
        """The document as stored and published: ECS names, RFC 3339 times (`Z` for UTC)."""
        return orjson.dumps(self.doc, option=_JSON_OPTIONS)

    def to_doc(self) -> dict[str, Any]:
        """A JSON-native copy of the document (times as strings), safe for the caller to change."""
        doc: dict[str, Any] = orjson.loads(self.to_json())
        return doc

    def flat(self) -> dict[str, Any]:
        """Dotted ECS view of the event (`host.name`, `winlog.event_data.CommandLine`), values as
        JSON gives them (`flatten(self.to_doc())`), built without the JSON round trip of the whole
        document: the detect stage asks for it once per event, and the round trip was a fifth of
        `socpipe detect`'s time. Only values JSON would change (times, lists, other types) go
        through orjson, one value at a time."""
        out: dict[str, Any] = {}
        flatten_into(self.doc, "", out)
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self.doc == other.doc

    __hash__ = None  # type: ignore[assignment]  # mutable document: not hashable

    def __repr__(self) -> str:
        return f"Event(id={self.event.get('id')!r}, @timestamp={self.doc.get('@timestamp')!r})"


class DeferredEvent(Event):
    """An event given by its flat view, its document built on first use (`build()`).

    `socpipe detect` reads the flat view of every event and the document only of the ones that
    alert or feed a correlation (about one in six): its normalizer writes the flat view directly
    (`normalizers.windows_ecs.to_flat`) and hands over how to build the document, which is then
    exactly the one the normal path builds. `flat()` gives that view once (the caller owns it, as
    `Event.flat()`'s); asked again, it flattens the document."""

    __slots__ = ("_build", "_doc", "_flat")

    def __init__(self, flat: dict[str, Any], build: Callable[[], dict[str, Any]]) -> None:
        self._soc = None
        self._flat: dict[str, Any] | None = flat
        self._build: Callable[[], dict[str, Any]] | None = build
        self._doc: dict[str, Any] | None = None

    @property
    def doc(self) -> dict[str, Any]:
        doc = self._doc
        if doc is None:
            build = self._build
            assert build is not None  # set until the document is built
            doc = self._doc = build()
            self._build = None
        return doc

    @doc.setter
    def doc(self, value: dict[str, Any]) -> None:
        self._doc = value
        self._build = None
        self._flat = None  # the view of the document it replaces

    def flat(self) -> dict[str, Any]:
        flat = self._flat
        if flat is None:
            return super().flat()
        self._flat = None
        return flat


class UncheckedEvent(Event):
    """An event as a topic delivered it, validated only when its document is read.

    The detect worker matches every event of `soc.events` and alerts on about one in five: it
    matches on the flat view of the document as it arrived (for what the normalize stage wrote,
    the view of the validated document, value for value), and the document is validated as
    `Event.from_doc` does only when the stage reads it, for the events that alert or feed a
    correlation. One that fails raises `pydantic.ValidationError` there, which the stage makes
    a dead letter; the index worker validates every event it stores, so a bad event that fires
    nothing is a dead letter too, once. `arrived` is the document as it came (never changed)."""

    __slots__ = ("_checked", "arrived")

    def __init__(self, arrived: dict[str, Any]) -> None:
        self._soc = None
        self.arrived = arrived
        self._checked: dict[str, Any] | None = None

    @property
    def doc(self) -> dict[str, Any]:
        doc = self._checked
        if doc is None:
            checked = Event.from_doc(self.arrived)
            doc = self._checked = checked.doc
            self._soc = checked._soc
        return doc

    @doc.setter
    def doc(self, value: dict[str, Any]) -> None:
        self._checked = value
        self._soc = None

    def flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        flatten_into(self.arrived if self._checked is None else self._checked, "", out)
        return out

    def arrived_id(self) -> str | None:
        """The event id as it arrived, read without validating (for a dead letter's id)."""
        meta = self.arrived.get("event")
        found = meta.get("id") if isinstance(meta, dict) else None
        return found if isinstance(found, str) else None


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
