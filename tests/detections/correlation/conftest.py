"""Correlation test helpers: Windows Security base rules, events at second offsets, a runner."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from detections.correlation.engine import CorrelationEngine
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.event import Event

T0 = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
FAILED = "00000000-0000-4000-8000-00000000f001"
SUCCESS = "00000000-0000-4000-8000-00000000f002"
SHARE = "00000000-0000-4000-8000-00000000f003"


def base_rule(rule_id: str, name: str, code: int, *, level: str = "low") -> str:
    return f"""\
title: {name}
id: {rule_id}
name: {name}
status: test
level: {level}
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: {code}
    condition: selection
"""


BASE_RULES = (
    base_rule(FAILED, "failed_logon", 4625),
    base_rule(SUCCESS, "successful_logon", 4624),
    base_rule(SHARE, "share_access", 5140),
)


def correlation(body: str, *, rule_id: str = "00000000-0000-4000-8000-00000000c001", **meta: str) -> str:
    """A correlation document around the (unindented) `correlation:` section body."""
    extra = "".join(f"{k}: {v}\n" for k, v in meta.items())
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    head = f"title: test correlation\nid: {rule_id}\nlevel: high\ntags:\n    - attack.t1110\n{extra}"
    return f"{head}correlation:\n{indented}\n"


_ids = itertools.count()


def win(code: int, second: float, **event_data: Any) -> Event:
    """A Security event `second` seconds after T0 with the given EventData."""
    n = next(_ids)
    return Event.from_doc(
        {
            "@timestamp": (T0 + timedelta(seconds=second)).isoformat(),
            "event": {"id": f"ev-{n:06d}", "code": str(code), "kind": "event"},
            "host": {"name": "dc01"},
            "winlog": {"channel": "Security", "event_data": {k: str(v) for k, v in event_data.items()}},
            "soc": {"source": {"id": "src-dc"}, "unit": {"id": "unit-a"}},
        }
    )


class Run:
    """A rule engine with base rules + correlations, the detect stage and a correlation engine."""

    def __init__(self, engine: DetectionEngine, **options: Any) -> None:
        self.rules = engine
        self.stage = DetectStage(engine)
        options.setdefault("lateness_s", 60.0)
        self.engine = CorrelationEngine(engine.correlations, **options)
        self.base_alerts: list[Alert] = []
        self.out: list[Alert | AlertRepeat] = []

    def feed(self, events: Iterable[Event]) -> Run:
        for event in events:
            alerts, hits = self.stage.evaluate(event)
            self.base_alerts += alerts
            self.out += self.engine.offer(hits)
        return self

    def flush(self) -> Run:
        self.out += self.engine.flush()
        return self

    @property
    def alerts(self) -> list[Alert]:
        return [a for a in self.out if isinstance(a, Alert)]

    @property
    def repeats(self) -> list[AlertRepeat]:
        return [a for a in self.out if isinstance(a, AlertRepeat)]

    def summary(self) -> list[tuple[str, str | None, datetime | None, int]]:
        """(alert id, host, first seen, final count) per alert, repeats folded in."""
        final: dict[str, Alert] = {a.id: a for a in self.alerts}
        for r in self.repeats:
            final[r.alert_id] = r.apply(final[r.alert_id])
        return sorted((a.id, a.host_name, a.first_seen, a.count) for a in final.values())


def shuffled_within(events: Sequence[Event], seconds: float, seed: int) -> list[Event]:
    """The events in an arrival order that moves each by less than `seconds` of event time."""
    rng = random.Random(seed)
    keyed = [(e.timestamp.timestamp() + rng.uniform(0, seconds * 0.9), i, e) for i, e in enumerate(events)]
    return [e for _, _, e in sorted(keyed)]
