"""Elasticsearch adapter of the `Store` port (distributed mode).

- Events go to `<prefix>events-YYYY.MM.DD`, chosen by the event's own time (UTC), so a retry of
  the same event lands in the same index and `op_type=create` turns it into a 409 "duplicate".
- Mappings cannot explode: `dynamic: false` at the root, so fields we do not map are kept in
  `_source` but never indexed; `winlog.event_data` is one `flattened` field (bounded mapping,
  every EventData key still searchable); `event.original` is stored, not indexed.
- Bulk items that fail with 429 are retried with backoff; items that can never succeed
  (mapping/parsing errors) are reported as permanent failures for the caller to dead-letter.
"""

from __future__ import annotations

import base64
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError
from elasticsearch.serializer import JsonSerializer, NdjsonSerializer, OrjsonSerializer
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from soc_core.alert import Alert, AlertRepeat, Incident, Triage, alert_group
from soc_core.errors import StoreError
from soc_core.event import Event
from soc_core.kql import ALERT_FIELDS, EVENT_FIELDS
from soc_core.kql.text import search_text
from soc_core.records import DeadLetter
from soc_core.registry import REGISTRY_KINDS, Registry
from soc_core.settings import DEFAULT_ES_BULK_REQUESTS, DEFAULT_ES_READ_RETRY_S, DEFAULT_ES_REFRESH_INTERVAL
from soc_core.store import (
    MAX_GROUP_MEMBERS,
    AlertGroup,
    AlertQuery,
    AlertSearch,
    ApiTokenRecord,
    AuditEntry,
    AuditQuery,
    DeadLetterQuery,
    EventQuery,
    FacetBucket,
    HistogramBucket,
    IncidentQuery,
    OpenAlertQuery,
    Page,
    SessionRecord,
    SourceActivity,
    UserRecord,
    WriteResult,
    check_histogram,
    group_runs,
)
from stores.elastic.alert_document import (
    ALERT_RENAMED,
    ECS_MARK,
    LEGACY_ADDITIONS,
    alert_mapping,
    document_for,
    from_document,
    is_ecs_index,
    to_document,
)
from stores.elastic.event_template import (  # noqa: F401  (EVENT_MAPPING: moved, still importable)
    EVENT_MAPPING,
    EVENT_RENAMED,
    LEGACY_SEARCH_FIELDS,
    SEARCH_FIELDS,
    event_mapping_for,
)
from stores.elastic.kql import SEARCH_FIELD, compile_query
from stores.elastic.retry import retrying_transport

KW: dict[str, Any] = {"type": "keyword", "ignore_above": 4096}
STORED_ONLY: dict[str, Any] = {"type": "keyword", "index": False, "doc_values": False}
DATE: dict[str, Any] = {"type": "date"}
LONG: dict[str, Any] = {"type": "long"}
IP: dict[str, Any] = {"type": "ip"}


def _obj(**props: dict[str, Any]) -> dict[str, Any]:
    return {"properties": props}


SOC_MAPPING = _obj(
    unit=_obj(id=KW, name=KW),
    system=_obj(id=KW, name=KW, level=LONG),
    source=_obj(id=KW, format=KW),
    evidence={"type": "flattened"},
)

# Alerts: ECS documents over the event mapping (stores/elastic/alert_document.py says the shape).
ALERT_MAPPING: dict[str, Any] = alert_mapping(EVENT_MAPPING)

DEADLETTER_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": KW,
        "source_id": KW,
        "stage": KW,
        "format_tried": KW,
        "reason": {"type": "text"},
        "raw": STORED_ONLY,
        "at": DATE,
    },
}

REGISTRY_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"kind": KW, "id": KW, "token_sha256": KW, "doc": {"type": "object", "enabled": False}},
}

INCIDENT_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": KW,
        "title": {"type": "text", "fields": {"raw": KW}},
        "description": {"type": "text"},
        "severity": KW,
        "status": KW,
        "owner": KW,
        "unit_ids": KW,
        "system_ids": KW,
        "alert_ids": KW,
        "created_at": DATE,
        "updated_at": DATE,
        "detected_at": DATE,
        "acknowledged_at": DATE,
        "resolved_at": DATE,
        "entries": {"type": "object", "enabled": False},
    },
}

USER_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"id": KW, "username": KW, "role": KW, "active": {"type": "boolean"}},
}
SESSION_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"token_sha256": KW, "user_id": KW, "expires_at": DATE},
}
TOKEN_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {"id": KW, "name": KW, "role": KW, "token_sha256": KW, "revoked": {"type": "boolean"}},
}
LOGIN_FAILURE_MAPPING: dict[str, Any] = {"dynamic": False, "properties": {"key": KW, "at": DATE}}
AUDIT_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "id": KW,
        "at": DATE,
        "actor": KW,
        "action": KW,
        "target_type": KW,
        "target_id": KW,
        "ip": KW,
        "details": {"type": "object", "enabled": False},
    },
}

# facet name -> keyword field of the alert documents
ES_FACETS: dict[str, str] = {
    "severity": "severity",
    "status": "triage.status",
    "rule": "rule.id",
    "unit": "soc.unit.id",
    "system": "soc.system.id",
    "host": "host.name",
    "user": "user.name",
    "checklist": "checklist",
    "technique": "threat.technique.id",
    "assignee": "triage.assignee",
}

#: Above this many groups the collapsed queue's total is approximate (cardinality's exact range).
GROUP_COUNT_PRECISION = 40_000


def origin_filter(origin: str) -> list[dict[str, Any]]:
    """Evidence-file alerts carry `soc.evidence`; live ones do not (`soc_core.alert.Alert.origin`)."""
    if origin == "live":
        return [{"bool": {"must_not": [{"exists": {"field": "soc.evidence"}}]}}]
    if origin == "evidence":
        return [{"exists": {"field": "soc.evidence"}}]
    return []


def index_settings(
    shards: int = 1, replicas: int = 0, refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL
) -> dict[str, Any]:
    """Settings of our indices: `shards` primaries (the time-series kinds may have more; the single
    indices have one), `replicas` copies of each and their refresh interval (`SOC_ES_SHARDS`,
    `SOC_ES_REPLICAS`, `SOC_ES_REFRESH_INTERVAL`)."""
    return {
        "number_of_shards": shards,
        "number_of_replicas": replicas,
        "refresh_interval": refresh_interval,
        "mapping": {"ignore_malformed": True, "total_fields": {"limit": 2000}},
    }


#: A single node's settings (tests that build an index the way the store does).
INDEX_SETTINGS: dict[str, Any] = index_settings()


#: Documents per bulk request as a batch streams out (what Elasticsearch alone is measured with in
#: `bench/bench_e2e.py`); resent items are not split into requests of fewer than `BULK_MIN_ITEMS`.
BULK_ITEMS = 500
BULK_MIN_ITEMS = 250


class _Retryable(Exception):
    """Some bulk items were rejected with 429 (or the cluster was briefly unavailable)."""


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)


@dataclass(frozen=True)
class EsAuth:
    """Credentials and trust for a secured cluster (`SOC_ES_API_KEY` or `SOC_ES_USERNAME`/`_PASSWORD`,
    `SOC_ES_CA_CERTS`); the default is the local server's plain HTTP."""

    api_key: str | None = None
    username: str = ""
    password: str = ""
    ca_certs: Path | None = None

    def client_options(self) -> dict[str, Any]:
        """elasticsearch-py's keyword arguments; certificates and host names are verified (the
        client's default, kept)."""
        options: dict[str, Any] = {}
        if self.api_key is not None:
            options["api_key"] = self.api_key
        elif self.username:
            options["basic_auth"] = (self.username, self.password)
        if self.ca_certs is not None:
            options["ca_certs"] = str(self.ca_certs)
        return options


