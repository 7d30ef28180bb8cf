"""The detect stage: Event -> Alerts. Pure (no I/O); the runner stores and publishes the alerts.

Each rule match becomes one `soc_core.alert.Alert` with a deterministic id
(`alert_id(rule id, event id)`), the rule's title/author/description/references (authors are
shown, as the Sigma rules' DRL 1.1 licence requires), ATT&CK and checklist codes from the tags
(`detections.tags`), the event's provincial context and the event document itself.

Registry context. Some checklist findings depend on what the registry says about the host, not on
the event: VN-12 (outbound connection) is a finding only on a machine registered as a secret-document
workstation, VN-04 only on a public-service-centre computer. `context` maps a checklist code to a
predicate over the event; an alert for a rule carrying that code is emitted only when the predicate
holds. Codes in `REQUIRES_CONTEXT` are dropped (and counted) when no predicate is given, because
without the registry every outbound connection in the province would be a VN-12 alert.

Suppression is a separate component (`detections.suppression.Suppressor`); `process()` applies it.
Given an `OpenAlertLookup` (the composition root wires one over the store), suppression survives a
restart: it continues the series the store already holds instead of opening new alerts.

Alert groups. Every alert carries `group` (`soc_core.alert.alert_group`, from the triggering event's
time and id), so all the rules that match one event (a SigmaHQ rule and its provincial counterpart)
are one group, shown as one row of the queue. Repeats fold into each rule's own alert and keep its
group; the groups stay together as long as the rules fire together.

Correlation rules. A match of a rule that a correlation references also gives that correlation a
`RuleHit` (`evaluate()` returns them); a rule referenced only by correlations with `generate: false`
raises no alert of its own. `SuppressingDetect` hands the hits to a correlation sink: the in-process
`CorrelationEngine` (embedded mode, `socpipe detect`) or the detect worker's `soc.rulehits` topic.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson
from pydantic import TypeAdapter

from detections.attack import catalog
from detections.correlation.hits import RuleHit, hits_for_event
from detections.engine import DetectionEngine, RuleMatch
from detections.loader import RuleInfo
from detections.suppression import AlertUpdate, NewAlert, Offer, Suppressor
from detections.tags import checklist_codes, threat_fields
from soc_core.alert import (
    Alert,
    AlertRepeat,
    RuleRef,
    Severity,
    Threat,
    Triage,
    alert_group,
    alert_id,
)
from soc_core.errors import BusError, StoreError
from soc_core.event import Event, Soc, utcnow
from soc_core.open_alerts import OpenAlertLookup

EventPredicate = Callable[[Event], bool]


class HitSink(Protocol):
    """Takes correlation rule hits; returns the correlation alerts and repeats they decided (if any)."""

    def __call__(self, hits: Sequence[RuleHit]) -> list[Alert | AlertRepeat]: ...

    def flush(self) -> list[Alert | AlertRepeat]:
        """End of input: decide everything still held."""
        ...


#: Checklist codes whose rules only make sense with a registry predicate.
REQUIRES_CONTEXT = frozenset({"VN-12"})


class DetectStage:
    def __init__(
        self,
        engine: DetectionEngine,
        suppression_window: timedelta = timedelta(minutes=10),
        *,
        context: Mapping[str, EventPredicate] | None = None,
        lookup: OpenAlertLookup | None = None,
    ) -> None:
        self.engine = engine
        self.suppressor = Suppressor(suppression_window, lookup=lookup)
        self.context: dict[str, EventPredicate] = dict(context or {})
        self.counters: Counter[str] = Counter()
        self._writer: AlertWriter | None = None

    def __call__(self, event: Event) -> list[Alert]:
        """All alerts for one event, before suppression."""
        return self.evaluate(event)[0]

    def evaluate(self, event: Event) -> tuple[list[Alert], list[RuleHit]]:
        """All alerts for one event before suppression, and the hits for correlation rules."""
        drafts, hits = self.draft(event)
        return [d.build() for d in drafts], hits

    def draft(self, event: Event) -> tuple[list[AlertDraft], list[RuleHit]]:
        """`evaluate` with each alert not built yet: suppression decides on the drafts, and only
        new alerts are built (a repeat needs the open alert's id, not a model of its own)."""
        decided, hits, event_json = self._decide(event)
        return [AlertDraft(match, event, codes, event_json) for match, codes in decided], hits

    def evaluate_json(
        self, event: Event, *, created_at: datetime | None = None
    ) -> tuple[list[bytes], list[RuleHit]]:
        """`evaluate` with each alert as its JSON document (`Alert.to_json()`'s bytes), written
        without building the model: what the offline command prints (see `AlertWriter`).
        `created_at`: the alerts' creation time (default: now)."""
        decided, hits, event_json = self._decide(event)
        if not decided or event_json is None:
            return [], hits
        writer = self._writer
        if writer is None:
            writer = self._writer = AlertWriter()
        created = created_at or utcnow()
        return [writer.write(match, event, codes, event_json, created) for match, codes in decided], hits

    def _decide(self, event: Event) -> tuple[list[tuple[RuleMatch, list[str]]], list[RuleHit], bytes | None]:
        """The matches that raise an alert (with their checklist codes), the correlation hits, and
        the event serialised once, however many rules fired (None when nothing needed it)."""
        self.counters["events"] += 1
        flat = event.flat()
        matches = self.engine.match(flat)
        decided: list[tuple[RuleMatch, list[str]]] = []
        hits: list[RuleHit] = []
        correlations = self.engine.correlations
        event_json: bytes | None = None
        for match in matches:
            readers = correlations.readers.get(match.rule.id)
            if readers:
                if event_json is None:
                    event_json = event.to_json()
                hits += hits_for_event(event, flat, match.rule.id, readers, event_json)
            if match.rule.id in correlations.silent:
                self.counters["silenced_for_correlation"] += 1  # generate: false
                continue
            codes = checklist_codes(match.rule.tags)
            if not self._in_context(codes, event):
                self.counters["dropped_out_of_context"] += 1
                continue
            if event_json is None:
                event_json = event.to_json()
            decided.append((match, codes))
        if decided:  # a Counter reads a missing count as 0: no write for the events with none
            self.counters["alerts"] += len(decided)
        if hits:
            self.counters["rule_hits"] += len(hits)
        return decided, hits, event_json

    def process(self, event: Event) -> list[NewAlert | AlertUpdate]:
        """Alerts after suppression: new alerts to create, or updates of open ones."""
        return [self.suppressor.offer(alert) for alert in self(event)]

    def _in_context(self, codes: list[str], event: Event) -> bool:
        for code in codes:
            predicate = self.context.get(code)
            if predicate is None:
                if code in REQUIRES_CONTEXT:
                    return False
                continue
            if not predicate(event):
                return False
        return True

    @staticmethod
    def build_alert(
        match: RuleMatch, event: Event, codes: list[str] | None = None, event_json: bytes | None = None
    ) -> Alert:
        """The alert for one match. `event_json`: `event.to_json()`, when the caller has it (one
        event that several rules fire on is serialised once). The rule and its ATT&CK entries go in
        as plain data, validated into fresh models in one pass (cheaper than building them here)."""
        rule = match.rule
        moment = event.timestamp
        event_id = event.id
        return Alert.model_validate(
            {
                "id": alert_id(rule.id, event_id),
                "@timestamp": moment,
                "severity": Severity.from_sigma_level(rule.level),
                "rule": rule_fields(rule),
                "threat": threat_fields(rule.tags),
                "checklist": codes if codes is not None else checklist_codes(rule.tags),
                "soc": _fresh_soc(event.soc),
                "host_name": (event.host or {}).get("name"),
                "user_name": (event.user or {}).get("name"),
                "event_ids": [event_id],
                "event": orjson.loads(event_json if event_json is not None else event.to_json()),
                "matched": list(match.selections),
                "first_seen": moment,
                "last_seen": moment,
                "group": alert_group(moment, [event_id]),
            }
        )


class AlertDraft:
    """One rule's alert on one event, decided but not built (`DetectStage.build_alert` on demand)."""

    __slots__ = ("codes", "event", "event_json", "match", "offer")

    def __init__(self, match: RuleMatch, event: Event, codes: list[str], event_json: bytes | None) -> None:
        self.match, self.event, self.codes, self.event_json = match, event, codes, event_json
        rule_id = match.rule.id
        host = (event.host or {}).get("name")
        self.offer = Offer(  # what `Offer.of(self.build())` gives, without building the alert
            alert_id=alert_id(rule_id, event.id),
            key=(rule_id, (host or event.source_id or "").lower()),
            at=event.timestamp,
            event_id=event.id,
            rule_id=rule_id,
            host_name=host,
        )

    def build(self) -> Alert:
        return DetectStage.build_alert(self.match, self.event, self.codes, self.event_json)


def _fresh_soc(soc: Soc) -> Soc:
    """The event's provincial context for an alert. Without evidence the model is immutable all
    through (frozen, of frozen models of scalars), so the alert shares it (a copy per alert was a
    tenth of the alert's cost); the evidence dict, the one mutable part, is copied (a deep copy of
    the whole model cost more than the rest of the alert)."""
    if soc.evidence is None:
        return soc
    return soc.model_copy(update={"evidence": copy.deepcopy(soc.evidence)})


def rule_ref(rule: RuleInfo) -> RuleRef:
    """The rule as an alert names it (authors shown: the Sigma rules' DRL 1.1 licence)."""
    return RuleRef(**rule_fields(rule))


def rule_fields(rule: RuleInfo) -> dict[str, Any]:
    """`rule_ref`'s fields as plain data (lists copied: each alert owns its own)."""
    return {
        "id": rule.id,
        "name": rule.title,
        "author": rule.author,
        "description": rule.description,
        "level": rule.level,
        "reference": list(rule.references),
        "tags": list(rule.tags),
        "ruleset": rule.ruleset,
    }


#: Sources (their `soc` documents) whose alert JSON the writer remembers, then forgets all at once.
MAX_WRITER_SOURCES = 10_000
_THREATS: TypeAdapter[list[Threat]] = TypeAdapter(list[Threat])
_TRIAGE = orjson.Fragment(Triage().model_dump_json(exclude_none=True).encode())


class AlertWriter:
    """Alerts as JSON bytes without the pydantic model: the offline command's output.

    Validating an `Alert` per match and dumping it back was a sixth of `socpipe detect`'s time.
    The bytes are `DetectStage.build_alert(...).to_json()`'s (tests/detections/test_alert_writer.py
    compares them on the EVTX corpus): what is the same for every alert of a rule (the rule and its
    ATT&CK entries) or of a source (`soc`) is pydantic's own dump, made once and remembered; the
    event is its JSON as the stage made it once per event; the rest are strings, lists of strings
    and times, which orjson writes as pydantic does. An alert outside that (evidence, a host or user
    name that is not a string, a time zone of seconds) is built as the model and dumped."""

    def __init__(self) -> None:
        self._rules: dict[str, tuple[RuleInfo, object, str, orjson.Fragment, orjson.Fragment]] = {}
        self._socs: dict[bytes, orjson.Fragment] = {}

    def write(
        self, match: RuleMatch, event: Event, codes: list[str], event_json: bytes, created_at: datetime
    ) -> bytes:
        doc = event.doc
        soc = doc.get("soc")
        host = (event.host or {}).get("name")
        user = (event.user or {}).get("name")
        moment = doc.get("@timestamp")
        if (
            (soc and soc.get("evidence") is not None)
            or not (host is None or type(host) is str)
            or not (user is None or type(user) is str)
            or type(moment) is not datetime
            or not _plain_time(moment)
        ):
            model = DetectStage.build_alert(match, event, codes, event_json)
            return model.model_copy(update={"created_at": created_at}).to_json()
        rule = match.rule
        severity, rule_json, threat_json = self._rule(rule)
        event_id = event.id
        alert: dict[str, Any] = {
            "id": alert_id(rule.id, event_id),
            "@timestamp": moment,
            "kind": "alert",
            "severity": severity,
            "rule": rule_json,
            "threat": threat_json,
            "checklist": codes,
            "soc": self._soc(soc, event),
        }
        if host is not None:
            alert["host_name"] = host
        if user is not None:
            alert["user_name"] = user
        alert["event_ids"] = [event_id]
        alert["event"] = orjson.Fragment(event_json)
        alert["matched"] = match.selections
        alert["count"] = 1
        alert["first_seen"] = moment
        alert["last_seen"] = moment
        alert["created_at"] = created_at
        alert["triage"] = _TRIAGE
        alert["group"] = alert_group(moment, [event_id])
        return orjson.dumps(alert, option=orjson.OPT_UTC_Z)

    def _rule(self, rule: RuleInfo) -> tuple[str, orjson.Fragment, orjson.Fragment]:
        """The severity, rule and threat JSON of a rule's alerts (again after a reload or a new
        ATT&CK catalogue: the same `RuleInfo` and catalogue objects, or made anew)."""
        data = catalog()
        known = self._rules.get(rule.id)
        if known is not None and known[0] is rule and known[1] is data:
            return known[2], known[3], known[4]
        severity = Severity.from_sigma_level(rule.level).value
        rule_json = orjson.Fragment(rule_ref(rule).model_dump_json(exclude_none=True).encode())
        threats = _THREATS.validate_python(threat_fields(rule.tags, data))
        threat_json = orjson.Fragment(_THREATS.dump_json(threats, exclude_none=True))
        self._rules[rule.id] = (rule, data, severity, rule_json, threat_json)
        return severity, rule_json, threat_json

    def _soc(self, soc: dict[str, Any] | None, event: Event) -> orjson.Fragment:
        """The alert's `soc` JSON for a source: pydantic's dump of the event's `Soc`, once."""
        key = orjson.dumps(soc) if soc else b""
        found = self._socs.get(key)
        if found is None:
            if len(self._socs) >= MAX_WRITER_SOURCES:
                self._socs.clear()
            found = self._socs[key] = orjson.Fragment(event.soc.model_dump_json(exclude_none=True).encode())
        return found


def _plain_time(moment: datetime) -> bool:
    """A time orjson writes as pydantic does: no offset, or one of whole minutes."""
    offset = moment.utcoffset()
    return offset is None or (offset.seconds % 60 == 0 and not offset.microseconds)


class SuppressingDetect:
    """The detect stage with suppression: repeats of a rule on a host within the window become
    `AlertRepeat`s of the first alert instead of new alerts. Correlation hits go to `correlate`
    (none: correlation rules are not run here) and what it decides joins the output."""

    def __init__(self, stage: DetectStage, correlate: HitSink | None = None) -> None:
        self.stage = stage
        self.correlate = correlate

    @property
    def engine(self) -> DetectionEngine:
        return self.stage.engine

    def __call__(self, event: Event) -> list[Alert | AlertRepeat]:
        return self._suppress(*self.stage.draft(event))

    def detect_many(self, events: Sequence[Event]) -> list[list[Alert | AlertRepeat] | Exception]:
        """`self(event)` for each event, with the store asked once for the batch's new (rule, host)
        keys (`Suppressor.prefetch`) instead of once per key. An event the stage fails on gives its
        exception in its place (the caller dead-letters it); the store or bus failing raises."""
        evaluated: list[tuple[list[AlertDraft], list[RuleHit]] | Exception] = []
        for event in events:
            try:
                evaluated.append(self.stage.draft(event))
            except (BusError, StoreError):
                raise
            except Exception as exc:
                evaluated.append(exc)
        suppressor = self.stage.suppressor
        suppressor.prefetch_offers([d.offer for e in evaluated if not isinstance(e, Exception) for d in e[0]])
        out: list[list[Alert | AlertRepeat] | Exception] = []
        for outcome in evaluated:
            if isinstance(outcome, Exception):
                out.append(outcome)
                continue
            try:
                out.append(self._suppress(*outcome))
            except (BusError, StoreError):
                raise
            except Exception as exc:
                out.append(exc)
        return out

    def _suppress(self, drafts: list[AlertDraft], hits: list[RuleHit]) -> list[Alert | AlertRepeat]:
        """An event's alerts through suppression (only the new ones built), and its correlation hits
        through `correlate`."""
        out: list[Alert | AlertRepeat] = []
        suppressor = self.stage.suppressor
        for draft in drafts:
            update = suppressor.decide(draft.offer)
            if update is None:
                try:
                    out.append(draft.build())
                except Exception:
                    suppressor.withdraw(draft.offer)
                    raise
            else:
                out.append(update.as_repeat())
        if hits and self.correlate is not None:
            out += self.correlate(hits)
        return out

    def finish(self) -> list[Alert | AlertRepeat]:
        """End of input (an uploaded file): the correlation alerts still held, decided now."""
        return self.correlate.flush() if self.correlate is not None else []
