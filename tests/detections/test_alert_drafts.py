"""The detect stage builds only the alerts suppression lets through (`detections.stage.AlertDraft`):
a repeat needs its open alert's id, not a model of its own. Same outcomes as building every alert
and offering it (`Suppressor.offer`), the path this replaced."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from detections.engine import DetectionEngine
from detections.stage import DetectStage, SuppressingDetect
from detections.suppression import NewAlert, Offer
from soc_core.alert import Alert, AlertRepeat
from soc_core.event import Event
from tests.detections.test_stage import PACK, netsh_event


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    return DetectionEngine.from_folders([PACK])


def _events() -> list[Event]:
    events = [
        netsh_event(f"ev-{n}", n % 50, host=host) for n, host in enumerate(["ws-1", "WS-1", "ws-2"] * 8)
    ]
    no_host = netsh_event("ev-nohost", 3)
    del no_host.doc["host"]  # grouped by its log source instead
    late = netsh_event("ev-late", 59, host="ws-1")  # past the window of the first: a new alert
    return [*events, no_host, events[0], late]  # events[0] again: a replay


def _reference(engine: DetectionEngine, events: list[Event]) -> list[list[Alert | AlertRepeat]]:
    """Every alert built, then offered: the old path."""
    stage = DetectStage(engine, timedelta(minutes=30))
    out: list[list[Alert | AlertRepeat]] = []
    for event in events:
        decided: list[Alert | AlertRepeat] = []
        for alert in stage.evaluate(event)[0]:
            outcome = stage.suppressor.offer(alert)
            if isinstance(outcome, NewAlert):
                decided.append(outcome.alert)
            else:
                decided.append(outcome.as_repeat())
        out.append(decided)
    return out


def _comparable(outcomes: list[Alert | AlertRepeat] | Exception) -> list[dict[str, object]]:
    """The outcomes but their creation times (each alert is stamped when built)."""
    assert not isinstance(outcomes, Exception)
    return [o.model_dump(exclude={"created_at"}) for o in outcomes]


def test_only_new_alerts_are_built_and_the_outcomes_are_the_same(
    engine: DetectionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events()
    expected = _reference(engine, events)
    built: list[str] = []
    validate = Alert.model_validate

    def counting(cls: type[Alert], *args: Any, **kwargs: Any) -> Alert:
        alert = validate(*args, **kwargs)
        built.append(alert.id)
        return alert

    # `DetectStage.build_alert` validates each alert it builds (the stage may be compiled, whose
    # methods cannot be replaced): counting the validations counts the alerts built
    monkeypatch.setattr(Alert, "model_validate", classmethod(counting))
    detect = SuppressingDetect(DetectStage(engine, timedelta(minutes=30)))
    got = detect.detect_many(events)
    assert [_comparable(o) for o in got] == [_comparable(o) for o in expected]
    new = [a.id for outcomes in expected for a in outcomes if isinstance(a, Alert)]
    assert built == new and 0 < len(new) < sum(map(len, expected))  # repeats were not built


def test_a_draft_offers_what_its_alert_would(engine: DetectionEngine) -> None:
    stage = DetectStage(engine)
    drafts = [d for event in _events() for d in stage.draft(event)[0]]
    assert drafts and all(d.offer == Offer.of(d.build()) for d in drafts)


def test_an_alert_that_cannot_be_built_leaves_no_series_behind(
    engine: DetectionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    detect = SuppressingDetect(DetectStage(engine, timedelta(minutes=30)))

    def failing(cls: type[Alert], *args: Any, **kwargs: Any) -> Alert:
        raise ValueError("test: this alert cannot be built")

    # the validation inside `DetectStage.build_alert` fails (see the test above)
    monkeypatch.setattr(Alert, "model_validate", classmethod(failing))
    (failed,) = detect.detect_many([netsh_event("ev-a", 0)])
    assert isinstance(failed, ValueError) and "cannot be built" in str(failed)
    monkeypatch.undo()
    (outcomes,) = detect.detect_many([netsh_event("ev-b", 1)])
    assert not isinstance(outcomes, Exception)
    assert [type(o) for o in outcomes] == [Alert]  # new, not a repeat of the alert never stored
