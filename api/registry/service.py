"""Registry management: validate cross-references, merge imports, and read/write YAML and CSV.

Imports are upserts: the incoming entries are merged over what the store holds, and the merged
registry is validated as a whole before anything is written, so an import either applies fully
or not at all and every problem is listed at once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from api.audit import service as audit
from api.auth.deps import Principal
from api.registry.errors import RegistryInvalid as RegistryInvalid  # the service raises it
from api.reports import cells
from normalizers import registry as formats
from soc_core.registry import CoverageTarget, Endpoint, InformationSystem, LogSource, Registry, Unit
from soc_core.store import RegistryStore, Store

KINDS: dict[str, type[BaseModel]] = {
    "units": Unit,
    "systems": InformationSystem,
    "sources": LogSource,
    "endpoints": Endpoint,
    "targets": CoverageTarget,
}


def problems(registry: Registry) -> list[str]:
    """Every inconsistency: duplicate ids, dangling references, parent cycles, unknown formats."""
    found: list[str] = []
    for kind in KINDS:
        seen: set[str] = set()
        for item in getattr(registry, kind):
            if item.id in seen:
                found.append(f"{kind}: duplicate id {item.id!r}")
            seen.add(item.id)
    units = {u.id: u for u in registry.units}
    systems = {s.id for s in registry.systems}
    for u in registry.units:
        if u.parent_id and u.parent_id not in units:
            found.append(f"units.{u.id}: parent {u.parent_id!r} is not a registered unit")
        chain, current = {u.id}, u.parent_id
        while current and current in units:
            if current in chain:
                found.append(f"units.{u.id}: parent chain loops through {current!r}")
                break
            chain.add(current)
            current = units[current].parent_id
    for s in registry.systems:
        if s.unit_id not in units:
            found.append(f"systems.{s.id}: owner unit {s.unit_id!r} is not a registered unit")
        if s.important and s.monitoring_deadline is None:
            found.append(f"systems.{s.id}: an important system needs a monitoring deadline")
    known_formats = set(formats.names())
    for src in registry.sources:
        if src.system_id not in systems:
            found.append(f"sources.{src.id}: system {src.system_id!r} is not a registered system")
        if src.format and src.format not in known_formats:
            found.append(
                f"sources.{src.id}: unknown format {src.format!r} (known: {', '.join(sorted(known_formats))})"
            )
    for e in registry.endpoints:
        if e.unit_id not in units:
            found.append(f"endpoints.{e.id}: unit {e.unit_id!r} is not a registered unit")
    for t in registry.targets:
        if t.unit_id and t.unit_id not in units:
            found.append(f"targets.{t.id}: unit {t.unit_id!r} is not a registered unit")
    return found


def merge(base: Registry, incoming: Registry) -> Registry:
    """`incoming` entries replace same-id entries of `base`; a source without a new token keeps its hash."""
    parts: dict[str, list[Any]] = {}
    for kind in KINDS:
        merged = {item.id: item for item in getattr(base, kind)}
        for item in getattr(incoming, kind):
            old = merged.get(item.id)
            if kind == "sources" and old is not None and item.token_sha256 is None:
                item = item.model_copy(update={"token_sha256": old.token_sha256})
            merged[item.id] = item
        parts[kind] = list(merged.values())
    return Registry(**parts)


def apply_import(store: RegistryStore, incoming: Registry) -> Registry:
    """Validate the merged registry and write the incoming entries; raises RegistryInvalid."""
    merged = merge(store.load_registry(), incoming)
    issues = problems(merged)
    if issues:
        raise RegistryInvalid(issues)
    incoming_ids = {k: {x.id for x in getattr(incoming, k)} for k in KINDS}
    store.save_registry(
        Registry(**{k: [i for i in getattr(merged, k) if i.id in incoming_ids[k]] for k in KINDS})
    )
    return merged


def summary(registry: Registry) -> dict[str, int]:
    """How many entries of each kind, as an import reports it."""
    return {k: len(getattr(registry, k)) for k in KINDS}


def record_change(
    store: Store, user: Principal, action: str, target_id: str | None, ip: str | None, details: dict[str, Any]
) -> None:
    """Every registry change goes to the audit log: who, when, what, from what, to what."""
    audit.record(
        store=store,
        actor=user.username,
        action=action,
        target_type="registry",
        target_id=target_id,
        ip=ip,
        details=details,
    )


def import_entries(
    *,
    store: Store,
    reload: Callable[[], object],
    incoming: Registry,
    user: Principal,
    ip: str | None,
    details: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Apply an import (all or nothing), `reload` the cache ingest reads, audit it; the counts per kind."""
    apply_import(store, incoming)
    reload()
    counts = summary(incoming)
    record_change(store, user, "registry.import", None, ip, {**(details or {}), **counts})
    return counts


def delete_entry(store: RegistryStore, kind: str, entry_id: str) -> None:
    """Delete one entry unless others still refer to it."""
    current = store.load_registry()
    remaining = current.model_copy(update={kind: [i for i in getattr(current, kind) if i.id != entry_id]})
    dangling = [p for p in problems(remaining) if p not in problems(current)]
    if dangling:
        raise RegistryInvalid([f"cannot delete {kind}.{entry_id}: {p}" for p in dangling])
    if not store.delete_registry_entry(kind, entry_id):
        raise RegistryInvalid([f"{kind}.{entry_id} does not exist"])


def parse_yaml(text: str) -> Registry:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RegistryInvalid([f"not valid YAML: {exc}"]) from None
    return _validate(data)


def _validate(data: Any) -> Registry:
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryInvalid(
            [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        ) from None


def parse_csv(kind: str, text: str) -> Registry:
    """One kind per CSV file; columns are the model's field names; empty cells mean 'not set'."""
    if kind not in KINDS:
        raise RegistryInvalid([f"unknown kind {kind!r} (known: {', '.join(KINDS)})"])
    rows = [
        {k: cells.unescape(v) for k, v in row.items() if v not in ("", None)}
        for row in csv.DictReader(io.StringIO(text))
    ]
    return _validate({kind: rows})


def to_yaml(registry: Registry) -> str:
    return yaml.safe_dump(
        registry.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False
    )


def to_csv(registry: Registry, kind: str) -> str:
    """One kind as CSV; text a spreadsheet would run as a formula is escaped (`api.reports.cells`)."""
    model = KINDS[kind]
    fields = [f for f in model.model_fields if f != "token"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for item in _items(registry, kind):
        values = item.model_dump(mode="json").items()
        writer.writerow({k: "" if v is None else cells.escape(v) for k, v in values})
    return out.getvalue()


def _items(registry: Registry, kind: str) -> Iterable[BaseModel]:
    items: list[BaseModel] = getattr(registry, kind)
    return items