class OrjsonNdjsonSerializer(OrjsonSerializer, NdjsonSerializer):
    """Bulk bodies encoded with orjson: about 5 µs a document instead of the standard library's 33
    (a tenth of the index worker's CPU in bench/bench_e2e.py); what we index is orjson's own
    output between stages, so it encodes the same. Lines given as bytes are sent as they are."""

    mimetype = "application/x-ndjson"


class OrjsonReadingSerializer(JsonSerializer):
    """JSON responses parsed by orjson (a bulk response of 2,000 items took the standard library
    a few milliseconds: 3% of the index worker); requests are still encoded by the client's
    default, whose handling of dates, decimals and non-string keys the queries rely on."""

    def json_loads(self, data: bytes) -> Any:
        return orjson.loads(data)


def connect(
    url: str | Sequence[str],
    *,
    request_timeout: float = 30.0,
    read_retry_s: float = DEFAULT_ES_READ_RETRY_S,
    auth: EsAuth | None = None,
) -> Elasticsearch:
    """The client every adapter of the backend shares: retries on timeouts, three at most, and reads
    wait out 429/503 answers for up to `read_retry_s` (`stores.elastic.retry`). Given a cluster's
    nodes (`url` a list), requests go round-robin; a node that fails to answer is set aside for a
    while and the request is sent to another."""
    return Elasticsearch(
        url if isinstance(url, str) else list(url),
        request_timeout=request_timeout,
        retry_on_timeout=True,
        max_retries=3,
        transport_class=retrying_transport(read_retry_s),
        serializers={
            OrjsonNdjsonSerializer.mimetype: OrjsonNdjsonSerializer(),
            OrjsonReadingSerializer.mimetype: OrjsonReadingSerializer(),
        },
        **(auth or EsAuth()).client_options(),
    )


