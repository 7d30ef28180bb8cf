"""The HTTP intake as Fluent Bit and Vector call it by default, our shipper's envelope, per-source
rate limits (429) and refusal metrics, back-pressure (503), and curl with gzip on a real server."""

from __future__ import annotations

import base64
import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest

from api.context import AppContext
from soc_core.records import record_id
from soc_core.settings import IngestSettings, Settings
from socpipe.app import create_app
from tests.backends import backend_of
from tests.ingest.helpers import Recorder, http_intake, require_tool, source, sqlite_registry
from tests.problems import problem

SYSLOG_TOKEN = "tok-syslog"
ECS_TOKEN = "tok-ecs"
SOURCES = [
    source("auth-fb", format="linux_syslog", token=SYSLOG_TOKEN),
    source("app-ecs", format="ecs", token=ECS_TOKEN),
]
LINE = "<38>Jul  1 08:00:00 web01 sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2"


def rejected(source_id: str, reason: str) -> float:
    labels = {"source": source_id, "reason": reason, "transport": "http"}
    return REGISTRY.get_sample_value("soc_source_rejected_total", labels) or 0.0


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def make_client(tmp_path: Path, rec: Recorder, **ingest: object) -> Iterator[TestClient]:
    store, registry = sqlite_registry(tmp_path, SOURCES)
    ctx = AppContext(
        settings=Settings(data_dir=tmp_path, ingest=IngestSettings(**ingest)),  # type: ignore[arg-type]
        backend=backend_of(store),
        registry=registry,
        submit=rec,
    )
    yield TestClient(create_app(ctx))
    store.close()


@pytest.fixture
def client(tmp_path: Path, rec: Recorder) -> Iterator[TestClient]:
    yield from make_client(tmp_path, rec)


def post(
    client: TestClient, body: bytes, token: str = SYSLOG_TOKEN, path: str = "/ingest/v1/events", **h: str
):  # type: ignore[no-untyped-def]
    return client.post(path, content=body, headers={"Authorization": f"Bearer {token}", **h})


def test_fluent_bit_json_and_json_lines_with_its_date_key(client: TestClient, rec: Recorder) -> None:
    # out_http `format json`: one array; `json_lines`: NDJSON. Tail input puts the line under `log`.
    fb = [{"date": 1751331600.123456 + n, "log": LINE} for n in range(3)]
    assert post(client, orjson.dumps(fb), **{"Content-Type": "application/json"}).status_code == 202
    lines = b"\n".join(orjson.dumps(r) for r in fb) + b"\n"
    assert post(client, lines, **{"Content-Type": "application/x-ndjson"}).status_code == 202
    # the same line at three instants is three events; the resent batch is the same three
    assert [r.payload for r in rec.records] == [LINE] * 6
    assert len(rec.distinct()) == 3
    assert rec.records[0].format == "linux_syslog" and rec.records[0].source_id == "auth-fb"


def test_fluent_bit_json_records_get_their_timestamp_from_date(client: TestClient, rec: Recorder) -> None:
    body = orjson.dumps([{"date": 1751331600.5, "message": "login", "user": {"name": "an"}}])
    assert post(client, body, token=ECS_TOKEN).status_code == 202
    doc = orjson.loads(rec.records[0].payload)
    assert doc["@timestamp"] == "2025-07-01T01:00:00.500000+00:00"
    assert doc["user"] == {"name": "an"}


def test_vector_http_sink_json_array_and_ndjson(client: TestClient, rec: Recorder) -> None:
    events = [
        {"host": "web01", "message": LINE, "source_type": "file", "timestamp": "2025-07-01T01:00:00.000001Z"},
        {"host": "web01", "message": LINE, "source_type": "file", "timestamp": "2025-07-01T01:00:00.000002Z"},
    ]
    assert post(client, orjson.dumps(events)).status_code == 202  # codec json
    ndjson = b"\n".join(orjson.dumps(e) for e in events)
    assert post(client, gzip.compress(ndjson), **{"Content-Encoding": "gzip"}).status_code == 202
    assert [r.payload for r in rec.records] == [LINE] * 4
    assert len(rec.distinct()) == 2


def test_ndjson_lines_end_at_lf_only_so_line_separators_inside_a_record_are_kept(
    client: TestClient, rec: Recorder
) -> None:
    # U+2028, U+2029 and NEL are valid raw inside JSON strings (orjson, serde_json write them so)
    odd = [f"{LINE} sep\u2028ara\u2029ted\x85end", f"{LINE} form\x0cfeed", LINE]
    body = b"\r\n".join(orjson.dumps({"log": line, "date": n}) for n, line in enumerate(odd)) + b"\r\n\n"
    resp = post(client, body)
    assert resp.status_code == 202, resp.text
    assert [r.payload for r in rec.records] == odd


def test_a_request_is_counted_exactly_with_one_arrival_time(client: TestClient, rec: Recorder) -> None:
    labels = {"source": "auth-fb"}
    events = REGISTRY.get_sample_value("soc_source_events_received_total", labels) or 0.0
    nbytes = REGISTRY.get_sample_value("soc_source_received_bytes_total", labels) or 0.0
    body = b"\n".join(orjson.dumps({"log": f"{LINE} {n}", "date": n}) for n in range(1500))
    assert post(client, gzip.compress(body), **{"Content-Encoding": "gzip"}).status_code == 202
    assert REGISTRY.get_sample_value("soc_source_events_received_total", labels) == events + 1500
    assert REGISTRY.get_sample_value("soc_source_received_bytes_total", labels) == nbytes + len(body)
    assert len({r.received_at for r in rec.records}) == 1


