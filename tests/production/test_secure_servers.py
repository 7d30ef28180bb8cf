"""Security to the servers (issue 17): Kafka over SASL_SSL (SCRAM) and mutual TLS, Elasticsearch
with a user and TLS, reached through the SOC_* settings by the same wiring every process uses
(`socpipe.runtime`), on real secured servers (`SOCPIPE_SECURE=1 deploy/local/servers.sh`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from elasticsearch import AuthenticationException
from elasticsearch import ConnectionError as EsConnectionError
from pydantic import SecretStr

from buses.kafka import KafkaBus, KafkaSecurity
from soc_core.errors import BackPressure, BusError, ConfigError
from soc_core.settings import Settings, StoreSettings
from socpipe.runtime import build_backend, build_kafka, es_auth, kafka_security
from stores.elastic import ElasticBackend
from stores.elastic.store import EsAuth, connect
from tests.conftest import make_event
from tests.e2e.test_distributed_alerts import distributed_env, records_become_one_alert
from tests.production.secure_servers import SecureServers


def secure_settings(secure: SecureServers, monkeypatch: pytest.MonkeyPatch, prefix: str) -> Settings:
    """What a process of the pipeline reads: the addresses and security settings `servers.sh env`
    prints, in its environment."""
    for name, value in {**secure.values, "SOC_MODE": "distributed"}.items():
        if name.startswith("SOC_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("SOC_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("SOC_INDEX_PREFIX", prefix)
    return Settings()


def round_trip(bus: KafkaBus, topic: str) -> list[bytes]:
    """Create `topic`, publish one record and read the partition back (then close the bus)."""
    try:
        bus.ensure_topics([topic], 1)
        bus.publish(topic, [(b"k", b"over TLS")])
        return [m.value for m in bus.read_partition(topic, 0)]
    finally:
        bus.close()


def refused(bus: KafkaBus, topic: str) -> None:
    """The broker does not let `bus` in: its publish is the intake's back-pressure (503)."""
    try:
        with pytest.raises(BackPressure):
            bus.publish(topic, [(b"k", b"refused")])
    finally:
        bus.close()


# -- settings (no server) -----------------------------------------------------------------------


def test_half_set_credentials_are_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SASL_USERNAME"):
        StoreSettings(
            kafka_security_protocol="SASL_SSL", kafka_sasl_username="socpipe", kafka_sasl_password=None
        )
    with pytest.raises(ConfigError, match="go together"):
        StoreSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=tmp_path / "c.pem")
    with pytest.raises(ConfigError, match="not both"):
        StoreSettings(es_api_key=SecretStr("k"), es_username="u", es_password=SecretStr("p"))
    with pytest.raises(ConfigError, match="not https"):
        StoreSettings(es_url="http://127.0.0.1:9200", es_ca_certs=tmp_path / "ca.crt")
    with pytest.raises(ConfigError, match="readable file") as err:
        StoreSettings(es_url="https://es:9200", es_ca_certs=tmp_path / "missing.crt")
    assert err.value.context["path"] == str(tmp_path / "missing.crt")


def test_the_settings_become_each_clients_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    stores = StoreSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="socpipe",
        kafka_sasl_password=SecretStr("s3cret"),
        kafka_ssl_cafile=ca,
        es_url="https://127.0.0.1:9200",
        es_api_key=SecretStr("a2V5"),
        es_ca_certs=ca,
    )
    assert kafka_security(stores).client_options() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "socpipe",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(ca),
    }
    assert es_auth(stores).client_options() == {"api_key": "a2V5", "ca_certs": str(ca)}
    assert KafkaSecurity().client_options() == {"security_protocol": "PLAINTEXT"}
    assert EsAuth().client_options() == {}


# -- the secured servers ------------------------------------------------------------------------


def test_kafka_over_sasl_ssl_with_scram(
    secure_servers: SecureServers, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """The settings' client creates a topic, publishes and reads back; a client without them, or
    with a wrong password, is not let in (the intake's 503); a user without ACLs is let in but may
    neither create a topic nor publish."""
    settings = secure_settings(secure_servers, monkeypatch, prefix)
    topic = f"{prefix}secure"
    assert round_trip(build_kafka(settings), topic) == [b"over TLS"]
    bootstrap = settings.stores.kafka_bootstrap
    password = secure_servers.values["SOC_KAFKA_SASL_PASSWORD"]
    wrong = KafkaSecurity(
        protocol="SASL_SSL",
        username=settings.stores.kafka_sasl_username,
        password="not-the-password",
        cafile=settings.stores.kafka_ssl_cafile,
    )
    for security in (None, wrong):
        refused(KafkaBus(bootstrap, publish_timeout_s=3, security=security), topic)
    outsider = KafkaBus(
        bootstrap, publish_timeout_s=3, security=replace(wrong, username="outsider", password=password)
    )
    with pytest.raises(BusError, match="TopicAuthorizationFailed"):
        outsider.ensure_topics([f"{prefix}outsider"], 1)
    refused(outsider, topic)


def test_kafka_over_mutual_tls(secure_servers: SecureServers, prefix: str) -> None:
    """The SSL listener lets in a client with a certificate of the CA, and only such a client."""
    values = secure_servers.values
    bootstrap = values["SOCPIPE_KAFKA_MTLS_BOOTSTRAP"]
    ca = Path(values["SOC_KAFKA_SSL_CAFILE"])
    mtls = KafkaSecurity(
        protocol="SSL",
        cafile=ca,
        certfile=Path(values["SOCPIPE_TLS_CLIENT_CERT"]),
        keyfile=Path(values["SOCPIPE_TLS_CLIENT_KEY"]),
    )
    topic = f"{prefix}mtls"
    assert round_trip(KafkaBus(bootstrap, security=mtls), topic) == [b"over TLS"]
    refused(
        KafkaBus(bootstrap, publish_timeout_s=3, security=KafkaSecurity(protocol="SSL", cafile=ca)), topic
    )


def test_elasticsearch_with_a_user_over_tls(
    secure_servers: SecureServers, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    """The settings' backend stores and finds an event; no credentials is a 401, and a client that
    does not trust the local CA refuses the server's certificate."""
    settings = secure_settings(secure_servers, monkeypatch, prefix)
    backend = build_backend(settings)
    assert isinstance(backend, ElasticBackend)
    store = backend.store
    try:
        store.put_events([make_event(1)])
        store.refresh()
        assert store.get_event(make_event(1).id) is not None
    finally:
        backend.client.indices.delete(index=f"{prefix}*", ignore_unavailable=True, allow_no_indices=True)
        store.close()
    url = settings.stores.es_url
    with pytest.raises(AuthenticationException):
        connect(url, auth=EsAuth(ca_certs=settings.stores.es_ca_certs)).info()
    with pytest.raises(EsConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        connect(url, auth=EsAuth(username="socpipe", password="x")).info()


def test_the_pipeline_end_to_end_on_the_secured_servers(
    secure_servers: SecureServers, prefix: str, tmp_path: Path
) -> None:
    """The distributed e2e test once in secure mode: the API, each worker and the scheduler as
    processes configured only through the SOC_* security settings."""
    settings = secure_servers.settings
    auth = EsAuth(
        username=settings["SOC_ES_USERNAME"],
        password=settings["SOC_ES_PASSWORD"],
        ca_certs=Path(settings["SOC_ES_CA_CERTS"]),
    )
    env, store = distributed_env(secure_servers.servers, prefix, tmp_path, auth=auth, **settings)
    records_become_one_alert(env, store, prefix)
