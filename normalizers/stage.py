"""The normalize stage: RawRecord -> Event, or a DeadLetter with the reason. Never raises per record.

The stage owns what every format shares: identity (the event id is the record id), attribution
(`soc.*` from the registry, never from the payload), `event.original`, `event.ingested`, and
validation against the ECS schema for formats whose documents carry payload structure (see
`Normalizer.typed_output`). A parser bug is a dead letter too (reason names the exception), so
one broken record never stops a stream; it is counted and kept for an operator.

Before any parser sees a record, its size and (for a JSON payload) its nesting are checked
(`soc_core.guards`): a record nested deeper than the pipeline can write, or larger than a record
may be, is a dead letter here rather than a failure of whichever stage first tries to write it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from normalizers import registry
from normalizers.base import VIETNAM, Normalizer, ParseContext
from normalizers.evtx_json import EvtxJson
from normalizers.windows_ecs import WinEvent, compose, to_flat
from soc_core.ecs_fields import ECS_VERSION
from soc_core.errors import ConfigError, NormalizeError, RecordRefused
from soc_core.event import DeferredEvent, Event, Soc, SocSource, SocSystem, SocUnit, utcnow, validate_ecs
from soc_core.flat import flatten_into, json_time
from soc_core.guards import DEFAULT_MAX_DEPTH, check_depth, check_size, looks_like_json
from soc_core.metrics import UNKNOWN_SOURCE
from soc_core.records import DeadLetter, RawRecord
from soc_core.registry import SourceContext

#: The operating-system family (ECS `host.os.type`) of the hosts each format's records come from;
#: formats of network devices and cross-platform servers (CEF, FortiGate, ASA, web, BIND) name none.
OS_TYPES: dict[str, str] = {
    "winlogbeat": "windows",
    "evtx_json": "windows",
    "nxlog_windows": "windows",
    "iis_w3c": "windows",
    "auditd": "linux",
    "journald": "linux",
    "linux_syslog": "linux",
}

SourceLookup = Callable[[str], SourceContext | None]
#: Who a record came from: source id, unit id, system id, evidence (`RawRecord`'s fields).
Attribution = tuple[str, str | None, str | None, dict[str, Any] | None]
#: The record itself: its id, its payload, when it was received.
Identity = tuple[str, str, datetime]


def _no_registry(source_id: str) -> SourceContext | None:
    return None


class NormalizeStage:
    """Pure: no I/O. `lookup` maps a source id to its registry context (may return None); records
    nested deeper than `max_depth` or larger than `max_bytes` (None: no check) are dead letters."""

    def __init__(
        self,
        lookup: SourceLookup = _no_registry,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_bytes: int | None = None,
    ) -> None:
        self._lookup = lookup
        self._max_depth = max_depth
        self._max_bytes = max_bytes
        self._zones: dict[str, ZoneInfo] = {}
        self._soc: dict[tuple[str, str | None, str | None, str, SourceContext | None], dict[str, Any]] = {}
        #: `soc` documents' flat views by the document's id (the document held: the id stays its own)
        self._soc_views: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        #: `_soc_flat`'s last answer with what it was asked: source, unit, system, context, format
        self._last_soc_view: (
            tuple[str, str | None, str | None, SourceContext | None, str, dict[str, Any]] | None
        ) = None
        #: `_view_times`' last answer and the set it was for
        self._times_for: tuple[frozenset[str], tuple[bool, bool, bool]] | None = None

    def _zone(self, name: str) -> ZoneInfo:
        zone = self._zones.get(name)
        if zone is None:
            zone = self._zones[name] = ZoneInfo(name) if name != "Asia/Ho_Chi_Minh" else VIETNAM
        return zone

    def __call__(self, record: RawRecord) -> Event | DeadLetter:
        return self.normalize(
            record.payload,
            record_id=record.id,
            source_id=record.source_id,
            format_name=record.format,
            received_at=record.received_at,
            unit_id=record.unit_id,
            system_id=record.system_id,
            evidence=record.evidence,
        )

    def normalize(
        self,
        payload: str,
        *,
        record_id: str,
        source_id: str,
        format_name: str | None,
        received_at: datetime,
        unit_id: str | None = None,
        system_id: str | None = None,
        evidence: dict[str, Any] | None = None,
        nesting_bounded: bool = False,
        deferred: bool = False,
        reads: frozenset[str] | None = None,
    ) -> Event | DeadLetter:
        """`stage(record)` from the record's fields, for a caller that holds them already: the
        offline command reads its records itself, and validating a `RawRecord` per record (what
        comes from outside must be) was a twentieth of its time.

        `nesting_bounded`: the caller vouches that the payload's nesting cannot reach the document
        (the offline command's `.evtx` records, JSON the `evtx` package rendered): the depth guard
        is then skipped when the chosen normalizer has `typed_output`, whose documents have a fixed
        depth whatever the payload's (values become strings; orjson refuses over 1,024 levels, a
        parse error, still a dead letter). A format that passes payload structure on (`ecs`) is
        checked all the same. The guard scanned every such record (a Windows event has more
        brackets than the limit) for a twenty-eighth of `socpipe detect`'s time.

        `deferred`: the caller reads the event's flat view first and its document perhaps never
        (the offline command: only events that alert or feed a correlation need it). An evtx-JSON
        record without evidence then gives a `DeferredEvent`: its flat view written directly
        (`windows_ecs.to_flat`), its document built on first use by this very path, the same
        bytes. Every failure of the record happens here all the same (the mapping runs for the
        flat view), so a record is a dead letter or an event exactly as without `deferred`.

        `reads` (with `deferred`): every flat field the view's reader may read (the detection
        engine's `read_fields()`); the event's times (`@timestamp`, `event.ingested`,
        `event.created`) are then left out of the view unless one of them is read. Rendering the
        three as text was about three percent of `socpipe detect`, and no rule reads them; the
        document, when it is built, has them all (`event.ingested` then the time it is built, as
        `_finish` stamps it on the normal path)."""
        ctx = self._lookup(source_id)
        format_name = format_name or (ctx.format if ctx else None)
        try:
            if self._max_bytes is not None:
                check_size(payload, self._max_bytes)
            if not nesting_bounded:
                self._check_depth(payload)
            normalizer = self._choose(format_name, payload)
            if nesting_bounded and not normalizer.typed_output:
                self._check_depth(payload)
            identity = (record_id, payload, received_at)
            attribution = (source_id, unit_id, system_id, evidence)
            if deferred and evidence is None and type(normalizer) is EvtxJson:
                win = normalizer.win_event(payload)  # the one evtx-JSON parse, without the context
                return self._deferred(win, identity, attribution, ctx, normalizer, reads)
            parse_ctx = ParseContext(
                received_at=received_at,
                timezone=self._zone(ctx.timezone) if ctx else VIETNAM,
                source_id=source_id,
            )
            doc = normalizer.parse(payload, parse_ctx)
            return self._finish(doc, identity, attribution, ctx, normalizer)
        except (NormalizeError, ConfigError, RecordRefused) as exc:
            return self._dead(record_id, source_id, payload, format_name, str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reason = f"invalid ECS field {where}: {first['msg']}"
            return self._dead(record_id, source_id, payload, format_name, reason)
        except Exception as exc:  # a parser bug must not stop the stream: dead-letter it, named
            reason = f"parser error {type(exc).__name__}: {exc}"
            return self._dead(record_id, source_id, payload, format_name, reason)

    def metric_labels(self, source_id: str, format_name: str | None) -> tuple[str, str]:
        """The `source` and `format` labels of a record's outcome metrics: a source the registry
        does not know and a format no normalizer has are `unknown`. Whoever can write to Kafka can
        name any source (the topic `soc.raw.<anything>`, a record envelope) and any format; the
        dead letter keeps the name, a label would make it a series for ever."""
        source = source_id if self._lookup(source_id) is not None else UNKNOWN_SOURCE
        if not format_name:
            return source, ""
        return source, format_name if format_name in registry.FORMATS else UNKNOWN_SOURCE

    def _check_depth(self, payload: str) -> None:
        if looks_like_json(payload):
            check_depth(payload, self._max_depth)

    @staticmethod
    def _choose(format_name: str | None, payload: str) -> Normalizer:
        if format_name:
            return registry.get(format_name)
        sniffed = registry.sniff(payload)
        if sniffed is None:
            raise NormalizeError("no format declared for the source and none recognised the record")
        return sniffed

    def _soc_for(self, attribution: Attribution, ctx: SourceContext | None, fmt: str) -> dict[str, Any]:
        """The provincial context of a source as its document: built once per source and format,
        not per event (a model and its dump per record were a tenth of the stage's time). The
        dict is shared by the source's events, never changed; evidence is per record."""
        source_id, unit_id, system_id, evidence = attribution
        key = (source_id, unit_id, system_id, fmt, ctx)
        soc = self._soc.get(key)
        if soc is None:
            if len(self._soc) > 10_000:  # registry reloads make new keys; keep the cache bounded
                self._soc.clear()
            soc = self._soc[key] = Soc(
                unit=SocUnit(
                    id=unit_id or (ctx.unit_id if ctx else None), name=ctx.unit_name if ctx else None
                ),
                system=SocSystem(
                    id=system_id or (ctx.system_id if ctx else None),
                    name=ctx.system_name if ctx else None,
                    level=ctx.system_level if ctx else None,
                ),
                source=SocSource(id=source_id, format=fmt),
            ).to_doc()
        if evidence is not None:
            return {**soc, "evidence": Soc(evidence=evidence).to_doc()["evidence"]}
        return soc

    def _finish(
        self,
        doc: dict[str, Any],
        identity: Identity,
        attribution: Attribution,
        ctx: SourceContext | None,
        normalizer: Normalizer,
        ingested: datetime | None = None,
    ) -> Event:
        """Identity, attribution and the original record; validation unless the parser's output is
        typed. `ingested`: `event.ingested` (default: now)."""
        record_id, payload, received_at = identity
        meta = doc.get("event")
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta["id"] = record_id
        meta.setdefault("original", payload)
        meta["ingested"] = ingested if ingested is not None else utcnow()
        meta.setdefault("created", received_at)
        doc["event"] = meta
        # ECS's required `ecs.version`, and the host's OS family Kibana's Security app filters by;
        # an ECS payload's own values are kept
        doc.setdefault("ecs", {"version": ECS_VERSION})
        os_type = OS_TYPES.get(normalizer.name)
        if os_type is not None:
            host = doc.get("host")
            host = dict(host) if isinstance(host, dict) else {}
            os_doc = host.get("os")
            host["os"] = {"type": os_type, **(os_doc if isinstance(os_doc, dict) else {})}
            doc["host"] = host
        if not normalizer.typed_output:
            doc = validate_ecs(doc)
        doc["soc"] = self._soc_for(attribution, ctx, normalizer.name)
        return Event(doc)

    def _deferred(
        self,
        win: WinEvent,
        identity: Identity,
        attribution: Attribution,
        ctx: SourceContext | None,
        normalizer: Normalizer,
        reads: frozenset[str] | None = None,
    ) -> Event:
        """`_finish(to_ecs(win), ...)` as a `DeferredEvent`: the flat view of that document now,
        the document on first use. What `_finish` adds is written into the view where the
        document has it (Windows mappers set no `event.id`/`original`/`ingested`/`created`, no
        `ecs`, no `host`: the view mirrors the document's `setdefault`s as plain writes)."""
        record_id, payload, received_at = identity
        os_type = OS_TYPES.get(normalizer.name)
        timestamp, with_ingested, with_created = self._view_times(reads)
        # `utcnow()`, without a call into an interpreted module; when the view leaves it out, the
        # document takes its own when it is built (`_finish`), as on the normal path
        ingested = datetime.now(UTC) if with_ingested else None

        def stamp(out: dict[str, Any]) -> None:
            out["event.id"] = record_id
            out["event.original"] = payload
            if ingested is not None:
                out["event.ingested"] = json_time(ingested)
            if with_created:
                out["event.created"] = json_time(received_at)

        flat: dict[str, Any] = {}
        mapped = to_flat(win, flat, stamp, os_type, timestamp=timestamp)

        def build() -> dict[str, Any]:
            doc = compose(win, mapped)  # `to_ecs(win)`, its mapping already made for the view
            return self._finish(doc, identity, attribution, ctx, normalizer, ingested).doc

        flat["ecs.version"] = ECS_VERSION
        if os_type is not None and not win.computer:  # `_finish` adds `host` after `ecs`
            flat["host.os.type"] = os_type
        flat.update(self._soc_flat(attribution, ctx, normalizer.name))
        return DeferredEvent(flat, build)

    def _view_times(self, reads: frozenset[str] | None) -> tuple[bool, bool, bool]:
        """Whether the flat view holds `@timestamp`, `event.ingested`, `event.created` for a
        reader of `reads` (None: every field), worked out once per set."""
        if reads is None:
            return True, True, True
        known = self._times_for
        if known is None or known[0] is not reads:
            flags = ("@timestamp" in reads, "event.ingested" in reads, "event.created" in reads)
            known = self._times_for = (reads, flags)
        return known[1]

    def _soc_flat(self, attribution: Attribution, ctx: SourceContext | None, fmt: str) -> dict[str, Any]:
        """The flat view of a source's `soc` document (no evidence), built once like the document.

        The view of the previous record is kept with the very objects it was made for: a reader
        of a file (`socpipe detect`) passes the same source, unit, system and context for each of
        its records, and finding them again by identity costs a few comparisons where the key
        tuple, its hash and two lookups were about one percent of the command."""
        source_id, unit_id, system_id, _ = attribution
        last = self._last_soc_view
        if (
            last is not None
            and last[0] is source_id
            and last[1] is unit_id
            and last[2] is system_id
            and last[3] is ctx
            and last[4] is fmt
        ):
            return last[5]
        view = self._soc_view(attribution, ctx, fmt)
        self._last_soc_view = (source_id, unit_id, system_id, ctx, fmt, view)
        return view

    def _soc_view(self, attribution: Attribution, ctx: SourceContext | None, fmt: str) -> dict[str, Any]:
        soc = self._soc_for(attribution, ctx, fmt)
        key = id(soc)
        found = self._soc_views.get(key)
        if found is None or found[0] is not soc:
            if len(self._soc_views) > 10_000:
                self._soc_views.clear()
            view: dict[str, Any] = {}
            flatten_into(soc, "soc.", view)
            found = self._soc_views[key] = (soc, view)
        return found[1]

    @staticmethod
    def _dead(
        record_id: str, source_id: str, payload: str, format_name: str | None, reason: str
    ) -> DeadLetter:
        return DeadLetter(
            id=record_id,
            source_id=source_id,
            stage="normalize",
            format_tried=format_name,
            reason=reason,
            raw=payload,
        )
