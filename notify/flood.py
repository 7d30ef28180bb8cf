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
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from soc_core.alert import Alert, Severity
from soc_core.metrics import EVENTS_DROPPED
from soc_core.notify import Recipient

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
        return Decision.SEND

    def _hold(self, recipient: Recipient, reason: DigestReason, due: datetime | None, alert: Alert) -> None:
        held = self._held.get((recipient, reason))
        if held is None:
            held = self._held[(recipient, reason)] = Held(reason, due)
        held.add(alert)

    def due(self, now: datetime) -> list[Digest]:
        """Digests to send now: floods whose window passed, quiet-hour holds once it is day."""
        out: list[Digest] = []
        quiet = self.quiet(now)
        for (recipient, reason), held in list(self._held.items()):
            ready = (not quiet) if reason is DigestReason.QUIET else held.due is not None and now >= held.due
            if ready:
                del self._held[(recipient, reason)]
                out.append(Digest(recipient, reason, held.alerts, held.total))
                if reason is DigestReason.FLOOD:
                    self._sent.setdefault(recipient, deque()).append(now)
        return out
