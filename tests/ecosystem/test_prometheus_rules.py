"""The pipeline's Prometheus alerting rules: valid for promtool, unit-tested with promtool, loaded
by the shipped Prometheus config, and reading only series socpipe exports."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from api.coverage.jobs import publish_targets
from soc_core.registry import CoverageScope, CoverageTarget
from tests.ecosystem.metrics_catalog import EXTERNAL, ROOT, metric_names, run_promtool, series_names

FOLDER = ROOT / "deploy" / "prometheus"
RULES = FOLDER / "socpipe.rules.yml"
RULE_TESTS = FOLDER / "socpipe.rules.test.yml"
RENAMED = FOLDER / "socpipe-renamed.rules.yml"
CONFIG = ROOT / "deploy" / "prometheus.yml"
#: Old name -> new name (docs/ecosystem.md, "Renamed metrics").
RENAMES = {
    "soc_systems_total": "soc_systems",
    "soc_endpoints_total": "soc_endpoints",
    "soc_source_bytes_received_total": "soc_source_received_bytes_total",
}


def alerting_rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    result = run_promtool("check", "rules", str(RULES), str(RENAMED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerting_rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass() -> None:
    tests = sorted(p.name for p in FOLDER.glob("*.rules.test.yml"))
    assert tests == ["socpipe-renamed.rules.test.yml", "socpipe.rules.test.yml"]
    result = run_promtool("test", "rules", *tests, cwd=FOLDER)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_old_names_are_recorded_from_the_new_ones() -> None:
    [group] = yaml.safe_load(RENAMED.read_text())["groups"]
    assert {r["record"]: r["expr"] for r in group["rules"]} == RENAMES
    exported = series_names()
    assert set(RENAMES.values()) <= exported and not set(RENAMES) & exported


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"] for t in tests for case in t.get("alert_rule_test", []) if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in alerting_rules()}


def test_the_rules_cover_the_pipelines_failures() -> None:
    names = {rule["alert"] for rule in alerting_rules()}
    assert {
        "SocpipeConsumerStalled",
        "SocpipeDeadLettersRising",
        "SocpipeIntakeSilent",
        "SocpipeCoverageBelowTarget",
        "SocpipeReportRecordsUnreadable",
    } <= names
    for rule in alerting_rules():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= set(rule["annotations"])


def test_the_rules_read_only_series_socpipe_exports() -> None:
    exported = series_names() | EXTERNAL
    for rule in alerting_rules():
        read = metric_names(str(rule["expr"]))
        assert read, rule["alert"]
        assert read <= exported, (rule["alert"], read - exported)


def test_the_shipped_prometheus_config_loads_the_rules(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]  # the compose mount
    config["rule_files"] = [str(RULES.parent / "*.rules.yml")]  # the same files, where they are here
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = run_promtool("check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout  # socpipe and socpipe-renamed
    assert f"SUCCESS: {len(alerting_rules())} rules found" in result.stdout
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert "./prometheus:/etc/prometheus/rules:ro" in compose


def _target(scope: str, unit: str) -> float | None:
    return REGISTRY.get_sample_value("soc_coverage_target_ratio", {"scope": scope, "unit": unit})


def test_the_target_a_rule_compares_with_is_the_next_deadline() -> None:
    targets = [
        CoverageTarget(
            id="t-2025", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=60, deadline=date(2025, 12, 31)
        ),
        CoverageTarget(
            id="t-2027", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=95, deadline=date(2027, 6, 30)
        ),
        CoverageTarget(
            id="t-2026", scope=CoverageScope.IMPORTANT_SYSTEMS, percent=80, deadline=date(2026, 12, 31)
        ),
        CoverageTarget(
            id="t-old",
            scope=CoverageScope.LEVEL3_AND_ABOVE,
            percent=70,
            deadline=date(2024, 1, 1),
            unit_id="so-yte",
        ),
    ]
    publish_targets(targets, datetime(2026, 3, 1, 9, 0))
    assert _target("important_systems", "province") == 0.8
    assert _target("level3_and_above", "so-yte") == 0.7  # every deadline passed: the last one
    publish_targets(targets[:3], datetime(2027, 1, 5, 9, 0))
    assert _target("important_systems", "province") == 0.95
    assert _target("level3_and_above", "so-yte") is None  # removed from the registry: no series
