"""The Grafana dashboard (deploy/grafana): a well-formed dashboard whose every query parses
(promtool checks them as recording rules) and reads only series socpipe exports, with a panel
for each thing an operator watches."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.ecosystem.metrics_catalog import EXTERNAL, ROOT, metric_names, run_promtool, series_names

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "socpipe-pipeline.json"
#: Grafana's variables, replaced the way Grafana would before the query reaches Prometheus.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$job": ".*", "$source": ".*"}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def queries() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def variable_metrics() -> set[str]:
    """The metric each query variable lists its values from (`label_values(metric, label)`)."""
    out = set()
    for v in dashboard()["templating"]["list"]:
        if v["type"] == "query":
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", v["definition"])
            assert match and v["query"]["query"] == v["definition"], v["name"]
            out.add(match[1])
    return out


def expand(expr: str) -> str:
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


def test_the_dashboard_is_well_formed() -> None:
    d = dashboard()
    assert d["uid"] == "socpipe-pipeline" and d["title"] and d["schemaVersion"] >= 39
    [ds] = [v for v in d["templating"]["list"] if v["type"] == "datasource"]
    assert (ds["name"], ds["query"]) == ("datasource", "prometheus")
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    for p in panels():
        assert p["type"] in {"timeseries", "stat", "table"}, p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["description"] and p["fieldConfig"]["defaults"]["unit"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        assert all(t["datasource"] == p["datasource"] and t["expr"] for t in p["targets"]), p["title"]


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """promtool has no "parse this expression" command; as recording rules it parses them all."""
    rules = [{"record": f"socpipe:dashboard:q{i}", "expr": expand(q)} for i, q in enumerate(queries())]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run_promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_every_query_reads_series_socpipe_exports() -> None:
    exported = series_names() | EXTERNAL
    for q in queries():
        read = metric_names(expand(q))
        assert read, q
        assert read <= exported, (q, read - exported)
    assert variable_metrics() and variable_metrics() <= exported


def test_a_panel_for_each_thing_an_operator_watches() -> None:
    read = {
        p["title"]: set().union(*(metric_names(expand(t["expr"])) for t in p["targets"])) for p in panels()
    }
    wanted = {
        "events per stage": "soc_stage_events_received_total",
        "events per source": "soc_normalize_results_total",
        "consumer lag": "soc_consumer_lag_records",
        "dead letters": "soc_stage_events_dropped_total",
        "detection latency": "soc_detection_latency_seconds_bucket",
        "coverage": "soc_coverage_ratio",
    }
    for what, metric in wanted.items():
        assert any(metric in names for names in read.values()), what


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "socpipe.yml").read_text())
    [source] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    mount = f"./grafana/dashboards:{provider['providers'][0]['options']['path']}:ro"
    assert mount in compose["grafana"]["volumes"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose and compose["grafana"]["profiles"] == ["monitoring"]
