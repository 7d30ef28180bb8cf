"""The intake's per-request and per-record limits (issue #14): record amplification through gzip,
a record nested hundreds of levels deep, too many fields, a rate-limited source, Kafka down.

Each refusal is a problem document carrying its `reason`, counted under that reason, and nothing
of the request reaches `submit`. Memory under the amplification attack is measured by
`bench/bench_intake_limits.py`; here the proof is that no record is even built."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from api.context import AppContext
from ingest.limits import INFLATE_SLICE, BodyReader, Limits, TooManyRecords
from ingest.sources import Attribution
from soc_core.errors import StoreError
from soc_core.settings import IngestSettings, Settings, StoreSettings
from socpipe.app import create_app
from socpipe.runtime import KafkaSubmit
from tests.backends import backend_of
from tests.ingest.helpers import Recorder, free_port, source, sqlite_registry
from tests.ingest.test_http_intake import ECS_TOKEN, LINE, make_client, post, rejected
from tests.problems import problem

AMPLIFICATION_LINES = 1_000_000  # the attack: a ~4 KB gzip body of a million tiny lines


def amplification(lines: int, record: bytes = b"{}") -> bytes:
    return gzip.compress((record + b"\n") * lines, compresslevel=9)


def nested(depth: int) -> bytes:
    """An object `depth` levels deep, as ECS passthrough sends one (orjson writes only 255)."""
    return b'{"l":' * (depth - 1) + b'{"leaf":1}' + b"}" * (depth - 1)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many records the intake built (`Attribution.record` calls), whatever it answered."""
    calls = [0]
    original = Attribution.record

    def counting(self: Attribution, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Attribution, "record", counting)
    return calls


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def client(tmp_path: Path, rec: Recorder) -> Iterator[TestClient]:
    yield from make_client(tmp_path, rec)  # the default limits


@pytest.mark.parametrize("lines", [20_000, AMPLIFICATION_LINES])
def test_gzip_record_amplification_is_413_before_any_record_is_built(
    client: TestClient, rec: Recorder, built: list[int], lines: int
) -> None:
    body = amplification(lines)
    assert len(body) < 8 * 1024
    before = rejected("auth-fb", "too_many_records")
    resp = post(client, body, **{"Content-Encoding": "gzip"})
    refusal = problem(resp, 413)
    assert refusal["reason"] == "too_many_records" and "10000" in refusal["detail"]
    assert built[0] == 0 and rec.records == []
    assert rejected("auth-fb", "too_many_records") == before + 1


