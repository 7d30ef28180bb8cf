"""socpipe's metric names follow Prometheus' conventions, checked by promtool itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY, generate_latest

from normalizers.stage import NormalizeStage
from soc_core.pipeline import detect_batch, normalize_batch
from soc_core.records import RawRecord
from soc_core.registry import SourceContext
from tests.conftest import make_alert, make_event
from tests.ecosystem.metrics_catalog import ROOT, exposition, families, run_promtool

UNITS = ("seconds", "bytes", "ratio")


def test_promtool_finds_nothing_to_say_about_the_exposition() -> None:
    result = run_promtool("check", "metrics", stdin=exposition())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "soc_source_received_bytes_total" in exposition()


def test_a_unit_ends_the_name_before_total() -> None:
    """promtool 2.42 does not check where the unit goes (`soc_source_bytes_received` passed it)."""
    wrong = []
    for name, kind in families().items():
        base = name.removesuffix("_total") if kind == "counter" else name
        for unit in UNITS:
            if f"_{unit}_" in f"{base}_" and not base.endswith(f"_{unit}"):
                wrong.append(name)
    assert wrong == []


def test_counters_end_in_total_and_nothing_else_does() -> None:
    for name, kind in families().items():
        assert name.endswith("_total") == (kind == "counter"), (name, kind)
        assert re.fullmatch(r"soc_[a-z0-9_]+", name), name


def _results(source: str, fmt: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "soc_normalize_results_total", {"source": source, "format": fmt, "outcome": outcome}
    )
    return value or 0.0


def test_a_source_the_registry_does_not_know_does_not_become_a_label() -> None:
    known = SourceContext(source_id="fw-known", format="cef", timezone="Asia/Ho_Chi_Minh")
    stage = NormalizeStage(lambda sid: known if sid == "fw-known" else None)
    made_up = "topic-suffix-nobody-registered"
    before_ok, before_unknown = _results("fw-known", "ecs", "ok"), _results("unknown", "ecs", "ok")
    before_bad = _results("unknown", "unknown", "deadletter")
    payload = '{"@timestamp": "2026-12-05T10:00:00Z", "message": "hello"}'
    records = [
        RawRecord(id="r1", source_id="fw-known", format="ecs", payload=payload),
        RawRecord(id="r2", source_id=made_up, format="ecs", payload=payload),
        RawRecord(id="r3", source_id=made_up, format="no-such-format", payload=payload),
    ]
    out = normalize_batch(stage, records)
    assert len(out.events) == 2 and len(out.deadletters) == 1
    assert out.deadletters[0].source_id == made_up  # the dead letter keeps the name it came with
    assert _results("fw-known", "ecs", "ok") == before_ok + 1
    assert _results("unknown", "ecs", "ok") == before_unknown + 1
    assert _results("unknown", "unknown", "deadletter") == before_bad + 1
    now = generate_latest(REGISTRY).decode()
    assert made_up not in now and "no-such-format" not in now


def _latency() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("soc_detection_latency_seconds_count") or 0.0
    total = REGISTRY.get_sample_value("soc_detection_latency_seconds_sum") or 0.0
    return count, total


def test_each_new_alert_observes_the_time_since_its_event_arrived() -> None:
    arrived = datetime.now(UTC) - timedelta(seconds=90)
    events = [make_event(1, ts=arrived), make_event(2, ts=arrived)]
    count, total = _latency()
    alerts, _ = detect_batch(lambda e: [make_alert("r1", e)] if e.id == events[0].id else [], events)
    assert len(alerts) == 1
    new_count, new_total = _latency()
    assert new_count == count + 1
    assert 90 <= new_total - total < 90 + 60  # the run's own time, generously


def test_every_metric_is_documented() -> None:
    doc = (ROOT / "docs" / "ecosystem.md").read_text()
    missing = [name for name in families() if f"| `{name}` |" not in doc]
    assert missing == []
