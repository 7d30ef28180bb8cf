"""deploy/k8s (issue 17): each overlay, built by kustomize, is valid against the Kubernetes schemas
and the Strimzi, ECK and KEDA CRD schemas (kubeconform, strict; deploy/tools/schemas.py), and says
what socpipe needs: every process kind, probes on the ports the settings open, resources, a
non-root pod, settings that exist, topics and autoscaling that match the consumer groups."""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from buses.kafka import MAX_MESSAGE_BYTES
from soc_core.settings import Mode, Settings
from socpipe.cli import Stage
from tests.deploy.tools import ROOT, SCHEMAS, run, schemas, tool
from tests.test_settings import env_names

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
# Read from the environment outside Settings (socpipe/logs.py: logging starts before the settings)
OUTSIDE_SETTINGS = {"SOC_LOG_LEVEL"}
# The Secret the operator creates by hand (docs/deploy.md); every other one comes from an operator
EXTERNAL_SECRETS = {"socpipe-secrets"}
# The consumer group's input topic a ScaledObject may name, per worker kind (socpipe/cli.py worker)
INPUT_TOPIC = {"detect": "topic_events", "correlate": "topic_rulehits", "notify": "topic_alerts"}


@pytest.fixture(autouse=True)
def _no_soc_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings are built from the manifests' variables only, not from this shell's."""
    for variable in [v for v in os.environ if v.startswith("SOC")]:
        monkeypatch.delenv(variable)


@functools.cache
def built(overlay: str) -> str:
    result = run([tool("kustomize"), "build", str(K8S / "overlays" / overlay)])
    assert result.returncode == 0, result.stderr
    return result.stdout


@functools.cache
def docs(overlay: str) -> tuple[dict[str, Any], ...]:
    """The built resources, parsed once (read-only: a test that changes one copies it)."""
    return tuple(d for d in yaml.load_all(built(overlay), Loader=yaml.CSafeLoader) if d)


def kinds(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs(overlay) if d["kind"] == kind}


def one(overlay: str, kind: str) -> dict[str, Any]:
    found = list(kinds(overlay, kind).values())
    assert len(found) == 1, f"{overlay}: {len(found)} {kind}"
    return found[0]


def settings_env(overlay: str) -> dict[str, str]:
    return dict(one(overlay, "ConfigMap")["data"])


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def kubeconform(manifests: str, version: str, tmp: Path) -> tuple[int, dict[str, Any], str]:
    """Strict validation against the built schemas; missing schemas are errors, never skipped."""
    path = tmp / "manifests.yaml"
    path.write_text(manifests)
    result = run(
        [
            tool("kubeconform"),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-kubernetes-version",
            version,
            "-schema-location",
            f"{SCHEMAS}/kubernetes/{{{{ .NormalizedKubernetesVersion }}}}-local-strict/"
            "{{ .ResourceKind }}{{ .KindSuffix }}.json",
            "-schema-location",
            f"{SCHEMAS}/crds/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
            str(path),
        ]
    )
    return result.returncode, json.loads(result.stdout), result.stderr


def kubernetes_versions() -> list[str]:
    try:
        return list(schemas()["kubernetes-validate"]["kubernetes"])
    except BaseException:  # no schemas: the test itself reports it (fails in CI, skips here)
        return ["missing"]


@pytest.mark.parametrize("version", kubernetes_versions())
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_against_kubernetes_and_crd_schemas(
    overlay: str, version: str, tmp_path: Path
) -> None:
    schemas()
    code, report, stderr = kubeconform(built(overlay), version, tmp_path)
    summary = report["summary"]
    problems = [r for r in report["resources"] if r["status"] != "statusValid"]
    assert code == 0 and not problems, problems or stderr
    assert summary["valid"] == len(docs(overlay)) and summary["skipped"] == 0, summary
    kinds_checked = {d["kind"] for d in docs(overlay)}
    assert {
        "Kafka",
        "KafkaNodePool",
        "KafkaTopic",
        "KafkaUser",
        "Elasticsearch",
        "ScaledObject",
    } <= kinds_checked


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    doc[last] = value


# A misspelt or mistyped field in each kind of resource, and the word kubeconform must name.
BROKEN = [
    ("Deployment", "spec.replica", 2, "replica"),
    ("Kafka", "spec.kafka.listener", [], "listener"),
    ("KafkaNodePool", "spec.role", ["broker"], "role"),
    ("KafkaTopic", "spec.partitions", "three", "partitions"),
    ("KafkaUser", "spec.authentication.type", "scram", "type"),
    ("Elasticsearch", "spec.nodeSet", [], "nodeSet"),
    ("ScaledObject", "spec.maxReplicas", 3, "maxReplicas"),
]


@pytest.mark.parametrize(("kind", "path", "value", "word"), BROKEN, ids=[b[0] for b in BROKEN])
def test_schemas_catch_a_broken_resource(kind: str, path: str, value: Any, word: str, tmp_path: Path) -> None:
    """The validation above could pass by checking nothing (a schema not found, a loose one): each
    kind's schema must refuse a resource with one field wrong."""
    version = schemas()["kubernetes-validate"]["kubernetes"][-1]
    doc = copy.deepcopy(next(d for d in docs(OVERLAYS[0]) if d["kind"] == kind))
    _set(doc, path, value)
    code, report, _ = kubeconform(yaml.safe_dump(doc), version, tmp_path)
    (resource,) = report["resources"]
    assert code != 0 and resource["status"] == "statusInvalid", resource
    assert word in resource["msg"], resource["msg"]