def test_a_json_array_over_the_records_limit_is_413_without_being_parsed_whole(
    client: TestClient, rec: Recorder, built: list[int]
) -> None:
    body = gzip.compress(b"[" + b",".join([b"{}"] * AMPLIFICATION_LINES) + b"]", compresslevel=9)
    resp = post(client, body, **{"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert problem(resp, 413)["reason"] == "too_many_records"
    assert built[0] == 0 and rec.records == []


def test_inflating_stops_at_the_records_limit_not_at_the_end_of_the_body() -> None:
    limits = Limits.of(IngestSettings())
    reader = BodyReader("gzip", limits)
    with pytest.raises(TooManyRecords):
        reader.feed(amplification(AMPLIFICATION_LINES))
    full = AMPLIFICATION_LINES * 3
    assert reader.inflated_bytes <= (limits.records + 1) * 3 + INFLATE_SLICE < full // 10


@pytest.mark.parametrize("limit", [1, 100])
def test_the_records_limit_is_exact_and_configurable(tmp_path: Path, rec: Recorder, limit: int) -> None:
    lines = [orjson.dumps({"log": f"{LINE} {n}"}) for n in range(limit + 1)]
    for client in make_client(tmp_path, rec, max_request_records=limit):
        assert post(client, b"\n".join(lines[:limit]) + b"\n").status_code == 202
        assert post(client, orjson.dumps([orjson.loads(x) for x in lines[:limit]])).status_code == 202
        assert problem(post(client, b"\n".join(lines)), 413)["reason"] == "too_many_records"
        array = orjson.dumps([orjson.loads(x) for x in lines])
        assert problem(post(client, array), 413)["reason"] == "too_many_records"
    assert len(rec.records) == 2 * limit


def test_the_decompressed_bytes_limit_is_its_own_setting(tmp_path: Path, rec: Recorder) -> None:
    body = b"\n".join(orjson.dumps({"log": f"{LINE} {n}"}) for n in range(100))
    for client in make_client(tmp_path, rec, max_decompressed_bytes=4096):
        resp = post(client, gzip.compress(body), **{"Content-Encoding": "gzip"})
        assert problem(resp, 413)["reason"] == "decompressed_too_large"
        assert problem(post(client, body), 413)["reason"] == "decompressed_too_large"
    assert rec.records == []


def test_a_record_nested_300_levels_deep_is_400_too_deep(
    client: TestClient, rec: Recorder, built: list[int]
) -> None:
    deep = nested(300)
    before = rejected("app-ecs", "too_deep")
    line = post(client, orjson.dumps({"message": "ok"}) + b"\n" + deep, token=ECS_TOKEN)
    refusal = problem(line, 400)
    assert refusal["reason"] == "too_deep" and refusal["detail"] == "line 2 is nested deeper than 32 levels"
    array = post(client, b"[" + deep + b"]", token=ECS_TOKEN)
    assert problem(array, 400)["reason"] == "too_deep"
    lists = post(client, b"[" * 300 + b"]" * 300, token=ECS_TOKEN)
    assert problem(lists, 400)["reason"] == "too_deep"
    assert rejected("app-ecs", "too_deep") == before + 3
    assert built[0] == 0 and rec.records == []


def test_a_json_payload_in_the_shipper_envelope_is_held_to_the_same_depth(
    client: TestClient, rec: Recorder
) -> None:
    deep = nested(300).decode()
    envelope = orjson.dumps({"id": "x:1", "payload": deep, "format": "ecs"})
    resp = post(client, envelope, path="/ingest/v1/records")
    assert "`payload` is nested deeper than 32" in problem(resp, 400)["detail"]
    # a text-format payload is a line, whatever braces it holds
    text = orjson.dumps({"id": "x:2", "payload": "{" * 300})
    assert post(client, text, path="/ingest/v1/records").status_code == 202
    assert [r.payload for r in rec.records] == ["{" * 300]


def test_a_record_with_too_many_fields_is_400(client: TestClient, rec: Recorder) -> None:
    wide = orjson.dumps({f"f{n}": n for n in range(10_001)})
    assert len(wide) < IngestSettings().max_record_bytes
    refusal = problem(post(client, wide, token=ECS_TOKEN), 400)
    assert refusal["reason"] == "too_many_fields" and "more than 10000 fields" in refusal["detail"]
    items = orjson.dumps({"ips": ["10.0.0.1"] * 10_001})
    assert problem(post(client, items, token=ECS_TOKEN), 400)["reason"] == "too_many_fields"
    within = orjson.dumps({f"f{n}": [n, {"x": n}] for n in range(2_000)})  # 8,000 values
    assert post(client, within, token=ECS_TOKEN).status_code == 202
    assert len(rec.records) == 1


def test_depth_and_fields_are_configurable(tmp_path: Path, rec: Recorder) -> None:
    for client in make_client(tmp_path, rec, max_record_depth=4, max_record_fields=20):
        assert post(client, nested(4), token=ECS_TOKEN).status_code == 202
        assert problem(post(client, nested(5), token=ECS_TOKEN), 400)["reason"] == "too_deep"
        fields = orjson.dumps({"a": list(range(20))})  # 21 values
        assert problem(post(client, fields, token=ECS_TOKEN), 400)["reason"] == "too_many_fields"
    assert len(rec.records) == 1


def test_a_source_in_rate_limit_debt_is_429_before_its_body_is_read(tmp_path: Path, rec: Recorder) -> None:
    for client in make_client(tmp_path, rec, ingest_rate_eps=1.0, ingest_rate_burst=10):
        batch = b"\n".join(orjson.dumps({"log": f"{LINE} {n}"}) for n in range(50))
        assert post(client, batch).status_code == 202  # over the burst: passes once, leaves a debt
        resp = post(client, b"{not json at all")  # parsed, it would be a 400
        assert problem(resp, 429)["reason"] == "rate_limited"
        assert int(resp.headers["Retry-After"]) >= 30
        assert post(client, orjson.dumps({"message": "x"}), token=ECS_TOKEN).status_code == 202
    assert len(rec.records) == 51


def test_kafka_unreachable_is_503_with_retry_after_never_500(tmp_path: Path) -> None:
    from buses.kafka import KafkaBus

    settings = Settings(data_dir=tmp_path, stores=StoreSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    bus = KafkaBus(settings.stores.kafka_bootstrap, publish_timeout_s=1.0)
    store, registry = sqlite_registry(tmp_path, [source("auth-fb", format="linux_syslog", token="t")])
    ctx = AppContext(
        settings=settings, backend=backend_of(store), registry=registry, submit=KafkaSubmit(settings, bus)
    )
    client = TestClient(create_app(ctx))
    before = rejected("auth-fb", "backpressure")
    for _ in range(2):  # the producer is not built the first time, nor the second
        resp = post(client, orjson.dumps({"log": LINE}), token="t")
        refusal = problem(resp, 503)
        assert refusal["reason"] == "backpressure" and "Kafka" in refusal["detail"]
        assert int(resp.headers["Retry-After"]) >= 1
    assert rejected("auth-fb", "backpressure") == before + 2
    store.close()


def test_an_array_with_an_integer_past_64_bits_is_400_not_500(client: TestClient, rec: Recorder) -> None:
    record = b'{"message":"big","n":18446744073709551616}'
    assert post(client, record, token=ECS_TOKEN).status_code == 202  # orjson: a float
    assert "integer overflow" in problem(post(client, b"[" + record + b"]", token=ECS_TOKEN), 400)["detail"]
    assert len(rec.records) == 1


def test_a_failed_store_write_in_embedded_mode_is_503_with_retry_after(tmp_path: Path) -> None:
    def failing(records: object) -> int:
        raise StoreError("sqlite write failed: database is locked")

    store, registry = sqlite_registry(tmp_path, [source("auth-fb", format="linux_syslog", token="t")])
    ctx = AppContext(
        settings=Settings(data_dir=tmp_path), backend=backend_of(store), registry=registry, submit=failing
    )
    before = rejected("auth-fb", "backpressure")
    resp = post(TestClient(create_app(ctx)), orjson.dumps({"log": LINE}), token="t")
    assert problem(resp, 503)["reason"] == "backpressure"
    assert resp.headers["Retry-After"] == "5"
    assert rejected("auth-fb", "backpressure") == before + 1
    store.close()


def test_leading_blanks_decide_nothing_until_the_body_starts(tmp_path: Path, rec: Recorder) -> None:
    lines = b"\n".join(orjson.dumps({"log": f"{LINE} {n}"}) for n in range(3))
    array = orjson.dumps([{"log": LINE}])
    for client in make_client(tmp_path, rec, max_request_records=3):
        assert (
            post(
                client, gzip.compress(b" \r\n\t" * 100_000 + array), **{"Content-Encoding": "gzip"}
            ).status_code
            == 202
        )
        assert post(client, b"   " + lines).status_code == 202
    assert len(rec.records) == 4
