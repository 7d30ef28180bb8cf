"""Flood control: one message per alert group, digests for bursts, quiet hours for low alerts.

Per recipient:
- an alert group (`Alert.group`: every rule that fired on the same evidence) is told once;
- when `threshold` messages already went out within `window_s`, the next alerts wait in a digest
  sent once the window has passed since the first one held (a brute-force burst is one message,
  not hundreds);
- during quiet hours (Vietnam time) alerts up to `quiet_max` severity wait and go out as one
  digest when the quiet hours end.

Memory is bounded: groups remembered (`max_tracked`, oldest forgotten first) and alerts listed
in a digest (`DIGEST_LISTED`, the rest only counted).

What changed since the last save (`pending()`) is written to the store by `FloodMemory` after each
batch was delivered, and read back when the notify worker starts (`restore`): a restart neither
tells a group again nor loses the alerts a digest was holding. Saved after delivery, not before: a
crash in between tells again (with the same message key) rather than never.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from soc_core.alert import Alert, Severity
from soc_core.metrics import EVENTS_DROPPED
from soc_core.notify import Recipient
from soc_core.notify_config import NotifyStateStore, ToldMark

log = logging.getLogger(__name__)

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DIGEST_LISTED = 20
"""Alerts a digest lists one by one; the rest are counted."""


class Decision(StrEnum):
    SEND = "send"
    DUPLICATE = "duplicate"  # its group was already told to this recipient
    HELD = "held"  # waits for a digest


class DigestReason(StrEnum):
    FLOOD = "flood"
    QUIET = "quiet"


@dataclass(slots=True)
class Held:
    reason: DigestReason
    due: datetime | None
    alerts: list[Alert] = field(default_factory=list)
    total: int = 0

    def add(self, alert: Alert) -> None:
        self.total += 1
        if len(self.alerts) < DIGEST_LISTED:
            self.alerts.append(alert)


@dataclass(frozen=True, slots=True)
class Digest:
    recipient: Recipient
    reason: DigestReason
    alerts: list[Alert]
    total: int


class FloodControl:
    def __init__(
        self,
        *,
        threshold: int,
        window_s: float,
        quiet_start_hour: int,
        quiet_end_hour: int,
        quiet_max: Severity,
        max_tracked: int,
    ) -> None:
        self._threshold = threshold
        self._window = timedelta(seconds=window_s)
        self._quiet = (quiet_start_hour, quiet_end_hour)
        self._quiet_max = quiet_max
        self._max_tracked = max_tracked
        self._told: OrderedDict[tuple[Recipient, str], None] = OrderedDict()
        self._sent: dict[Recipient, deque[datetime]] = {}
        self._held: dict[tuple[Recipient, DigestReason], Held] = {}
        self.seq = 0
        """The number of the last group told (`ToldMark.seq`), continued after a restore."""
        self._new_told: list[ToldMark] = []
        self._changed: set[str] = set()  # state keys (`held|...`, `sent|...`) to write again

    def quiet(self, now: datetime) -> bool:
        start, end = self._quiet
        hour = now.astimezone(VN_TZ).hour
        if start == end:
            return False
        return start <= hour or hour < end if start > end else start <= hour < end

    def admit(self, alert: Alert, recipient: Recipient, now: datetime) -> Decision:
        key = (recipient, alert.group or alert.id)
        if key in self._told:
            return Decision.DUPLICATE
        self._told[key] = None
        self.seq += 1
        self._new_told.append(ToldMark(self.seq, str(recipient), key[1], now))
        if len(self._told) > self._max_tracked:
            self._told.popitem(last=False)
            EVENTS_DROPPED.labels("notify", "groups_forgotten").inc()
        if alert.severity.rank <= self._quiet_max.rank and self.quiet(now):
            self._hold(recipient, DigestReason.QUIET, None, alert)
            return Decision.HELD
        sent = self._sent.setdefault(recipient, deque())
        while sent and now - sent[0] >= self._window:
            sent.popleft()
        if len(sent) >= self._threshold or (recipient, DigestReason.FLOOD) in self._held:
            self._hold(recipient, DigestReason.FLOOD, now + self._window, alert)
            return Decision.HELD
        sent.append(now)
        self._changed.add(_sent_key(recipient))
        return Decision.SEND

    def _hold(self, recipient: Recipient, reason: DigestReason, due: datetime | None, alert: Alert) -> None:
        held = self._held.get((recipient, reason))
        if held is None:
            held = self._held[(recipient, reason)] = Held(reason, due)
        held.add(alert)
        self._changed.add(_held_key(recipient, reason))

    def due(self, now: datetime) -> list[Digest]:
        """Digests to send now: floods whose window passed, quiet-hour holds once it is day."""
        out: list[Digest] = []
        quiet = self.quiet(now)
        for (recipient, reason), held in list(self._held.items()):
            ready = (not quiet) if reason is DigestReason.QUIET else held.due is not None and now >= held.due
            if ready:
                del self._held[(recipient, reason)]
                self._changed.add(_held_key(recipient, reason))
                out.append(Digest(recipient, reason, held.alerts, held.total))
                if reason is DigestReason.FLOOD:
                    self._sent.setdefault(recipient, deque()).append(now)
                    self._changed.add(_sent_key(recipient))
        return out

    # -- persistence -------------------------------------------------------------------------------

    def pending(self) -> tuple[list[ToldMark], dict[str, dict[str, Any] | None]]:
        """What changed since `saved()`: new told marks, and the state documents to write (None:
        delete). Nothing is cleared until the caller says it was saved."""
        docs: dict[str, dict[str, Any] | None] = {}
        for key in self._changed:
            kind, recipient_text, *rest = key.split("\x1f")
            recipient = Recipient.parse(recipient_text)
            if kind == "held":
                held = self._held.get((recipient, DigestReason(rest[0])))
                docs[key] = _held_doc(recipient, held) if held is not None else None
            else:
                sent = self._sent.get(recipient)
                docs[key] = {
                    "kind": "sent",
                    "recipient": str(recipient),
                    "at": [t.isoformat() for t in sent or ()],
                }
        return list(self._new_told), docs

    def saved(self, told: int, keys: set[str]) -> None:
        """The first `told` pending marks and these keys are in the store."""
        del self._new_told[:told]
        self._changed -= keys

    def restore(self, told: list[ToldMark], docs: Mapping[str, Mapping[str, Any]]) -> None:
        """The state a previous run saved (told marks in `seq` order), before the first alert."""
        for mark in told[-self._max_tracked :]:
            self._told[(Recipient.parse(mark.recipient), mark.group)] = None
            self.seq = max(self.seq, mark.seq)
        for doc in docs.values():
            recipient = Recipient.parse(str(doc["recipient"]))
            if doc["kind"] == "sent":
                self._sent[recipient] = deque(datetime.fromisoformat(t) for t in doc["at"])
            else:
                reason = DigestReason(doc["reason"])
                due = datetime.fromisoformat(doc["due"]) if doc.get("due") else None
                alerts = [Alert.model_validate(a) for a in doc["alerts"]]
                self._held[(recipient, reason)] = Held(reason, due, alerts, int(doc["total"]))


def _held_key(recipient: Recipient, reason: DigestReason) -> str:
    return f"held\x1f{recipient}\x1f{reason.value}"


def _sent_key(recipient: Recipient) -> str:
    return f"sent\x1f{recipient}"


def _held_doc(recipient: Recipient, held: Held) -> dict[str, Any]:
    return {
        "kind": "held",
        "recipient": str(recipient),
        "reason": held.reason.value,
        "due": held.due.isoformat() if held.due else None,
        "total": held.total,
        "alerts": [a.model_dump(mode="json") for a in held.alerts],
    }


class FloodMemory:
    """Flood control's state kept in the store (`NotifyStateStore`), bounded like memory: told
    marks numbered below the last `max_tracked` are forgotten, in steps of a tenth of it."""

    def __init__(self, store: NotifyStateStore, flood: FloodControl, max_tracked: int) -> None:
        self._store = store
        self._flood = flood
        self._keep = max_tracked
        self._forgot_below = 0

    def load(self) -> None:
        """Read back what a previous run saved (`StoreError` when the store cannot answer)."""
        told = self._store.told(self._keep)
        docs = self._store.entries()
        self._flood.restore(told, docs)
        self._forgot_below = told[0].seq if told else 0
        log.info("notify: flood control restored (%d groups told, %d state documents)", len(told), len(docs))

    def save(self) -> None:
        """Write what changed (`StoreError` leaves it pending for the next save)."""
        told, docs = self._flood.pending()
        if told:
            self._store.add_told(told)
        if docs:
            self._store.put_entries(docs)
        self._flood.saved(len(told), set(docs))
        below = self._flood.seq - self._keep + 1
        if below - self._forgot_below >= max(1, self._keep // 10):
            self._store.forget_told(below)
            self._forgot_below = below