class ElasticStore:
    def __init__(
        self,
        es: Elasticsearch | str,
        *,
        prefix: str = "soc-",
        shards: int = 1,
        replicas: int = 0,
        refresh_interval: str = DEFAULT_ES_REFRESH_INTERVAL,
        bulk_requests: int = DEFAULT_ES_BULK_REQUESTS,
    ) -> None:
        self.prefix = prefix
        self.bulk_requests = bulk_requests
        self._pool: ThreadPoolExecutor | None = None  # the bulk requests' threads, made on first need
        self._pool_lock = threading.Lock()  # the index worker writes events and alerts from two threads
        self._event_indices: dict[date, str] = {}
        self.refresh_interval = refresh_interval
        self.series_settings = index_settings(shards, replicas, refresh_interval)
        self.single_settings = index_settings(1, replicas, refresh_interval)
        self.es = connect(es) if isinstance(es, str) else es
        self._legacy_alert_indices: frozenset[str] | None = None  # asked once: none are created now

    # -- names ----------------------------------------------------------------------------------

    def event_index(self, ts: datetime) -> str:
        """The daily index of an event's UTC day (named once a day: this is asked for every event)."""
        day = (ts.astimezone(UTC) if ts.utcoffset() else ts).date()
        name = self._event_indices.get(day)
        if name is None:
            if len(self._event_indices) >= 1024:  # a replay of years of events
                self._event_indices.clear()
            name = self._event_indices[day] = f"{self.prefix}events-{day:%Y.%m.%d}"
        return name

    def alert_index(self, ts: datetime) -> str:
        """Where an alert is written: the ECS-shaped index of its month."""
        return f"{self.prefix}alerts-{ECS_MARK}{_utc(ts):%Y.%m}"

    def legacy_alert_index(self, ts: datetime) -> str:
        """Where an alert of that month was written before issue 18 (the old shape)."""
        return f"{self.prefix}alerts-{_utc(ts):%Y.%m}"

    def deadletter_index(self, ts: datetime) -> str:
        return f"{self.prefix}deadletters-{_utc(ts):%Y.%m}"

    @property
    def registry_index(self) -> str:
        return f"{self.prefix}registry"

    # -- lifecycle ------------------------------------------------------------------------------

    def setup(self) -> None:
        try:
            # ECS types this cluster lacks (wildcard, match_only_text) fall back to core ones
            events = event_mapping_for(self.es)
            templates = {
                "events": events,
                "alerts": alert_mapping(events),  # over the events' own: the triggering event's fields
                "deadletters": DEADLETTER_MAPPING,
                "audit": AUDIT_MAPPING,
            }
            for name, mapping in templates.items():
                # alerts: only the ECS-shaped indices; the old ones keep their own mapping
                mark = ECS_MARK if name == "alerts" else ""
                self.es.indices.put_index_template(
                    name=f"{self.prefix}{name}",
                    index_patterns=[f"{self.prefix}{name}-{mark}*"],
                    template={"settings": self.series_settings, "mappings": mapping},
                    priority=200,
                )
            if not self.es.indices.exists(index=self.registry_index):
                self.es.indices.create(
                    index=self.registry_index, settings=self.single_settings, mappings=REGISTRY_MAPPING
                )
        except ApiError as exc:
            if "resource_already_exists" not in str(exc):
                raise StoreError(f"cannot set up Elasticsearch: {exc}", prefix=self.prefix) from exc
        except TransportError as exc:
            raise StoreError(f"Elasticsearch unreachable: {exc}", prefix=self.prefix) from exc
        self._setup_triage()
        self._backfill_groups()

    def health(self) -> dict[str, str]:
        try:
            health = self.es.cluster.health(timeout="2s")
        except (ApiError, TransportError) as exc:
            return {"elasticsearch": f"down: {exc}"}
        return {"elasticsearch": f"ok ({health['status']})"}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        self.es.close()

    def refresh(self) -> None:
        self.es.indices.refresh(index=f"{self.prefix}*")

    # -- writes ---------------------------------------------------------------------------------

    def _bulk_create(self, docs: Iterable[tuple[str, str, dict[str, Any] | bytes]]) -> WriteResult:
        """Create each (index, id, document) that is not there yet; a document may be its JSON.

        `docs` is taken as it comes, `BULK_ITEMS` at a time, each slice sent as soon as it is
        ready with up to `bulk_requests` requests in flight: Elasticsearch indexes the first
        documents of a batch while the rest are still being decoded and written out (the index
        worker hands its events over as it decodes them), where a batch sent whole left it idle
        for the worker's share of every batch; and it indexes one request's items for a shard on
        one write thread, so several requests at once keep its other threads busy
        (`bench/bench_e2e.py`). Items refused for now (429, unavailable) are sent again, with
        backoff; a request refused outright is a `StoreError`."""
        result = WriteResult()
        pending: list[tuple[str, str, dict[str, Any] | bytes]] | None = None  # None: not sent yet

        @retry(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(6),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        )
        def attempt() -> None:
            nonlocal pending
            retry_later: list[tuple[str, str, dict[str, Any] | bytes]] = []
            if pending is None:
                self._stream_bulk(docs, result, retry_later)
            else:
                chunks = self._bulk_chunks(pending)
                answers = list(self._bulk_pool().map(self._send_bulk, chunks))
                refused = None
                for chunk, answer in zip(chunks, answers, strict=True):
                    refused = _settle(answer, chunk, result, retry_later) or refused
                if refused is not None:
                    raise refused
            pending = retry_later
            if pending:
                raise _Retryable(f"{len(pending)} bulk items to retry")

        try:
            attempt()
        except _Retryable as exc:
            raise StoreError(f"Elasticsearch kept refusing writes: {exc}", prefix=self.prefix) from exc
        return result

    def _stream_bulk(
        self,
        docs: Iterable[tuple[str, str, dict[str, Any] | bytes]],
        result: WriteResult,
        retry_later: list[tuple[str, str, dict[str, Any] | bytes]],
    ) -> None:
        """`docs` sent in slices of `BULK_ITEMS` as they come, `bulk_requests` at once; answers
        counted into `result`, the items to send again into `retry_later`. A request refused
        outright raises once every request in flight has answered, as does whatever went wrong
        while `docs` were produced (every request sent is counted first)."""
        refused: StoreError | None = None
        in_flight: deque[tuple[list[tuple[str, str, dict[str, Any] | bytes]], Future[Any]]] = deque()
        items = iter(docs)
        try:
            while chunk := list(islice(items, BULK_ITEMS)):
                while len(in_flight) >= self.bulk_requests:
                    sent, answer = in_flight.popleft()
                    refused = _settle(answer.result(), sent, result, retry_later) or refused
                in_flight.append((chunk, self._bulk_pool().submit(self._send_bulk, chunk)))
        finally:
            wait([answer for _, answer in in_flight])  # every request sent answers before a raise
            for sent, answer in in_flight:
                refused = _settle(answer.result(), sent, result, retry_later) or refused
        if refused is not None:
            raise refused

    def _bulk_chunks(
        self, pending: list[tuple[str, str, dict[str, Any] | bytes]]
    ) -> list[list[tuple[str, str, dict[str, Any] | bytes]]]:
        """`pending` in up to `bulk_requests` slices of at least `BULK_MIN_ITEMS` (small batches go whole)."""
        count = max(1, min(self.bulk_requests, len(pending) // BULK_MIN_ITEMS))
        step = -(-len(pending) // count)
        return [pending[i : i + step] for i in range(0, len(pending), step)]

    def _bulk_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.bulk_requests, thread_name_prefix="es-bulk")
            return self._pool

    def _send_bulk(
        self, chunk: list[tuple[str, str, dict[str, Any] | bytes]]
    ) -> dict[str, Any] | _Retryable | StoreError:
        """One bulk request; what went wrong is returned, so the other requests' answers still count."""
        ops: list[Any] = []
        for index, doc_id, doc in chunk:
            ops.append({"create": {"_index": index, "_id": doc_id}})
            ops.append(doc)
        try:
            return dict(self.es.bulk(operations=ops, refresh=False))
        except TransportError as exc:
            return _Retryable(str(exc))
        except ApiError as exc:
            if exc.status_code in (429, 503):
                return _Retryable(str(exc))
            refused = StoreError(
                f"bulk request refused: {exc}", prefix=self.prefix, status=str(exc.status_code)
            )
            refused.__cause__ = exc
            return refused

    def put_events(self, events: Iterable[Event]) -> WriteResult:
        """Streams: each slice of `events` goes out as soon as it is ready (`_bulk_create`)."""
        return self._bulk_create((self.event_index(e.timestamp), e.id, _searchable_json(e)) for e in events)

    def put_alerts(self, alerts: Sequence[Alert]) -> WriteResult:
        """Alerts a replay raises again that were stored before issue 18, in an old-shape index of
        their month, are duplicates there: a create in the ECS index would not see them."""
        stored = self._stored_in_legacy(alerts)
        result = self._bulk_create(
            (self.alert_index(a.timestamp), a.id, to_document(a)) for a in alerts if a.id not in stored
        )
        result.duplicates += sum(1 for a in alerts if a.id in stored)
        return result

    def _stored_in_legacy(self, alerts: Sequence[Alert]) -> set[str]:
        if self._legacy_alert_indices is None:
            try:
                names = self.es.indices.get_alias(
                    index=f"{self.prefix}alerts-*", ignore_unavailable=True, allow_no_indices=True
                )
            except (ApiError, TransportError) as exc:
                raise StoreError(f"alert index listing failed: {exc}", prefix=self.prefix) from exc
            self._legacy_alert_indices = frozenset(n for n in names if not is_ecs_index(n, self.prefix))
        by_index: dict[str, list[str]] = {}
        for alert in alerts:
            index = self.legacy_alert_index(alert.timestamp)
            if index in self._legacy_alert_indices:
                by_index.setdefault(index, []).append(alert.id)
        found: set[str] = set()
        for index, ids in by_index.items():
            try:
                resp = self.es.mget(index=index, ids=ids, source=False)
            except (ApiError, TransportError) as exc:
                raise StoreError(f"alert lookup failed: {exc}", index=index) from exc
            found.update(d["_id"] for d in resp["docs"] if d.get("found"))
        return found

    def record_repeats(self, repeats: Sequence[AlertRepeat]) -> int:
        """Read-modify-write with optimistic concurrency (no painless in this Elasticsearch build), a
        batch in two round trips whatever its size: one mget of the alerts its repeats name, one bulk
        of the changed ones, each conditional on the version read; an alert changed in between
        (triage) is read and folded again. One request per repeat made the index worker wait on
        Elasticsearch for most of its time (bench/bench_e2e.py, issue 17). Returns the repeats that
        changed their alert."""
        pending: dict[tuple[str, str], list[AlertRepeat]] = {}
        for repeat in repeats:  # in order: an alert's repeats fold one after another
            pending.setdefault((self.alert_index(repeat.first_seen), repeat.alert_id), []).append(repeat)
        changed = 0
        for _attempt in range(5):
            if not pending:
                return changed
            folded, ops = self._fold_repeats(pending)
            if not ops:
                return changed
            try:
                resp = self.es.bulk(operations=ops, refresh=False)
            except (ApiError, TransportError) as exc:
                raise StoreError(f"alert repeats not written: {exc}", prefix=self.prefix) from exc
            stale: dict[tuple[str, str], list[AlertRepeat]] = {}
            for item, (key, count) in zip(resp["items"], folded.items(), strict=True):
                outcome = item["index"]
                if outcome.get("status") in (200, 201):
                    changed += count
                elif outcome.get("status") == 409:
                    stale[key] = pending[key]  # changed under us (triage): read again
                else:
                    raise StoreError(f"alert repeat failed: {outcome.get('error')}", alert_id=key[1])
            pending = stale
        raise StoreError("alerts kept changing while recording repeats", alert_ids=[k[1] for k in pending])

    def _fold_repeats(
        self, pending: dict[tuple[str, str], list[AlertRepeat]]
    ) -> tuple[dict[tuple[str, str], int], list[Any]]:
        """Read the alerts of `pending` at once; the bulk operations that write the changed ones
        (conditional on the version read) and how many repeats changed each."""
        hits = self._read_alerts([key for key in pending])
        missing = [n for n, hit in enumerate(hits) if not hit.get("found")]
        if missing:  # raised before issue 18: in the old-shape index of its month
            groups = list(pending.values())
            older = self._read_alerts(
                [(self.legacy_alert_index(groups[n][0].first_seen), hits[n]["_id"]) for n in missing]
            )
            for n, hit in zip(missing, older, strict=True):
                hits[n] = hit
        folded: dict[tuple[str, str], int] = {}
        ops: list[Any] = []
        for (key, group), hit in zip(pending.items(), hits, strict=True):
            if not hit.get("found"):
                raise StoreError("repeat of an alert that is not stored", alert_id=key[1])
            alert = updated = _alert(hit["_source"])
            count = 0
            for repeat in group:
                after = repeat.apply(updated)
                if after != updated:
                    updated, count = after, count + 1
            if updated != alert:
                folded[key] = count
                ops.append(
                    {
                        "index": {
                            "_index": hit["_index"],
                            "_id": key[1],
                            "if_seq_no": hit["_seq_no"],
                            "if_primary_term": hit["_primary_term"],
                        }
                    }
                )
                ops.append(document_for(hit["_index"], self.prefix, updated))
        return folded, ops

    def _read_alerts(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Real-time reads (no refresh needed) of (index, id) pairs in one mget; a missing index is
        a missing alert."""
        try:
            resp = self.es.mget(docs=[{"_index": index, "_id": alert_id} for index, alert_id in keys])
        except (ApiError, TransportError) as exc:
            raise StoreError(f"alert read failed: {exc}", prefix=self.prefix) from exc
        docs: list[dict[str, Any]] = []
        for (_index, alert_id), hit in zip(keys, resp["docs"], strict=True):
            error = hit.get("error")
            if error and error.get("type") != "index_not_found_exception":
                raise StoreError(f"alert read failed: {error}", alert_id=alert_id)
            docs.append({"_id": alert_id, **hit})
        return docs

    def put_deadletters(self, letters: Sequence[DeadLetter]) -> WriteResult:
        return self._bulk_create(
            (self.deadletter_index(d.at), d.id, d.model_dump(mode="json")) for d in letters
        )

    # -- reads ----------------------------------------------------------------------------------

    def _get_one(self, pattern: str, doc_id: str) -> dict[str, Any] | None:
        try:
            resp = self.es.search(
                index=pattern,
                query={"ids": {"values": [doc_id]}},
                size=1,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except ApiError as exc:
            raise StoreError(f"search failed: {exc}", index=pattern) from exc
        hits = resp["hits"]["hits"]
        return dict(hits[0]["_source"]) if hits else None

    def get_event(self, event_id: str) -> Event | None:
        doc = self._get_one(f"{self.prefix}events-*", event_id)
        return _event(doc) if doc else None

    def get_alert(self, alert_id: str) -> Alert | None:
        doc = self._get_one(f"{self.prefix}alerts-*", alert_id)
        return _alert(doc) if doc else None

    def _search_page(
        self,
        pattern: str,
        ts_field: str,
        id_field: str,
        filters: list[dict[str, Any]],
        size: int,
        cursor: str | None,
        text: str | None = None,
        *,
        count_total: bool = True,
    ) -> tuple[list[dict[str, Any]], int, str | None]:
        query: dict[str, Any] = {"bool": {"filter": filters}}
        if text:
            query["bool"]["must"] = [{"simple_query_string": {"query": text, "default_operator": "and"}}]
        kwargs: dict[str, Any] = {}
        if cursor:
            kwargs["search_after"] = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        try:
            resp = self.es.search(
                index=pattern,
                query=query,
                size=size,
                track_total_hits=count_total,
                sort=[{ts_field: "desc"}, {id_field: "desc"}],
                ignore_unavailable=True,
                allow_no_indices=True,
                **kwargs,
            )
        except ApiError as exc:
            raise StoreError(f"search failed: {exc}", index=pattern) from exc
        hits = resp["hits"]["hits"]
        next_cursor = None
        if len(hits) == size:
            next_cursor = base64.urlsafe_b64encode(orjson.dumps(hits[-1]["sort"])).decode()
        total = int(resp["hits"]["total"]["value"]) if count_total else len(hits)
        return [h["_source"] for h in hits], total, next_cursor

    @staticmethod
    def _range(field: str, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
        if not start and not end:
            return []
        bounds: dict[str, str] = {}
        if start:
            bounds["gte"] = start.isoformat()
        if end:
            bounds["lt"] = end.isoformat()
        return [{"range": {field: bounds}}]

    @staticmethod
    def _terms(pairs: Iterable[tuple[str, str | None]]) -> list[dict[str, Any]]:
        return [{"term": {f: v}} for f, v in pairs if v]

    def search_events(self, query: EventQuery) -> Page[Event]:
        docs, total, cursor = self._search_page(
            f"{self.prefix}events-*",
            "@timestamp",
            "event.id",
            self._event_filters(query),
            query.size,
            query.cursor,
            query.text,
            count_total=query.count_total,
        )
        return Page([_event(d) for d in docs], total, cursor)

    def event_histogram(self, query: EventQuery, interval_s: int, offset_s: int = 0) -> list[HistogramBucket]:
        check_histogram(interval_s, query.start, query.end)
        boolean: dict[str, Any] = {"filter": self._event_filters(query)}
        if query.text:
            boolean["must"] = [{"simple_query_string": {"query": query.text, "default_operator": "and"}}]
        return self._histogram(f"{self.prefix}events-*", {"bool": boolean}, interval_s, offset_s)

    def _histogram(
        self, pattern: str, query: dict[str, Any], interval_s: int, offset_s: int
    ) -> list[HistogramBucket]:
        """A `date_histogram` on `@timestamp` (fixed interval and offset, in UTC), empty buckets left out."""
        histogram = {
            "field": "@timestamp",
            "fixed_interval": f"{interval_s}s",
            "offset": f"{offset_s % interval_s}s",
            "min_doc_count": 1,
        }
        try:
            resp = self.es.search(
                index=pattern,
                query=query,
                size=0,
                aggs={"over_time": {"date_histogram": histogram}},
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except ApiError as exc:
            raise StoreError(f"histogram failed: {exc}", index=pattern) from exc
        buckets = resp.get("aggregations", {}).get("over_time", {}).get("buckets", [])
        return [
            HistogramBucket(datetime.fromtimestamp(b["key"] / 1000, UTC), int(b["doc_count"]))
            for b in buckets
        ]

    def _event_filters(self, query: EventQuery) -> list[dict[str, Any]]:
        filters = self._range("@timestamp", query.start, query.end) + self._terms(
            [
                ("soc.source.id", query.source_id),
                ("soc.unit.id", query.unit_id),
                ("soc.system.id", query.system_id),
                ("host.name", query.host_name),
            ]
        )
        if query.kql is not None:
            filters.append(compile_query(query.kql, EVENT_FIELDS, EVENT_RENAMED))
        return filters

    def search_alerts(self, query: AlertQuery) -> Page[Alert]:
        filters = self._range("@timestamp", query.start, query.end) + self._terms(
            [
                ("severity", query.severity),
                ("triage.status", query.status),
                ("rule.id", query.rule_id),
                ("soc.unit.id", query.unit_id),
                ("host.name", query.host_name),
            ]
        )
        filters.extend(origin_filter(query.origin))
        docs, total, cursor = self._search_page(
            f"{self.prefix}alerts-*", "@timestamp", "id", filters, query.size, query.cursor
        )
        return Page([_alert(d) for d in docs], total, cursor)

    def list_deadletters(self, query: DeadLetterQuery) -> Page[DeadLetter]:
        filters = self._range("at", query.start, query.end) + self._terms(
            [
                ("source_id", query.source_id),
                ("format_tried", query.format_tried),
                ("stage", query.stage),
            ]
        )
        docs, total, cursor = self._search_page(
            f"{self.prefix}deadletters-*", "at", "id", filters, query.size, query.cursor
        )
        return Page([DeadLetter.model_validate(d) for d in docs], total, cursor)

    # -- registry -------------------------------------------------------------------------------

    def save_registry(self, registry: Registry) -> None:
        ops: list[Any] = []
        for kind in REGISTRY_KINDS:
            for item in getattr(registry, kind):
                ops.append({"index": {"_index": self.registry_index, "_id": f"{kind}:{item.id}"}})
                ops.append(
                    {
                        "kind": kind,
                        "id": item.id,
                        "token_sha256": getattr(item, "token_sha256", None),
                        "doc": item.model_dump(mode="json"),
                    }
                )
        if not ops:
            return
        try:
            resp = self.es.bulk(operations=ops, refresh="wait_for")
        except ApiError as exc:
            raise StoreError(f"registry write failed: {exc}") from exc
        if resp.get("errors"):
            first = next(i["index"]["error"] for i in resp["items"] if "error" in i["index"])
            raise StoreError(f"registry write failed: {first}")

    def load_registry(self) -> Registry:
        parts: dict[str, list[Any]] = {kind: [] for kind in REGISTRY_KINDS}
        try:
            resp = self.es.search(
                index=self.registry_index,
                size=10000,
                query={"match_all": {}},
                sort=[{"kind": "asc"}, {"id": "asc"}],
            )
        except (ApiError, TransportError) as exc:  # down too: the registry cache keeps its copy
            raise StoreError(f"registry read failed: {exc}") from exc
        for hit in resp["hits"]["hits"]:
            src = hit["_source"]
            if src["kind"] in REGISTRY_KINDS:
                parts[src["kind"]].append(REGISTRY_KINDS[src["kind"]].model_validate(src["doc"]))
        return Registry(**parts)

    def delete_registry_entry(self, kind: str, entry_id: str) -> bool:
        try:
            resp = self.es.delete(index=self.registry_index, id=f"{kind}:{entry_id}", refresh="wait_for")
        except ApiError as exc:
            if exc.status_code == 404:
                return False
            raise StoreError(f"registry delete failed: {exc}", kind=kind, id=entry_id) from exc
        return bool(resp.get("result") == "deleted")

    def source_activity(self) -> dict[str, SourceActivity]:
        try:
            resp = self.es.search(
                index=f"{self.prefix}events-*",
                size=0,
                ignore_unavailable=True,
                allow_no_indices=True,
                query={"bool": {"must_not": [{"exists": {"field": "soc.evidence"}}]}},
                aggs={
                    "sources": {
                        "terms": {"field": "soc.source.id", "size": 10000},
                        "aggs": {"last": {"max": {"field": "event.ingested"}}},
                    }
                },
            )
        except ApiError as exc:
            raise StoreError(f"source activity query failed: {exc}") from exc
        out: dict[str, SourceActivity] = {}
        for bucket in resp.get("aggregations", {}).get("sources", {}).get("buckets", []):
            last = bucket["last"].get("value_as_string")
            out[bucket["key"]] = SourceActivity(
                bucket["key"],
                int(bucket["doc_count"]),
                datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None,
            )
        return out

    # -- triage (issue 6) -----------------------------------------------------------------------

    @property
    def incident_index(self) -> str:
        return f"{self.prefix}incidents"

    @property
    def users_index(self) -> str:
        return f"{self.prefix}users"

    @property
    def sessions_index(self) -> str:
        return f"{self.prefix}sessions"

    @property
    def tokens_index(self) -> str:
        return f"{self.prefix}api-tokens"

    @property
    def login_failures_index(self) -> str:
        return f"{self.prefix}login-failures"

    def audit_index(self, ts: datetime) -> str:
        return f"{self.prefix}audit-{_utc(ts):%Y.%m}"

    def _setup_triage(self) -> None:
        """Single indices for incidents and identity; older alert indices gain the triage fields."""
        indices = {
            self.incident_index: INCIDENT_MAPPING,
            self.users_index: USER_MAPPING,
            self.sessions_index: SESSION_MAPPING,
            self.tokens_index: TOKEN_MAPPING,
            self.login_failures_index: LOGIN_FAILURE_MAPPING,
        }
        try:
            for index, mapping in indices.items():
                if not self.es.indices.exists(index=index):
                    self.es.indices.create(index=index, settings=self.single_settings, mappings=mapping)
            existing = self.es.indices.get_alias(
                index=f"{self.prefix}alerts-*", ignore_unavailable=True, allow_no_indices=True
            )
            legacy = sorted(name for name in existing if not is_ecs_index(name, self.prefix))
            if legacy:
                # old-shape alert indices: later fields, and the ECS names as aliases of the old
                self.es.indices.put_mapping(index=",".join(legacy), properties=LEGACY_ADDITIONS)
            # event indices from before issue 15 gain the search fields (their `_source` cannot
            # change: events written to them keep `search_text` there, and reads drop it)
            # (only those: a newer index maps `message` as ECS's match_only_text, not as text)
            found = self.es.options(ignore_status=404).indices.get_field_mapping(
                index=f"{self.prefix}events-*", fields=SEARCH_FIELD, allow_no_indices=True
            )
            stale = sorted(name for name, body in found.body.items() if not body.get("mappings"))
            for start in range(0, len(stale), 50):
                self.es.indices.put_mapping(
                    index=",".join(stale[start : start + 50]), properties=LEGACY_SEARCH_FIELDS
                )
        except ApiError as exc:
            if "resource_already_exists" not in str(exc):
                raise StoreError(f"cannot set up Elasticsearch: {exc}", prefix=self.prefix) from exc

    def _backfill_groups(self, batch: int = 1000) -> int:
        """Alerts indexed before groups existed get theirs (each was raised on its first event id).

        A partial-document update, no script (this Elasticsearch build has no painless); a collapsed
        search would otherwise put every such alert into one "missing" group."""
        pattern = f"{self.prefix}alerts-*"
        done = 0
        try:
            while True:
                self.es.indices.refresh(index=pattern, ignore_unavailable=True, allow_no_indices=True)
                resp = self.es.search(
                    index=pattern,
                    query={"bool": {"must_not": [{"exists": {"field": "soc.alert.group"}}]}},
                    size=batch,
                    source_excludes=[SEARCH_FIELD],
                    ignore_unavailable=True,
                    allow_no_indices=True,
                )
                hits = resp["hits"]["hits"]
                if not hits:
                    return done
                ops: list[Any] = []
                for hit in hits:
                    src = hit["_source"]
                    first = (src.get("event_ids") or [hit["_id"]])[0]
                    key = alert_group(datetime.fromisoformat(src["@timestamp"]), [first])
                    ops.append({"update": {"_index": hit["_index"], "_id": hit["_id"]}})
                    # a partial update re-indexes from `_source`, which has no `search_text`: send it
                    ops.append({"doc": {"group": key, SEARCH_FIELD: search_text({**src, "group": key})}})
                result = self.es.bulk(operations=ops, refresh=False)
                if result.get("errors"):
                    first_error = next(
                        i["update"]["error"] for i in result["items"] if "error" in i["update"]
                    )
                    raise StoreError(f"alert group backfill failed: {first_error}", prefix=self.prefix)
                done += len(hits)
        except (ApiError, TransportError) as exc:
            raise StoreError(f"alert group backfill failed: {exc}", prefix=self.prefix) from exc

    def _alert_filters(self, query: AlertSearch) -> dict[str, Any]:
        filters = self._range("@timestamp", query.start, query.end) + self._terms(
            [
                ("rule.id", query.rule_id),
                ("soc.unit.id", query.unit_id),
                ("soc.system.id", query.system_id),
                ("host.name", query.host_name),
                ("user.name", query.user_name),
                ("checklist", query.checklist),
                ("threat.technique.id", query.technique),
                ("triage.assignee", query.assignee),
                ("triage.incident_id", query.incident_id),
                ("soc.evidence.visit_id", query.visit_id),
                ("soc.alert.group", query.group),
            ]
        )
        filters.extend(origin_filter(query.origin))
        if query.severity:
            filters.append({"terms": {"severity": list(query.severity)}})
        if query.status:
            filters.append({"terms": {"triage.status": list(query.status)}})
        if query.ids is not None:
            filters.append({"ids": {"values": list(query.ids)}})
        if query.kql is not None:
            filters.append(compile_query(query.kql, ALERT_FIELDS, ALERT_RENAMED))
        boolean: dict[str, Any] = {"filter": filters}
        if query.text:
            boolean["must"] = [
                {
                    "bool": {
                        "should": [
                            {
                                "simple_query_string": {
                                    "query": query.text,
                                    "fields": ["all_text"],
                                    "default_operator": "and",
                                    "lenient": True,
                                }
                            },
                            {"term": {"event_ids": query.text}},
                            {"term": {"id": query.text}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            ]
        return {"bool": boolean}

    def alert_histogram(
        self, query: AlertSearch, interval_s: int, offset_s: int = 0
    ) -> list[HistogramBucket]:
        check_histogram(interval_s, query.start, query.end)
        if query.ids is not None and not query.ids:
            return []
        return self._histogram(f"{self.prefix}alerts-*", self._alert_filters(query), interval_s, offset_s)

    def search_alert_queue(self, query: AlertSearch) -> Page[Alert]:
        if query.ids is not None and not query.ids:
            return Page([], 0, None)
        order = "asc" if query.ascending else "desc"
        kwargs: dict[str, Any] = {}
        if query.cursor:
            kwargs["search_after"] = _unb64(query.cursor)
        try:
            resp = self.es.search(
                index=f"{self.prefix}alerts-*",
                query=self._alert_filters(query),
                size=query.size,
                track_total_hits=True,
                sort=[{"@timestamp": order}, {"id": order}],
                ignore_unavailable=True,
                allow_no_indices=True,
                **kwargs,
            )
        except ApiError as exc:
            raise StoreError(f"alert search failed: {exc}", prefix=self.prefix) from exc
        hits = resp["hits"]["hits"]
        cursor = _b64(hits[-1]["sort"]) if hits and len(hits) == query.size else None
        return Page([_alert(h["_source"]) for h in hits], int(resp["hits"]["total"]["value"]), cursor)

    def search_alert_groups(self, query: AlertSearch) -> Page[AlertGroup]:
        """Keyset grouping: the alerts sorted by (time, group key, id), cut into runs of one group (a
        group's members share their evidence's time, so they are adjacent), read until the page's
        groups are whole; the cursor is the last group's (time, key).

        Measured against field collapsing (bench/bench_alerts.py): collapse's inner hits cost one
        search per group and its paging sorts on the key alone. The group count is a cardinality
        aggregation in a `size: 0` search sent beside the first read (`msearch`), so the shard
        request cache answers it while an index does not change (older months' indices)."""
        if query.ids is not None and not query.ids:
            return Page([], 0, None)
        order = "asc" if query.ascending else "desc"
        filters = self._alert_filters(query)
        after: list[Any] | None = None
        if query.cursor:
            key = _unb64(query.cursor)
            if not (isinstance(key, list) and len(key) == 2 and isinstance(key[1], str)):
                raise StoreError("invalid paging cursor", cursor=query.cursor)
            # past every member of the cursor's group: ids sort after "" (desc) or before U+FFFF (asc)
            after = [key[0], key[1], "\uffff" if query.ascending else ""]
        chunk = query.size + query.size // 2 + 2  # groups average little more than one alert
        budget = query.size * 2 + MAX_GROUP_MEMBERS
        count = {
            "size": 0,
            "query": filters,
            "aggs": {
                "groups": {
                    "cardinality": {"field": "soc.alert.group", "precision_threshold": GROUP_COUNT_PRECISION}
                }
            },
        }
        read_alerts: list[tuple[Alert, Any]] = []
        total: int | None = None
        while True:
            read: dict[str, Any] = {
                "size": chunk,
                "query": filters,
                "sort": [{"@timestamp": order}, {"soc.alert.group": order}, {"id": order}],
                "track_total_hits": False,
                **({"search_after": after} if after else {}),
            }
            first, *rest = self._msearch([read] if total is not None else [read, count])
            if rest:
                total = int(rest[0].get("aggregations", {}).get("groups", {}).get("value", 0))
            got = first["hits"]["hits"]
            read_alerts.extend((_alert(h["_source"]), h["sort"][0]) for h in got)
            exhausted = len(got) < chunk
            runs = group_runs(read_alerts)
            if exhausted or len(runs) > query.size or len(read_alerts) >= budget:
                break
            after = got[-1]["sort"]
        if not exhausted and len(runs) > 1:
            runs.pop()  # the last run may go on past what was read: it opens the next page
        page = runs[: query.size]
        more = len(runs) > query.size or not exhausted
        cursor = _b64([page[-1].sort, page[-1].group.key]) if page and more else None
        return Page([r.group for r in page], total or 0, cursor)

    def _msearch(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several searches of the alert indices in one round trip, run side by side by the cluster."""
        header = {"index": f"{self.prefix}alerts-*", "ignore_unavailable": True, "allow_no_indices": True}
        try:
            resp = self.es.msearch(searches=[part for body in bodies for part in (header, body)])
        except ApiError as exc:
            raise StoreError(f"alert search failed: {exc}", prefix=self.prefix) from exc
        out = list(resp["responses"])
        for answer in out:
            if "error" in answer:
                raise StoreError(f"alert search failed: {answer['error']}", prefix=self.prefix)
        return out

    def open_alert_candidates(self, query: OpenAlertQuery) -> list[Alert]:
        """Host keys are lowercased; a case-insensitive term finds them in `host.name` (or, for alerts
        without a host, in the source id); the caller checks the exact key on what comes back."""
        try:
            resp = self.es.search(
                index=f"{self.prefix}alerts-*",
                ignore_unavailable=True,
                allow_no_indices=True,
                **self._open_alert_search(query),
            )
        except (ApiError, TransportError) as exc:
            raise StoreError(f"open alert lookup failed: {exc}", prefix=self.prefix) from exc
        return [_alert(h["_source"]) for h in resp["hits"]["hits"]]

    #: Searches per multi-search request (a batch's new keys; more after a restart).
    MSEARCH_CHUNK = 200

    def open_alert_candidates_many(self, queries: Sequence[OpenAlertQuery]) -> list[list[Alert]]:
        """One `_msearch` per `MSEARCH_CHUNK` queries instead of a search each."""
        header = {"index": f"{self.prefix}alerts-*", "ignore_unavailable": True, "allow_no_indices": True}
        out: list[list[Alert]] = []
        for start in range(0, len(queries), self.MSEARCH_CHUNK):
            searches: list[dict[str, Any]] = []
            for query in queries[start : start + self.MSEARCH_CHUNK]:
                searches += [header, self._open_alert_search(query)]
            try:
                resp = self.es.msearch(searches=searches)
            except (ApiError, TransportError) as exc:
                raise StoreError(f"open alert lookups failed: {exc}", prefix=self.prefix) from exc
            for answer in resp["responses"]:
                if "error" in answer:
                    raise StoreError(f"open alert lookup failed: {answer['error']}", prefix=self.prefix)
                out.append([_alert(h["_source"]) for h in answer["hits"]["hits"]])
        return out

    def _open_alert_search(self, query: OpenAlertQuery) -> dict[str, Any]:
        """The search body of one open-alert lookup (query, size, sort)."""
        filters = self._range("@timestamp", query.start, query.end) + origin_filter("live")
        if query.rule_id is not None:
            filters.append({"term": {"rule.id": query.rule_id}})
        host_key = query.host_key
        if host_key:
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"term": {"host.name": {"value": host_key, "case_insensitive": True}}},
                            {"term": {"soc.source.id": {"value": host_key, "case_insensitive": True}}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        elif host_key is not None:
            filters.append({"bool": {"must_not": [{"exists": {"field": "host.name"}}]}})
        return {
            "query": {"bool": {"filter": filters}},
            "size": query.limit,
            "sort": [{"@timestamp": "desc"}, {"id": "desc"}],
        }

    def alert_facets(
        self, query: AlertSearch, facets: Sequence[str], size: int = 10
    ) -> dict[str, list[FacetBucket]]:
        aggs: dict[str, Any] = {}
        for facet in facets:
            if facet not in ES_FACETS:
                raise StoreError(f"unknown facet {facet!r}")
            aggs[facet] = {"terms": {"field": ES_FACETS[facet], "size": size}}
            if facet == "rule":
                aggs[facet]["aggs"] = {"name": {"terms": {"field": "rule.name", "size": 1}}}
        try:
            resp = self.es.search(
                index=f"{self.prefix}alerts-*",
                query=self._alert_filters(query),
                size=0,
                aggs=aggs,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
        except ApiError as exc:
            raise StoreError(f"alert facets failed: {exc}", prefix=self.prefix) from exc
        out: dict[str, list[FacetBucket]] = {}
        results = resp.get("aggregations", {})
        for facet in facets:
            buckets = []
            for b in results.get(facet, {}).get("buckets", []):
                names = b.get("name", {}).get("buckets", [])
                buckets.append(
                    FacetBucket(str(b["key"]), int(b["doc_count"]), names[0]["key"] if names else None)
                )
            out[facet] = buckets
        return out

    def get_alert_versioned(self, alert_id: str) -> tuple[Alert, str] | None:
        """Find the alert's index by search, then read it with a real-time GET for its sequence number."""
        try:
            resp = self.es.search(
                index=f"{self.prefix}alerts-*",
                query={"ids": {"values": [alert_id]}},
                size=1,
                source=False,
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            hits = resp["hits"]["hits"]
            if not hits:
                return None
            doc = self.es.get(index=hits[0]["_index"], id=alert_id)
        except ApiError as exc:
            raise StoreError(f"alert read failed: {exc}", alert_id=alert_id) from exc
        version = f"{doc['_index']}|{doc['_seq_no']}|{doc['_primary_term']}"
        return _alert(doc["_source"]), version

    def update_alert_triage(self, alert_id: str, triage: Triage, *, version: str) -> bool:
        """Replace the whole document (a partial update would merge away removed fields), if unchanged."""
        index, seq_no, term = version.split("|")
        try:
            doc = self.es.get(index=index, id=alert_id)
            if (str(doc["_seq_no"]), str(doc["_primary_term"])) != (seq_no, term):
                return False
            alert = _alert(doc["_source"])
            alert.triage = triage
            self.es.index(
                index=index,
                id=alert_id,
                document=document_for(index, self.prefix, alert),
                if_seq_no=int(seq_no),
                if_primary_term=int(term),
                refresh="wait_for",
            )
        except ApiError as exc:
            if exc.status_code == 409:
                return False
            if exc.status_code == 404:
                raise StoreError("no such alert", alert_id=alert_id) from exc
            raise StoreError(f"alert update failed: {exc}", alert_id=alert_id) from exc
        return True

    # -- incidents --------------------------------------------------------------------------------

    def create_incident(self, incident: Incident) -> None:
        try:
            self.es.create(
                index=self.incident_index, id=incident.id, document=incident.to_doc(), refresh="wait_for"
            )
        except ApiError as exc:
            raise StoreError(f"incident create failed: {exc}", incident_id=incident.id) from exc

    def get_incident_versioned(self, incident_id: str) -> tuple[Incident, str] | None:
        try:
            doc = self.es.get(index=self.incident_index, id=incident_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise StoreError(f"incident read failed: {exc}", incident_id=incident_id) from exc
        return Incident.model_validate(doc["_source"]), f"{doc['_seq_no']}|{doc['_primary_term']}"

    def update_incident(self, incident: Incident, *, version: str) -> bool:
        seq_no, term = version.split("|")
        try:
            self.es.index(
                index=self.incident_index,
                id=incident.id,
                document=incident.to_doc(),
                if_seq_no=int(seq_no),
                if_primary_term=int(term),
                refresh="wait_for",
            )
        except ApiError as exc:
            if exc.status_code == 409:
                return False
            raise StoreError(f"incident update failed: {exc}", incident_id=incident.id) from exc
        return True

    def search_incidents(self, query: IncidentQuery) -> Page[Incident]:
        filters = self._terms([("owner", query.owner), ("unit_ids", query.unit_id)])
        if query.status:
            filters.append({"terms": {"status": list(query.status)}})
        if query.severity:
            filters.append({"terms": {"severity": list(query.severity)}})
        docs, total, cursor = self._search_page(
            self.incident_index, "detected_at", "id", filters, query.size, query.cursor, query.text
        )
        return Page([Incident.model_validate(d) for d in docs], total, cursor)

    # -- users, sessions, API tokens --------------------------------------------------------------

    def _get_doc(self, index: str, doc_id: str) -> dict[str, Any] | None:
        try:
            doc = self.es.get(index=index, id=doc_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return None
            raise StoreError(f"read failed: {exc}", index=index) from exc
        return dict(doc["_source"])

    def _all_docs(self, index: str, sort_field: str) -> list[dict[str, Any]]:
        try:
            resp = self.es.search(
                index=index, size=10000, query={"match_all": {}}, sort=[{sort_field: "asc"}]
            )
        except ApiError as exc:
            raise StoreError(f"read failed: {exc}", index=index) from exc
        return [h["_source"] for h in resp["hits"]["hits"]]

    def put_user(self, user: UserRecord) -> None:
        other = self.get_user_by_name(user.username)
        if other is not None and other.id != user.id:
            raise StoreError("username already taken", username=user.username)
        try:
            self.es.index(
                index=self.users_index, id=user.id, document=user.model_dump(mode="json"), refresh="wait_for"
            )
        except ApiError as exc:
            raise StoreError(f"user write failed: {exc}", username=user.username) from exc

    def get_user(self, user_id: str) -> UserRecord | None:
        doc = self._get_doc(self.users_index, user_id)
        return UserRecord.model_validate(doc) if doc else None

    def get_user_by_name(self, username: str) -> UserRecord | None:
        try:
            resp = self.es.search(index=self.users_index, size=1, query={"term": {"username": username}})
        except ApiError as exc:
            raise StoreError(f"user read failed: {exc}") from exc
        hits = resp["hits"]["hits"]
        return UserRecord.model_validate(hits[0]["_source"]) if hits else None

    def list_users(self) -> list[UserRecord]:
        return [UserRecord.model_validate(d) for d in self._all_docs(self.users_index, "username")]

    def _delete_matching(self, index: str, query: dict[str, Any], *, refresh: bool = False) -> None:
        """Search, then bulk delete: the zip has no reindex module, so no `_delete_by_query`."""
        resp = self.es.search(index=index, size=1000, query=query, source=False)
        ops = [{"delete": {"_index": index, "_id": h["_id"]}} for h in resp["hits"]["hits"]]
        if ops:
            self.es.bulk(operations=ops, refresh="wait_for" if refresh else False)

    def put_session(self, session: SessionRecord) -> None:
        try:
            self.es.index(
                index=self.sessions_index, id=session.token_sha256, document=session.model_dump(mode="json")
            )
            self._delete_matching(
                self.sessions_index, {"range": {"expires_at": {"lt": datetime.now(UTC).isoformat()}}}
            )
        except ApiError as exc:
            raise StoreError(f"session write failed: {exc}") from exc

    def get_session(self, token_sha256: str) -> SessionRecord | None:
        doc = self._get_doc(self.sessions_index, token_sha256)
        return SessionRecord.model_validate(doc) if doc else None

    def delete_session(self, token_sha256: str) -> None:
        try:
            self.es.delete(index=self.sessions_index, id=token_sha256, refresh="wait_for")
        except ApiError as exc:
            if exc.status_code != 404:
                raise StoreError(f"session delete failed: {exc}") from exc

    def delete_user_sessions(self, user_id: str) -> None:
        try:
            self.es.indices.refresh(index=self.sessions_index)
            self._delete_matching(self.sessions_index, {"term": {"user_id": user_id}}, refresh=True)
        except ApiError as exc:
            raise StoreError(f"session delete failed: {exc}") from exc

    # -- failed logins (every API replica sees the same counts) ---------------------------------------

    def record_login_failure(self, keys: Sequence[str], at: datetime, *, forget_before: datetime) -> None:
        """One document per key and failure, visible to searches when this returns (`wait_for`), so
        the next attempt on any replica counts it."""
        index = self.login_failures_index
        ops: list[dict[str, Any]] = []
        for key in keys:
            ops += [{"index": {"_index": index}}, {"key": key, "at": _utc(at).isoformat()}]
        try:
            self._delete_matching(index, {"range": {"at": {"lt": _utc(forget_before).isoformat()}}})
            resp = self.es.bulk(operations=ops, refresh="wait_for")
        except (ApiError, TransportError) as exc:
            raise StoreError(f"login failure write failed: {exc}", index=index) from exc
        if resp.get("errors"):
            raise StoreError("login failure write rejected", index=index, items=str(resp["items"])[:300])

    def login_failures(self, key: str, since: datetime) -> tuple[int, datetime | None]:
        index = self.login_failures_index
        try:
            resp = self.es.search(
                index=index,
                size=0,
                track_total_hits=True,
                query={
                    "bool": {
                        "filter": [
                            {"term": {"key": key}},
                            {"range": {"at": {"gte": _utc(since).isoformat()}}},
                        ]
                    }
                },
                aggs={"oldest": {"min": {"field": "at"}}},
            )
        except (ApiError, TransportError) as exc:
            raise StoreError(f"login failure read failed: {exc}", index=index) from exc
        count = int(resp["hits"]["total"]["value"])
        oldest = resp["aggregations"]["oldest"].get("value_as_string")
        return count, datetime.fromisoformat(oldest.replace("Z", "+00:00")) if count and oldest else None

    def clear_login_failures(self, key: str) -> None:
        index = self.login_failures_index
        try:
            self._delete_matching(index, {"term": {"key": key}}, refresh=True)
        except (ApiError, TransportError) as exc:
            raise StoreError(f"login failure delete failed: {exc}", index=index) from exc

    def put_api_token(self, token: ApiTokenRecord) -> None:
        try:
            self.es.index(
                index=self.tokens_index,
                id=token.token_sha256,
                document=token.model_dump(mode="json"),
                refresh="wait_for",
            )
        except ApiError as exc:
            raise StoreError(f"token write failed: {exc}") from exc

    def get_api_token(self, token_sha256: str) -> ApiTokenRecord | None:
        doc = self._get_doc(self.tokens_index, token_sha256)
        return ApiTokenRecord.model_validate(doc) if doc else None

    def list_api_tokens(self) -> list[ApiTokenRecord]:
        return [ApiTokenRecord.model_validate(d) for d in self._all_docs(self.tokens_index, "id")]

    # -- audit ------------------------------------------------------------------------------------

    def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        result = self._bulk_create((self.audit_index(e.at), e.id, e.model_dump(mode="json")) for e in entries)
        if result.failed:
            raise StoreError(f"audit write failed: {result.failed[0][1]}", prefix=self.prefix)

    def search_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        filters = self._range("at", query.start, query.end) + self._terms(
            [("actor", query.actor), ("target_id", query.target_id)]
        )
        if query.action:
            filters.append({"prefix": {"action": query.action}})
        docs, total, cursor = self._search_page(
            f"{self.prefix}audit-*", "at", "id", filters, query.size, query.cursor
        )
        return Page([AuditEntry.model_validate(d) for d in docs], total, cursor)


def _searchable(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with its free-text words beside it (`search_text`, not kept in `_source`)."""
    doc[SEARCH_FIELD] = search_text(doc)
    return doc


def _searchable_json(event: Event) -> dict[str, Any] | bytes:
    """The event's JSON with its free-text words beside it, spliced into the bytes `to_json` gives:
    a JSON-native copy of each document to add the field to, then encoded again by the client,
    was a fifth of the index worker's CPU (`bench/bench_e2e.py`)."""
    if SEARCH_FIELD in event.doc:  # a document that brings its own (an old index's `_source`)
        return _searchable(event.to_doc())
    body = event.to_json()
    words = orjson.dumps(search_text(event.doc))
    return b"%s%s%s:%s}" % (body[:-1], b"," if len(body) > 2 else b"", _SEARCH_KEY, words)


_SEARCH_KEY = orjson.dumps(SEARCH_FIELD)


def _alert(doc: dict[str, Any]) -> Alert:
    """An alert read back, in the shape its index holds (`alert_document.from_document`)."""
    return from_document(doc)


def _event(doc: dict[str, Any]) -> Event:
    """An event read back; an index from before issue 15 still has `search_text` in `_source`."""
    doc.pop(SEARCH_FIELD, None)
    return Event.from_doc(doc)


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode()


def _unb64(cursor: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise StoreError("invalid paging cursor", cursor=cursor) from exc


def _settle(
    answer: dict[str, Any] | _Retryable | StoreError,
    chunk: list[tuple[str, str, dict[str, Any] | bytes]],
    result: WriteResult,
    retry_later: list[tuple[str, str, dict[str, Any] | bytes]],
) -> StoreError | None:
    """One bulk request's answer counted into `result` (its items to resend into `retry_later`);
    the error of a request refused outright."""
    if isinstance(answer, _Retryable):
        retry_later.extend(chunk)
        return None
    if isinstance(answer, StoreError):
        return answer
    retry_later.extend(_account(answer, chunk, result))
    return None


def _account(
    resp: dict[str, Any], chunk: list[tuple[str, str, dict[str, Any] | bytes]], result: WriteResult
) -> list[tuple[str, str, dict[str, Any] | bytes]]:
    """Count one bulk answer's items into `result`; the entries to send again."""
    retry_later = []
    for item, entry in zip(resp["items"], chunk, strict=True):
        outcome = item["create"]
        status = outcome.get("status", 500)
        if status in (200, 201):
            result.created += 1
        elif status == 409:
            result.duplicates += 1
        elif status in (429, 503) or _is_block(outcome):
            retry_later.append(entry)
        elif 400 <= status < 500:
            error = outcome.get("error", {})
            result.failed.append((entry[1], f"{error.get('type')}: {error.get('reason')}"))
        else:
            retry_later.append(entry)
    return retry_later


def _is_block(outcome: dict[str, Any]) -> bool:
    """A cluster block (read-only, disk watermark) is retried, never dropped."""
    return "cluster_block_exception" in str(outcome.get("error", {}).get("type", ""))