def deployments(overlay: str) -> dict[str, dict[str, Any]]:
    return kinds(overlay, "Deployment")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_process_kind_runs(overlay: str) -> None:
    commands = {tuple(container(d)["args"]) for d in deployments(overlay).values()}
    expected = {("api",), ("scheduler",)} | {("worker", stage.value) for stage in Stage}
    assert commands == expected


def _port(c: dict[str, Any], name_or_number: str | int) -> int:
    if isinstance(name_or_number, int):
        return name_or_number
    (port,) = [p["containerPort"] for p in c["ports"] if p["name"] == name_or_number]
    return int(port)


def _quantity(value: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_probed_on_the_ports_the_settings_open(overlay: str) -> None:
    env = settings_env(overlay)
    assert env["SOC_OPS_HOST"] == env["SOC_HTTP_HOST"] == "0.0.0.0", "loopback ports cannot be probed"
    for name, deployment in deployments(overlay).items():
        c = container(deployment)
        is_api = c["args"] == ["api"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in c, f"{name}: no {probe}"
            action = c[probe].get("httpGet") or c[probe].get("tcpSocket")
            wanted = env["SOC_HTTP_PORT"] if is_api else env["SOC_OPS_PORT"]
            assert _port(c, action["port"]) == int(wanted), f"{name} {probe}"
        # ready = every dependency answers; alive must not hang on them (a Kafka outage restarting
        # every pod would make it worse)
        assert c["readinessProbe"]["httpGet"]["path"] == "/health", name
        assert "tcpSocket" in c["livenessProbe"], name
        assert _port(c, "ops") == int(env["SOC_OPS_PORT"]), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_unprivileged_with_requests_and_limits(overlay: str) -> None:
    for name, deployment in deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"] for m in c["volumeMounts"]}
        assert {"/tmp", settings_env(overlay)["SOC_DATA_DIR"]} <= mounts, f"{name}: nowhere to write"
        for resource in ("cpu", "memory"):
            request = c["resources"]["requests"][resource]
            limit = c["resources"]["limits"][resource]
            assert _quantity(request) <= _quantity(limit), f"{name} {resource}"


def process_env(overlay: str, deployment: dict[str, Any]) -> dict[str, str]:
    """The SOC_* variables a container gets: the ConfigMap, its own env ($(VAR) expanded)."""
    c = container(deployment)
    env = dict(settings_env(overlay))
    refs = {e["configMapRef"]["name"] for e in c["envFrom"] if "configMapRef" in e}
    assert refs == {one(overlay, "ConfigMap")["metadata"]["name"]}
    values: dict[str, str] = {"SOC_SECRET_KEY": "k" * 64}
    for item in c.get("env", ()):
        value = item.get("value", "from-a-secret")  # valueFrom: a Secret's value, unknown here
        values[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], value)
    env.update({k: v for k, v in values.items() if k.startswith("SOC_")})
    return env


def known_variables() -> set[str]:
    groups: list[Any] = [Settings]
    groups += [f.annotation for f in Settings.model_fields.values() if isinstance(f.annotation, type)]
    return {
        name
        for group in groups
        if hasattr(group, "model_fields")
        for field in group.model_fields
        for name in env_names(group, field)
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_exist_and_load(overlay: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SOC_* variable given is one socpipe reads (an unknown one is silently ignored), and
    the processes' environment builds valid Settings."""
    known = known_variables() | OUTSIDE_SETTINGS
    for name, deployment in deployments(overlay).items():
        env = process_env(overlay, deployment)
        assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings.load(mode=Mode.DISTRIBUTED)
        assert settings.ops_port == 9102 and settings.environment == "prod", name


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_socpipe_reaches_the_operators_services(overlay: str) -> None:
    """Strimzi names the bootstrap Service `<kafka>-kafka-bootstrap`, ECK the HTTP Service
    `<es>-es-http` and the password Secret `<es>-es-elastic-user`; socpipe connects in plaintext
    (no SASL/TLS/CA settings yet), so the listener and the HTTP layer must be plain."""
    kafka, es = one(overlay, "Kafka"), one(overlay, "Elasticsearch")
    env = process_env(overlay, deployments(overlay)["socpipe-api"])
    host, port = _host_port(env["SOC_KAFKA_BOOTSTRAP"])
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap"
    (listener,) = [lst for lst in kafka["spec"]["kafka"]["listeners"] if lst["port"] == port]
    assert listener["tls"] is False and "authentication" not in listener
    url = urlsplit(env["SOC_ES_URL"])
    assert url.hostname == f"{es['metadata']['name']}-es-http" and url.port == 9200
    assert url.scheme == "http" and es["spec"]["http"]["tls"]["selfSignedCertificate"]["disabled"]
    produced = set(kinds(overlay, "Secret")) | EXTERNAL_SECRETS
    produced |= {f"{name}-es-elastic-user" for name in kinds(overlay, "Elasticsearch")}
    produced |= set(kinds(overlay, "KafkaUser"))  # Strimzi's user Secret has the user's name
    for name, deployment in deployments(overlay).items():
        c = container(deployment)
        used = {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e}
        used |= {e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", ()) if "valueFrom" in e}
        assert used <= produced, f"{name}: secrets nobody makes: {used - produced}"
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in deployment["spec"]["template"]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims <= set(kinds(overlay, "PersistentVolumeClaim")), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_are_the_ones_socpipe_uses(overlay: str) -> None:
    env = settings_env(overlay)
    partitions = int(env["SOC_TOPIC_PARTITIONS"])
    stores = Settings.load(mode=Mode.DISTRIBUTED, stores={"topic_partitions": partitions}).stores
    kafka = one(overlay, "Kafka")["metadata"]["name"]
    topics = {t["spec"]["topicName"]: t for t in kinds(overlay, "KafkaTopic").values()}
    assert set(topics) == {*stores.topics, stores.topic_correlation_state}
    brokers = sum(
        pool["spec"]["replicas"]
        for pool in kinds(overlay, "KafkaNodePool").values()
        if "broker" in pool["spec"]["roles"] and pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka
    )
    for name, topic in topics.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka, name
        assert spec["partitions"] == partitions, name
        assert int(spec["config"]["max.message.bytes"]) == MAX_MESSAGE_BYTES, name
        assert spec["replicas"] <= brokers, name
        assert int(spec["config"].get("min.insync.replicas", 1)) <= max(spec["replicas"] - 1, 1), name
    assert topics[stores.topic_correlation_state]["spec"]["config"]["cleanup.policy"] == "compact"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_their_own_consumer_lag(overlay: str) -> None:
    env = settings_env(overlay)
    stores = Settings.load(mode=Mode.DISTRIBUTED).stores  # the default topic prefix, as the ConfigMap
    assert "SOC_TOPIC_PREFIX" not in env
    scaled = kinds(overlay, "ScaledObject")
    by_target = {s["spec"]["scaleTargetRef"]["name"]: s for s in scaled.values()}
    assert len(by_target) == len(scaled), "two ScaledObjects on one Deployment"
    for name, deployment in deployments(overlay).items():
        args = container(deployment)["args"]
        if args[0] != "worker" or args[1] == "notify":
            assert name not in by_target, f"{name} must not be autoscaled"
            continue
        obj = by_target[name]["spec"]
        (trigger,) = obj["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["bootstrapServers"] == env["SOC_KAFKA_BOOTSTRAP"], name
        assert meta["consumerGroup"] == f"{stores.topic_prefix}socpipe-{args[1]}", name
        if "topic" in meta:
            assert meta["topic"] == getattr(stores, INPUT_TOPIC[args[1]]), name
        assert 1 <= obj["minReplicaCount"] <= obj["maxReplicaCount"] <= int(env["SOC_TOPIC_PARTITIONS"]), name
        assert meta["allowIdleConsumers"] == "false", name
    scheduler = deployments(overlay)["socpipe-scheduler"]["spec"]
    assert scheduler["replicas"] == 1 and scheduler["strategy"]["type"] == "Recreate"


def test_production_survives_a_lost_node() -> None:
    kafka = one("production", "Kafka")["spec"]["kafka"]["config"]
    (pool,) = kinds("production", "KafkaNodePool").values()
    assert pool["spec"]["replicas"] == 3 and set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert kafka["offsets.topic.replication.factor"] == 3 and kafka["transaction.state.log.min.isr"] == 2
    assert kafka["min.insync.replicas"] == 2
    env = settings_env("production")
    assert (env["SOC_TOPIC_REPLICATION"], env["SOC_TOPIC_MIN_INSYNC_REPLICAS"], env["SOC_ES_REPLICAS"]) == (
        "3",
        "2",
        "1",
    )
    for topic in kinds("production", "KafkaTopic").values():
        assert topic["spec"]["replicas"] == 3 and topic["spec"]["config"]["min.insync.replicas"] == 2
    (node_set,) = one("production", "Elasticsearch")["spec"]["nodeSets"]
    assert node_set["count"] == 3
    api = deployments("production")["socpipe-api"]["spec"]
    assert api["replicas"] >= 2
    assert one("production", "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert one("production", "PersistentVolumeClaim")["spec"]["accessModes"] == ["ReadWriteMany"]
