"""The provincial correlation rules on their raw-log samples, through the offline `socpipe detect`.

Each `correlation_<x>.samples.json` beside a correlation rule lists its sample files (raw logs in the
formats the province's sources send, built by tests/detections/make_provincial_samples.py) and,
per file, how many alerts every correlation rule of the pack must raise on it (rules not listed:
none). The samples are run exactly as an analyst would: `socpipe detect --rules
detections/rules/provincial [--unit U] <file>`, alerts read from stdout.

Also checked on every sample: rules that correlations reference with `generate: false` raise no
alert of their own (Sigma: the correlation replaces them), and correlation alerts name the events
they counted.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from detections.correlation.engine import CorrelationEngine
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from normalizers.stage import NormalizeStage
from soc_core.alert import Alert, AlertRepeat
from soc_core.event import Event
from soc_core.records import RawRecord
from socpipe.cli import app
from tests.detections.provincial_pack import CORRELATION_FILES, PACK, manifest, rule_doc

CASES = [(file, case) for path in CORRELATION_FILES for file, case in manifest(path).items()]
CORRELATIONS = {str(rule_doc(p)["id"]): rule_doc(p)["name"] for p in CORRELATION_FILES}
NAMES = {
    rule_doc(p)["name"]: str(rule_doc(p)["id"]) for p in sorted(PACK.glob("*.yml")) if "name" in rule_doc(p)
}
SILENCED = {
    NAMES[ref]
    for p in CORRELATION_FILES
    if rule_doc(p)["correlation"]["generate"] is False
    for ref in rule_doc(p)["correlation"]["rules"]
}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rule-cache")


def detect(file: str, unit: str | None, cache_dir: Path, *extra: str) -> list[dict[str, Any]]:
    args = ["detect", "--rules", str(PACK), "--cache-dir", str(cache_dir), *extra]
    if unit:
        args += ["--unit", unit]
    result = CliRunner().invoke(app, [*args, str(PACK / file)])
    assert result.exit_code == 0, result.output
    assert "dead_letters=" not in result.stderr, f"{file} has lines that do not normalize: {result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


@pytest.mark.parametrize(("file", "case"), CASES, ids=[f for f, _ in CASES])
def test_sample(file: str, case: dict[str, Any], cache_dir: Path) -> None:
    alerts = detect(file, case.get("unit"), cache_dir)
    fired = Counter(CORRELATIONS[a["rule"]["id"]] for a in alerts if a["rule"]["id"] in CORRELATIONS)
    assert dict(fired) == case["expect"], case["why"]
    silenced = sorted({a["rule"]["name"] for a in alerts if a["rule"]["id"] in SILENCED})
    assert silenced == [], f"rules referenced with generate: false alerted on their own: {silenced}"
    for alert in alerts:
        if alert["rule"]["id"] in CORRELATIONS:
            name = alert["rule"]["name"]
            assert alert["event_ids"], f"{name}: a correlation alert names the events it counted"
            if case.get("unit"):
                assert alert["soc"]["unit"]["id"] == case["unit"]


def test_correlation_alert_ids_are_deterministic(cache_dir: Path) -> None:
    """The same sample run twice gives the same alert ids (one id per rule, group and window)."""
    file = "correlation_sshd_login_after_failures.fire-after-brute-force.log"
    first = [a["id"] for a in detect(file, None, cache_dir) if a["rule"]["id"] in CORRELATIONS]
    second = [a["id"] for a in detect(file, None, cache_dir) if a["rule"]["id"] in CORRELATIONS]
    assert len(first) == 2 and first == second


@pytest.mark.parametrize(("lateness", "alerts"), [("60", 1), ("0", 0)])
def test_late_lines_within_the_live_lateness(lateness: str, alerts: int, cache_dir: Path) -> None:
    """The burst whose first 3 attempts a relay delivers up to 50 s late: with the live pipeline's
    60 s event-time lateness they still count (12 failures, one alert); with none they are dropped
    as late and the 9 left are under the threshold."""
    file = "correlation_sshd_brute_force.fire-out-of-order.log"
    raised = detect(file, None, cache_dir, "--correlation-lateness", lateness)
    assert [CORRELATIONS.get(a["rule"]["id"]) for a in raised].count("vn_sshd_brute_force") == alerts


HOSTS = ["pc-syt-01", "pc-syt-02", "pc-syt-03", "pc-syt-04"]


@pytest.mark.parametrize(
    ("units", "alerts"),
    [
        (dict(zip(HOSTS, ["so-yte", "so-yte", "xa-phu-tan", "xa-phu-tan"], strict=True)), 0),
        (dict(zip(HOSTS, ["so-yte", "so-yte", "so-yte", "xa-phu-tan"], strict=True)), 1),
    ],
    ids=["two-units-two-hosts-each", "three-hosts-in-one-unit"],
)
def test_av_outbreak_counts_hosts_per_unit(units: dict[str, str], alerts: int) -> None:
    """The outbreak sample's four computers split between two units. `socpipe detect --unit`
    stamps one unit per run, so this runs the same stages in process, each computer's events
    attributed to its own unit as ingest attributes a source's events to the source's unit."""
    engine = DetectionEngine.from_folders([PACK])
    normalize, detect = NormalizeStage(), DetectStage(engine)
    correlate = CorrelationEngine(engine.correlations, lateness_s=math.inf)
    outbreak = NAMES["vn_av_detections_several_hosts_unit"]
    sample = PACK / "correlation_av_detections_several_hosts_unit.fire.log"
    lines = sample.read_text(encoding="utf-8").splitlines()
    out: list[Alert | AlertRepeat] = []
    for n, line in enumerate(lines):
        host = normalize(RawRecord(id=str(n), source_id="sample", payload=line))
        assert isinstance(host, Event) and host.host is not None
        event = normalize(
            RawRecord(id=str(n), source_id="sample", unit_id=units.get(host.host["name"]), payload=line)
        )
        assert isinstance(event, Event)
        out += correlate.offer(detect.evaluate(event)[1])
    out += correlate.flush()
    raised = [a for a in out if isinstance(a, Alert) and a.rule.id == outbreak]
    assert len(raised) == alerts
    assert all(a.soc.unit.id == "so-yte" for a in raised)
