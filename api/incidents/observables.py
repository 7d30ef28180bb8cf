"""Observables of an incident: what to look for elsewhere (IP, domain, hash, user, host).

Extracted ones are read from the ECS fields of the incident's alerts' events every time the
incident is read, so they follow its membership; the incident keeps only what a person decided
(an observable added by hand, or an extracted one dismissed). Each has two searches built for it:
the event explorer (`/events?q=<KQL>&start=..`, docs/explorer.md) and the alert queue
(`/alerts?q=<KQL>&status=all`); both queries parse against the stores' field lists, so a click
never lands on a refused query.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from api.errors import InvalidChange
from api.incidents.models import ObservableRead
from soc_core.alert import Alert, Incident, ObservableType, observable_id

EXTRACTED_FIELDS: dict[str, ObservableType] = {
    "source.ip": "ip",
    "destination.ip": "ip",
    "related.ip": "ip",
    "dns.question.name": "domain",
    "url.domain": "domain",
    "file.hash": "hash",
    "process.hash": "hash",
    "related.hash": "hash",
    "user.name": "user",
    "related.user": "user",
    "host.name": "host",
    "related.hosts": "host",
}
"""ECS field (or object of hashes) -> the observable type its values are."""

SEARCH_BACK = timedelta(days=30)
"""How far before the incident's detection the event search starts (it runs up to now)."""

_HASH = re.compile(r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{128})$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]+(?: [^\s\x00-\x1f\x7f]+)*$")


def normalize(kind: str, raw: str) -> str:
    """The observable's canonical value, or InvalidChange saying what a `kind` must look like."""
    value = raw.strip()
    if kind == "ip":
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidChange("not an IP address", type=kind, value=value[:100]) from None
    if kind == "domain":
        value = value.lower().rstrip(".")
        try:
            ascii_name = value.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidChange("not a domain name", type=kind, value=value[:100]) from None
        labels = ascii_name.split(".")
        if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
            raise InvalidChange("not a domain name", type=kind, value=value[:100])
        return value
    if kind == "hash":
        value = value.lower()
        if not _HASH.match(value):
            raise InvalidChange(
                "not an MD5, SHA-1, SHA-256 or SHA-512 hash in hex", type=kind, value=value[:100]
            )
        return value
    if kind in ("user", "host"):
        if not _NAME.match(value) or len(value) > 256 or (kind == "host" and " " in value):
            raise InvalidChange(f"not a {kind} name", type=kind, value=value[:100])
        return value
    raise InvalidChange("unknown observable type", type=kind)


def _values(doc: Mapping[str, Any], path: str) -> Iterator[str]:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return
        node = node.get(part)
    todo = [node]
    while todo:
        item = todo.pop(0)
        if isinstance(item, str):
            yield item
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, Mapping):  # file.hash.{md5,sha1,...}
            todo.extend(item.values())


@dataclass
class Found:
    kind: ObservableType
    value: str
    fields: list[str] = field(default_factory=list)
    alerts: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return observable_id(self.kind, self.value)


def extract(alerts: Iterable[Alert], most: int) -> list[Found]:
    """The observables in the alerts' triggering events, first found first, at most `most`
    (`SOC_INCIDENT_MAX_EXTRACTED`); values that do not fit their type (`-`) are not observables."""
    found: dict[str, Found] = {}
    for alert in alerts:
        for path, kind in EXTRACTED_FIELDS.items():
            for raw in _values(alert.event, path):
                try:
                    value = normalize(kind, raw)
                except InvalidChange:
                    continue
                key = observable_id(kind, value)
                item = found.get(key)
                if item is None:
                    if len(found) >= most:
                        continue
                    item = found[key] = Found(kind, value)
                if path not in item.fields:
                    item.fields.append(path)
                item.alerts.add(alert.id)
    return list(found.values())


def _phrase(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "ip": ("source.ip", "destination.ip", "host.ip"),
    "domain": ("dns.question.name", "url.domain", "source.domain", "destination.domain"),
    "hash": ("process.hash.md5", "process.hash.sha1", "process.hash.sha256"),
    "user": ("user.name",),
    "host": ("host.name", "host.hostname"),
}
"""The searchable event fields (soc_core.kql.fields.EVENT_FIELDS) where each type shows up."""

_ALERT_FIELDS: dict[str, str] = {"user": "user_name", "host": "host_name"}


def event_query(kind: str, value: str) -> str:
    """The fields of its type, or free text where the stores index no field for it (file hashes)."""
    clauses = [f"{name}:{_phrase(value)}" for name in _EVENT_FIELDS[kind]]
    if kind == "hash":
        clauses.append(_phrase(value))
    return " or ".join(clauses)


def alert_query(kind: str, value: str) -> str:
    """Alerts name their host and user; anything else is searched as free text."""
    name = _ALERT_FIELDS.get(kind)
    return f"{name}:{_phrase(value)}" if name else _phrase(value)


def events_url(query: str, detected_at: datetime) -> str:
    start = (detected_at - SEARCH_BACK).isoformat(timespec="seconds")
    return "/events?" + urlencode({"q": query, "start": start})


def alerts_url(query: str) -> str:
    return "/alerts?" + urlencode({"q": query, "status": "all"})


def reads(incident: Incident, members: Iterable[Alert], max_extracted: int) -> list[ObservableRead]:
    """Extracted observables (less the dismissed), then those added by hand, each with its searches."""
    kept = {o.id: o for o in incident.observables}
    out: list[ObservableRead] = []

    def read(kind: ObservableType, value: str, **more: Any) -> ObservableRead:
        eq, aq = event_query(kind, value), alert_query(kind, value)
        return ObservableRead(
            id=observable_id(kind, value),
            type=kind,
            value=value,
            events_url=events_url(eq, incident.detected_at),
            alerts_url=alerts_url(aq),
            events_query=eq,
            alerts_query=aq,
            **more,
        )

    extracted = extract(members, max_extracted)
    for found in extracted:
        mine = kept.get(found.id)
        if mine is not None and mine.dismissed:
            continue
        out.append(
            read(
                found.kind,
                found.value,
                origin="extracted",
                fields=found.fields,
                alerts=len(found.alerts),
                note=mine.note if mine else None,
            )
        )
    seen = {f.id for f in extracted}
    for o in incident.observables:
        if not o.dismissed and o.id not in seen:
            out.append(
                read(
                    o.type,
                    o.value,
                    origin="manual",
                    fields=[],
                    alerts=0,
                    added_by=o.added_by,
                    added_at=o.added_at,
                    note=o.note,
                )
            )
    return out
