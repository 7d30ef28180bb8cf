"""The shipper configurations run as written on the versions they name (deploy/shippers).

Winlogbeat, Vector and NXLog are not packaged for Debian or PyPI here, so they are not run; what
each one would refuse or get wrong is checked against its documented rules, and NXLog Community
Edition's delivery (what om_ssl sends: one to_json() line per event over TLS with a client
certificate) is replayed into the real syslog receiver and normalized."""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.syslog.runner import start_syslog_in_thread
from normalizers.stage import NormalizeStage
from soc_core.event import Event
from soc_core.settings import IngestSettings
from tests.ecosystem.metrics_catalog import ROOT
from tests.ingest.helpers import Recorder, make_pki, source, sqlite_registry

SHIPPERS = ROOT / "deploy" / "shippers"
#: Elastic's Kafka output (Beats 8.x) accepts protocol versions 0.8.2.0 to 2.6.0; Kafka 4 refuses
#: anything older than 2.1 (KIP-896).
BEATS_KAFKA_VERSIONS = ("0.8.2.0", "2.6.0")
KAFKA_4_MINIMUM = "2.1.0"
TOML_INT_MAX = 2**63 - 1


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_winlogbeat_names_a_kafka_protocol_kafka_4_accepts() -> None:
    config = yaml.safe_load((SHIPPERS / "winlogbeat" / "winlogbeat.yml").read_text())
    wanted = config["output.kafka"]["version"]
    assert isinstance(wanted, str), "quote it: YAML reads 2.6 as a float"
    low, high = (version(v) for v in BEATS_KAFKA_VERSIONS)
    assert low <= version(wanted) <= high, "Beats refuse a version they do not list"
    assert version(wanted) >= version(KAFKA_4_MINIMUM), "Kafka 4 refuses the handshake"
    compose = (ROOT / "deploy" / "compose.yaml").read_text()
    assert re.search(r"image: apache/kafka:4\.", compose)  # the broker the comment speaks of
    assert config["output.kafka"]["compression"] in {"none", "gzip", "lz4", "snappy"}  # Beats' list


def _integers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _integers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _integers(v)]
    return []


def test_vector_repeats_no_default_and_every_number_fits_toml() -> None:
    config = yaml.safe_load((SHIPPERS / "vector" / "vector.yaml").read_text())
    sink = config["sinks"]["socpipe"]
    assert "method" not in sink  # post is the http sink's default
    assert "retry_attempts" not in sink.get("request", {})  # retrying without end is the default
    assert (
        config.get("data_dir") in (None, "/var/lib/vector", "/var/lib/vector/") and "data_dir" not in config
    )
    assert all(n <= TOML_INT_MAX for n in _integers(config)), "Vector reads configs through TOML integers"


def _directives(text: str, block: str) -> dict[str, str]:
    """`Name value` lines of an NXLog `<Output block>` section."""
    body = re.search(rf"<Output {block}>(.*?)</Output>", text, re.S)
    assert body, block
    pairs = (line.strip().split(None, 1) for line in body[1].splitlines() if line.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in pairs}


def test_nxlog_community_edition_has_a_config_of_its_own() -> None:
    ce = (SHIPPERS / "nxlog" / "nxlog-ce.conf").read_text()
    ee = (SHIPPERS / "nxlog" / "nxlog-enterprise.conf").read_text()
    out = _directives(ce, "socpipe")
    assert out["Module"] == "om_ssl" and out["OutputType"] == "LineBased"
    assert {"Host", "Port", "CAFile", "CertFile", "CertKeyFile"} <= set(out)
    assert "AddHeader" not in ce and "om_http" not in re.sub(r"#.*", "", ce)  # Enterprise-only
    assert "Exec        to_json();" in ce and "Community Edition" in ce.splitlines()[0]
    assert _directives(ee, "socpipe")["Module"] == "om_http" and "Enterprise" in ee.splitlines()[0]


@pytest.fixture
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_what_nxlog_ce_sends_is_attributed_by_certificate_and_normalized(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    """What nxlog-ce.conf makes NXLog send (its om_ssl OutputType: LineBased, each event's
    to_json() text and a newline) over TLS with a client certificate, to a source declared as the
    file's comment says (its format; the subject is make_pki's client, `web01.so-khcn`)."""
    ce = (SHIPPERS / "nxlog" / "nxlog-ce.conf").read_text()
    assert _directives(ce, "socpipe")["OutputType"] == "LineBased"
    declared = re.search(r"^#\s+sources: (\[.*\])$", ce, re.M)
    assert declared, "the config says how to declare the source"
    [entry] = yaml.safe_load(declared[1])
    assert "tls_client_subject" in entry
    sample = ROOT / "tests" / "normalizers" / "nxlog_windows" / "security_4624_nxlog_ce.raw"
    lines = [sample.read_text().strip()]
    lines.append(lines[0].replace('"RecordNumber":227762', '"RecordNumber":227763'))
    store, registry = sqlite_registry(
        tmp_path, [source(entry["id"], format=entry["format"], tls_client_subject="web01.so-khcn")]
    )
    recorder = Recorder()
    config = IngestSettings(
        syslog_tls_port=0,
        syslog_tls_cert=pki["server_crt"],
        syslog_tls_key=pki["server_key"],
        syslog_tls_client_ca=pki["ca_crt"],
        syslog_tls_require_client_cert=True,
        syslog_batch_ms=20,
        max_record_bytes=64 * 1024,
    )
    handle = start_syslog_in_thread(config, registry, recorder, deadletter=recorder.deadletter)
    assert handle is not None
    try:
        ctx = ssl.create_default_context(cafile=str(pki["ca_crt"]))
        ctx.load_cert_chain(pki["client_crt"], pki["client_key"])
        with (
            socket.create_connection(("127.0.0.1", handle.ports["tls"])) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall("".join(f"{line}\n" for line in lines).encode())
        assert recorder.wait_for(2) == 2
    finally:
        handle.stop()
    assert recorder.deadletters == []
    assert [r.source_id for r in recorder.records] == [entry["id"], entry["id"]]
    stage = NormalizeStage(registry.context)
    events = [stage(r) for r in recorder.records]
    store.close()
    assert all(isinstance(e, Event) for e in events), events
    first = events[0]
    assert isinstance(first, Event)
    assert first.event.get("code") == "4624" and first.doc["soc"]["source"]["format"] == "nxlog_windows"
    assert first.doc["@timestamp"].isoformat().startswith("2019-02-13T18:04:58")  # CE local time, UTC+7