def test_a_line_over_the_record_limit_is_413_naming_it(tmp_path: Path, rec: Recorder) -> None:
    body = b"\n".join(orjson.dumps({"log": "x" * size}) for size in (10, 900, 1100, 10))
    for client in make_client(tmp_path, rec, max_record_bytes=1024):
        resp = post(client, body)
        assert "line 3 is over 1024 bytes" in problem(resp, 413)["detail"]
    assert rec.records == []


def test_basic_auth_with_the_token_as_password(client: TestClient, rec: Recorder) -> None:
    basic = base64.b64encode(f"fluentbit:{SYSLOG_TOKEN}".encode()).decode()
    resp = client.post(
        "/ingest/v1/events", content=orjson.dumps({"log": LINE}), headers={"Authorization": f"Basic {basic}"}
    )
    assert resp.status_code == 202 and resp.json()["source"] == "auth-fb"


def test_shipper_envelope_ids_make_resends_idempotent_and_format_can_be_overridden(
    client: TestClient, rec: Recorder
) -> None:
    body = b"\n".join(
        orjson.dumps({"id": f"h:/var/log/auth.log:12:{n * 90}:ab", "payload": LINE}) for n in range(3)
    )
    assert post(client, body, path="/ingest/v1/records").status_code == 202
    assert post(client, body, path="/ingest/v1/records").status_code == 202
    ids = {r.id for r in rec.records}
    assert ids == {record_id("auth-fb", LINE, f"h:/var/log/auth.log:12:{n * 90}:ab") for n in range(3)}
    ev = orjson.dumps({"id": "evtx:1", "payload": "{}", "format": "evtx_json", "evidence": {"case": "X-1"}})
    assert post(client, ev, path="/ingest/v1/records").status_code == 202
    assert (rec.records[-1].format, rec.records[-1].evidence) == ("evtx_json", {"case": "X-1"})
    bad = post(client, orjson.dumps({"id": "x", "payload": "y", "format": "nope"}), path="/ingest/v1/records")
    assert "unknown format" in problem(bad, 400)["detail"]
    assert post(client, orjson.dumps({"payload": "y"}), path="/ingest/v1/records").status_code == 400


def test_rate_limit_is_429_with_retry_after_and_counted_per_source(tmp_path: Path, rec: Recorder) -> None:
    store, registry = sqlite_registry(tmp_path, SOURCES)
    settings = Settings(data_dir=tmp_path, ingest=IngestSettings(ingest_rate_eps=10.0, ingest_rate_burst=20))
    ctx = AppContext(settings=settings, backend=backend_of(store), registry=registry, submit=rec)
    client = TestClient(create_app(ctx))
    before = rejected("auth-fb", "rate_limited")
    batch = b"\n".join(orjson.dumps({"log": f"{LINE} {n}"}) for n in range(20))
    assert post(client, batch).status_code == 202
    resp = post(client, batch)
    assert problem(resp, 429)["type"] == "/problems/rate-limited"
    assert int(resp.headers["Retry-After"]) >= 1
    assert rejected("auth-fb", "rate_limited") == before + 1
    assert post(client, orjson.dumps({"message": "x"}), token=ECS_TOKEN).status_code == 202  # per source
    store.close()


def test_refusals_are_counted_per_source_and_reason(client: TestClient) -> None:
    before = {r: rejected("auth-fb", r) for r in ("bad_request", "too_large")}
    assert post(client, b"{not json").status_code == 400
    assert post(client, orjson.dumps({"log": "x" * 2_000_000})).status_code == 413
    assert rejected("auth-fb", "bad_request") == before["bad_request"] + 1
    assert rejected("auth-fb", "too_large") == before["too_large"] + 1
    metrics = generate_latest().decode()  # what the ops listener serves
    assert 'soc_source_rejected_total{reason="bad_request",source="auth-fb",transport="http"}' in metrics


def test_kafka_down_is_503_with_retry_after_and_nothing_is_acknowledged(
    client: TestClient, rec: Recorder
) -> None:
    rec.open.clear()
    resp = post(client, orjson.dumps({"log": LINE}))
    assert problem(resp, 503)["type"] == "/problems/unavailable"
    assert resp.headers["Retry-After"] == "1"
    assert rec.records == []
    rec.open.set()
    assert post(client, orjson.dumps({"log": LINE})).status_code == 202


def test_curl_posts_gzip_ndjson_to_a_real_server(tmp_path: Path) -> None:
    curl = require_tool("curl")
    rec = Recorder()
    body = tmp_path / "batch.ndjson.gz"
    body.write_bytes(gzip.compress(b"\n".join(orjson.dumps({"log": f"{LINE} n={n}"}) for n in range(500))))
    with http_intake(tmp_path, SOURCES, rec) as (url, _):
        out = subprocess.run(
            [
                curl,
                "-sS",
                "--fail-with-body",
                "-X",
                "POST",
                f"{url}/ingest/v1/events",
                "-H",
                f"Authorization: Bearer {SYSLOG_TOKEN}",
                "-H",
                "Content-Type: application/x-ndjson",
                "-H",
                "Content-Encoding: gzip",
                "--data-binary",
                f"@{body}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stdout + out.stderr
    assert orjson.loads(out.stdout) == {"accepted": 500, "deadletters": 0, "source": "auth-fb"}
    assert len(rec.distinct()) == 500
