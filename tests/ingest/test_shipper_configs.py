"""The shipper configurations in deploy/shippers agree with the intake and the topic scheme.

Fluent Bit, Vector, Winlogbeat and NXLog are not packaged for Debian or PyPI here, so they are not
run: their default payload shapes are posted to the intake in test_http_intake.py, and this test
checks the files themselves (they parse, point at our routes and topics, explain identity).
rsyslog and kcat configs are run for real (test_rsyslog.py, test_kafka_direct.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from api.intake.routes import router

SHIPPERS = Path(__file__).resolve().parents[2] / "deploy" / "shippers"


def test_every_config_explains_how_the_source_is_identified() -> None:
    files = [p for p in SHIPPERS.rglob("*") if p.is_file()]
    assert len(files) >= 9
    for path in files:
        assert "Identity:" in path.read_text(), f"{path} does not say how the source is identified"


def test_http_shippers_post_to_the_intake_route() -> None:
    routes = {getattr(r, "path", "") for r in router.routes}
    assert "/ingest/v1/events" in routes
    fb = yaml.safe_load((SHIPPERS / "fluent-bit" / "fluent-bit.yaml").read_text())
    [out] = fb["pipeline"]["outputs"]
    assert (out["name"], out["uri"], out["format"], out["json_date_key"]) == (
        "http",
        "/ingest/v1/events",
        "json_lines",
        "date",
    )
    assert out["header"].startswith("Authorization Bearer ")
    vector = yaml.safe_load((SHIPPERS / "vector" / "vector.yaml").read_text())
    sink = vector["sinks"]["socpipe"]
    assert sink["uri"].endswith("/ingest/v1/events") and sink["encoding"]["codec"] == "json"
    assert sink["auth"]["strategy"] == "bearer" and sink["acknowledgements"]["enabled"] is True
    nxlog = (SHIPPERS / "nxlog" / "nxlog-enterprise.conf").read_text()
    assert "URL         https://soc.example.gov.vn/ingest/v1/events" in nxlog
    assert "Authorization: Bearer" in nxlog


def test_kafka_shippers_write_to_a_source_topic_with_acks_all() -> None:
    wlb = yaml.safe_load((SHIPPERS / "winlogbeat" / "winlogbeat.yml").read_text())
    assert wlb["output.kafka"]["topic"].startswith("soc.raw.")
    assert wlb["output.kafka"]["required_acks"] == -1
    omkafka = (SHIPPERS / "rsyslog" / "socpipe-omkafka.conf").read_text()
    assert '"acks=all"' in omkafka and "soc.raw.@SOURCE_ID@" in omkafka
    assert "-X acks=all" in (SHIPPERS / "kcat" / "ship-file.sh").read_text()
