"""Rule hits: a base rule (or an inner correlation) fired on an event, as one correlation reads it.

One hit per (event, rule, reading correlation): it carries that correlation's group key, the value
of its `condition.field`, the event time and the context an alert needs. In distributed mode hits
travel on `soc.rulehits` keyed by `"<correlation id>|<group key>"` (`partition_key`).

Group-by with a missing field: the value is `null` and such events form their own group (as
Elasticsearch's ES|QL `STATS ... BY` does), they are never dropped. The key is the JSON array of the
group values, so a missing field (`null`) and an empty string (`""`) are different groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from detections.correlation.model import Correlation, Source
from soc_core.event import Event

Scalar = str | int | float | bool | None


def canonical(value: Any) -> Scalar:
    """A hashable, JSON-native form of a field value: ECS arrays of one value are that value."""
    if isinstance(value, list | tuple):
        if len(value) == 1:
            return canonical(value[0])
        return orjson.dumps(value, default=str).decode() if value else None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def first_value(flat: Mapping[str, Any], names: Sequence[str]) -> Scalar:
    for name in names:
        value = flat.get(name)
        if value is not None:
            return canonical(value)
    return None


def group_key(values: Sequence[Scalar]) -> str:
    return orjson.dumps(list(values)).decode()


@dataclass(slots=True)
class RuleHit:
    correlation_id: str
    rule_id: str
    event_id: str
    ts: float
    group: str
    value: Scalar = None
    context: dict[str, Any] = field(default_factory=dict)
    #: position in the input topic partition (distributed mode), -1 in process
    offset: int = -1
    #: a hit of an inner correlation (chained): already ordered upstream, never dropped as late
    chained: bool = False

    @property
    def partition_key(self) -> str:
        return f"{self.correlation_id}|{self.group}"

    def sort_key(self) -> tuple[float, str, str]:
        return (self.ts, self.event_id, self.rule_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "c": self.correlation_id,
            "r": self.rule_id,
            "e": self.event_id,
            "t": self.ts,
            "g": self.group,
            "v": self.value,
            "x": self.context,
            "ch": self.chained,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], offset: int = -1) -> RuleHit:
        return cls(
            correlation_id=d["c"],
            rule_id=d["r"],
            event_id=d["e"],
            ts=float(d["t"]),
            group=d["g"],
            value=d.get("v"),
            context=d.get("x") or {},
            offset=offset,
            chained=bool(d.get("ch")),
        )

    def to_json(self) -> bytes:
        return context_json(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes, offset: int = -1) -> RuleHit:
        return cls.from_dict(orjson.loads(data), offset)


class EventJSON:
    """An event document in a hit's context as its JSON text, read only if it is needed: a
    correlation alert shows it, but most hits never make one, and parsing every hitting event's
    document cost about as much as its rule matching. JSON writers of a context write the text as
    it is (`context_json`); `event_document` reads it."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventJSON) and other.data == self.data

    __hash__ = None  # type: ignore[assignment]  # compared by content, like the dict it stands for

    def __repr__(self) -> str:
        return f"EventJSON({len(self.data)} bytes)"


def _json_default(value: Any) -> Any:
    if isinstance(value, EventJSON):
        return orjson.Fragment(value.data)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def context_json(value: Any) -> bytes:
    """`orjson.dumps` of a hit's context (or of a document holding one): an `EventJSON` is written
    as its text, which is exactly what `orjson.dumps(orjson.loads(text))` writes for the event
    JSON that `Event.to_json` makes."""
    return orjson.dumps(value, default=_json_default)


def event_document(context: Mapping[str, Any]) -> dict[str, Any]:
    """The event document of a hit's context, as JSON reads it (empty when there is none)."""
    event = context.get("event")
    if isinstance(event, EventJSON):
        doc: dict[str, Any] = orjson.loads(event.data)
        return doc
    return event or {}


def event_context(event: Event, event_json: bytes | None = None) -> dict[str, Any]:
    """What a correlation alert shows of the event that fired it, with JSON values only (it
    travels on `soc.rulehits`). `event_json`: `event.to_json()`, when the caller has it (the detect
    stage serialises an event once for all its rules); then the document stays that text until
    someone reads it (`EventJSON`, `event_document`)."""
    if event_json is None:
        doc = event.to_doc()
        return {
            "soc": doc.get("soc") or {},
            "host_name": (event.host or {}).get("name"),
            "user_name": (event.user or {}).get("name"),
            "event": doc,
        }
    soc = event.doc.get("soc")
    return {
        # As the document's JSON has it (`Event.to_json`'s options), read back: a few values.
        "soc": orjson.loads(orjson.dumps(soc, option=orjson.OPT_UTC_Z)) if soc else {},
        "host_name": (event.host or {}).get("name"),
        "user_name": (event.user or {}).get("name"),
        "event": EventJSON(event_json),
    }


def hits_for_event(
    event: Event,
    flat: Mapping[str, Any],
    rule_id: str,
    readers: Sequence[Correlation],
    event_json: bytes | None = None,
) -> list[RuleHit]:
    """The hits a base rule's match on `event` gives each correlation reading that rule
    (`event_json`: as `event_context`'s)."""
    out: list[RuleHit] = []
    context: dict[str, Any] | None = None
    ts = event.timestamp.timestamp()
    for correlation in readers:
        for source in _sources(correlation, rule_id):
            if context is None:
                context = event_context(event, event_json)
            out.append(
                RuleHit(
                    correlation_id=correlation.id,
                    rule_id=rule_id,
                    event_id=event.id,
                    ts=ts,
                    group=group_key([first_value(flat, names) for names in source.group_fields]),
                    value=first_value(flat, source.value_fields) if source.value_fields else None,
                    context=context,
                )
            )
            break  # a rule listed twice (temporal_ordered) is one hit; the window places it
    return out


def chained_hits(
    inner: Correlation,
    group: str,
    ts: float,
    alert_id: str,
    context: dict[str, Any],
    readers: Sequence[Correlation],
) -> list[RuleHit]:
    """An inner correlation fired: the hits its readers get (fields = the inner group-by values)."""
    values = dict(zip(inner.group_by, orjson.loads(group), strict=False))
    out: list[RuleHit] = []
    for correlation in readers:
        for source in _sources(correlation, inner.id):
            out.append(
                RuleHit(
                    correlation_id=correlation.id,
                    rule_id=inner.id,
                    event_id=alert_id,
                    ts=ts,
                    group=group_key([first_value(values, names) for names in source.group_fields]),
                    context=context,
                    chained=True,
                )
            )
            break
    return out


def _sources(correlation: Correlation, rule_id: str) -> list[Source]:
    return [correlation.sources[i] for i in correlation.positions.get(rule_id, ())]
