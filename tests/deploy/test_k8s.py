"""deploy/k8s (issue 17): each overlay, built by kustomize, is valid against the Kubernetes schemas
and the Strimzi, ECK and KEDA CRD schemas (kubeconform, strict; deploy/tools/schemas.py), and says
what socpipe needs: every process kind, probes on the ports the settings open, resources, a
non-root pod, settings that exist, topics and autoscaling that match the consumer groups, and
SASL_SSL/SCRAM to Kafka and HTTPS with a least-privilege user to Elasticsearch, from the Secrets the
operators write."""

from __future__ import annotations

import base64
import copy
import fnmatch
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
# The Secrets the administrator creates by hand (docs/deploy.md); every other one comes from an operator
EXTERNAL_SECRETS = {"socpipe-secrets", "socpipe-es-user"}
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
        "TriggerAuthentication",
        "NetworkPolicy",
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
    ("TriggerAuthentication", "spec.secretTargetRefs", [], "secretTargetRefs"),
    ("NetworkPolicy", "spec.ingres", [], "ingres"),
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


def secret_files(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files a container reads from Secrets: path -> (Secret, key). Only a volume that names
    its items counts (without, the keys are whatever the Secret holds: unknown here)."""
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
    files: dict[str, tuple[str, str]] = {}
    for mount in container(deployment)["volumeMounts"]:
        secret = volumes.get(mount["name"])
        if secret is None:
            continue
        assert "subPath" not in mount, f"{mount}: a subPath mount never sees a renewed certificate"
        for item in secret.get("items", ()):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_exist_and_load(overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every SOC_* variable given is one socpipe reads (an unknown one is silently ignored), and
    the processes' environment builds valid Settings. A setting naming a file (the CA bundles) must
    name one the pod mounts from a Secret: those files are made here, under tmp_path, and nothing
    else is (Settings refuses a file that does not exist)."""
    known = known_variables() | OUTSIDE_SETTINGS
    for name, deployment in deployments(overlay).items():
        env = process_env(overlay, deployment)
        assert set(env) <= known, f"{name}: unknown settings {set(env) - known}"
        root = tmp_path / name
        for path in secret_files(deployment):
            (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / path.lstrip("/")).write_text("-----BEGIN CERTIFICATE-----\n")
        for key, value in env.items():
            if value.startswith("/etc/"):  # a mounted file: where this test made it
                value = str(root / value.lstrip("/"))
            monkeypatch.setenv(key, value)
        settings = Settings.load(mode=Mode.DISTRIBUTED)
        assert settings.ops_port == 9102 and settings.environment == "prod", name


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def secret_env(deployment: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The variables a container takes from Secrets: name -> (Secret, key)."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container(deployment).get("env", ())
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def produced_secrets(overlay: str) -> set[str]:
    """Secrets that will exist: the overlay's own, the administrator's, and those the operators
    write: Strimzi's cluster CA (`<kafka>-cluster-ca-cert`) and one per KafkaUser (its name), ECK's
    `<es>-es-elastic-user` and `<es>-es-http-certs-public`."""
    produced = set(kinds(overlay, "Secret")) | EXTERNAL_SECRETS | set(kinds(overlay, "KafkaUser"))
    for name in kinds(overlay, "Kafka"):
        produced.add(f"{name}-cluster-ca-cert")
    for name in kinds(overlay, "Elasticsearch"):
        produced |= {f"{name}-es-elastic-user", f"{name}-es-http-certs-public"}
    return produced


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_socpipe_reaches_kafka_over_sasl_ssl_as_its_kafka_user(overlay: str) -> None:
    """Strimzi names the bootstrap Service `<kafka>-kafka-bootstrap`, writes a SCRAM KafkaUser's
    password into the Secret named after the user (key `password`) and its cluster CA into
    `<kafka>-cluster-ca-cert` (key `ca.crt`). Every pod talks SASL_SSL/SCRAM-SHA-512 to a TLS
    listener with SCRAM authentication, as a KafkaUser of this overlay, trusting that CA; and no
    listener is plaintext or unauthenticated."""
    kafka = one(overlay, "Kafka")
    name = kafka["metadata"]["name"]
    users = kinds(overlay, "KafkaUser")
    listeners = kafka["spec"]["kafka"]["listeners"]
    for listener in listeners:
        assert listener["tls"] is True and "authentication" in listener, f"an open listener: {listener}"
    for deployment_name, deployment in deployments(overlay).items():
        env = process_env(overlay, deployment)
        host, port = _host_port(env["SOC_KAFKA_BOOTSTRAP"])
        assert host == f"{name}-kafka-bootstrap", deployment_name
        (listener,) = [lst for lst in listeners if lst["port"] == port]
        assert listener["authentication"]["type"] == "scram-sha-512", deployment_name
        assert env["SOC_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", deployment_name
        assert env["SOC_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", deployment_name
        user = env["SOC_KAFKA_SASL_USERNAME"]
        assert users[user]["spec"]["authentication"]["type"] == "scram-sha-512", deployment_name
        assert users[user]["metadata"]["labels"]["strimzi.io/cluster"] == name
        assert secret_env(deployment)["SOC_KAFKA_SASL_PASSWORD"] == (user, "password"), deployment_name
        files = secret_files(deployment)
        assert files[env["SOC_KAFKA_SSL_CAFILE"]] == (f"{name}-cluster-ca-cert", "ca.crt"), deployment_name
        assert "SOC_KAFKA_SSL_CERTFILE" not in env  # SCRAM, not mutual TLS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_socpipe_reaches_elasticsearch_over_https_as_its_own_user(overlay: str) -> None:
    """ECK serves HTTPS on `<es>-es-http` (TLS is not turned off) with a certificate whose CA is in
    `<es>-es-http-certs-public` (key `ca.crt`). socpipe signs in as a user of the cluster's file
    realm (the basic-auth Secret the Elasticsearch resource lists), never as `elastic`."""
    es = one(overlay, "Elasticsearch")
    name = es["metadata"]["name"]
    assert "tls" not in es["spec"].get("http", {}), "HTTPS must stay on"
    realm = {source["secretName"] for source in es["spec"]["auth"]["fileRealm"]}
    for deployment_name, deployment in deployments(overlay).items():
        env = process_env(overlay, deployment)
        url = urlsplit(env["SOC_ES_URL"])
        assert (url.scheme, url.hostname, url.port) == ("https", f"{name}-es-http", 9200), deployment_name
        assert url.username is None and url.password is None, "credentials belong in Secrets, not the URL"
        files = secret_files(deployment)
        assert files[env["SOC_ES_CA_CERTS"]] == (f"{name}-es-http-certs-public", "ca.crt"), deployment_name
        secrets = secret_env(deployment)
        (user_secret, key) = secrets["SOC_ES_USERNAME"]
        assert user_secret in realm and key == "username", deployment_name
        assert secrets["SOC_ES_PASSWORD"] == (user_secret, "password"), deployment_name
        assert f"{name}-es-elastic-user" not in {s for s, _ in secrets.values()}, deployment_name
        assert "SOC_ES_API_KEY" not in env


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_used_is_made_by_someone(overlay: str) -> None:
    produced = produced_secrets(overlay)
    for name, deployment in deployments(overlay).items():
        c = container(deployment)
        used = {e["secretRef"]["name"] for e in c["envFrom"] if "secretRef" in e}
        used |= {secret for secret, _ in secret_env(deployment).values()}
        used |= {secret for secret, _ in secret_files(deployment).values()}
        assert used <= produced, f"{name}: secrets nobody makes: {used - produced}"
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in deployment["spec"]["template"]["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims <= set(kinds(overlay, "PersistentVolumeClaim")), name
    for trigger_auth in kinds(overlay, "TriggerAuthentication").values():
        used = {ref["name"] for ref in trigger_auth["spec"].get("secretTargetRef", ())}
        assert used <= produced, f"KEDA: secrets nobody makes: {used - produced}"
    es = one(overlay, "Elasticsearch")["spec"]["auth"]
    used = {s["secretName"] for s in es.get("roles", ()) + es.get("fileRealm", ())}
    assert used <= produced, f"ECK: secrets nobody makes: {used - produced}"


def _acl_allows(acls: list[dict[str, Any]], kind: str, name: str, operation: str) -> bool:
    """Whether an `allow` ACL of Strimzi's `simple` authorization grants `operation` on `name`."""
    for acl in acls:
        resource = acl["resource"]
        if resource["type"] != kind or acl.get("type", "allow") != "allow":
            continue
        if resource.get("patternType") == "prefix":
            matches = name.startswith(resource["name"])
        else:
            matches = kind == "cluster" or name == resource["name"]
        if matches and (operation in acl["operations"] or "All" in acl["operations"]):
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_kafka_user_may_do_what_socpipe_does_and_no_more(overlay: str) -> None:
    """Kafka authorizes (Strimzi `simple`), and socpipe's KafkaUser is granted, on its own topics
    (the intake's per-source ones too) and consumer groups only, what the processes do; nothing on
    every topic (`*`), no `All`, no Delete/Alter; on the cluster only idempotent producing."""
    assert one(overlay, "Kafka")["spec"]["kafka"]["authorization"]["type"] == "simple"
    env = process_env(overlay, deployments(overlay)["socpipe-api"])
    stores = Settings.load(mode=Mode.DISTRIBUTED).stores
    user = kinds(overlay, "KafkaUser")[env["SOC_KAFKA_SASL_USERNAME"]]
    assert user["spec"]["authorization"]["type"] == "simple"
    acls = user["spec"]["authorization"]["acls"]
    topics = [*stores.topics, stores.topic_correlation_state, f"{stores.topic_raw}.ubnd-dc01-security"]
    for topic in topics:
        for operation in ("Read", "Write", "Create", "Describe", "DescribeConfigs"):
            assert _acl_allows(acls, "topic", topic, operation), f"{topic}: {operation} refused"
    for stage in Stage:
        group = f"{stores.topic_prefix}socpipe-{stage.value}"
        assert _acl_allows(acls, "group", group, "Read"), group
    assert _acl_allows(acls, "cluster", "kafka-cluster", "IdempotentWrite")
    for acl in acls:
        assert acl["resource"].get("name", "") != "*", acl
        assert not {"All", "Delete", "Alter", "AlterConfigs", "ClusterAction"} & set(acl["operations"]), acl
        if acl["resource"]["type"] == "cluster":
            assert acl["operations"] == ["IdempotentWrite"], acl
    assert not _acl_allows(acls, "topic", "__consumer_offsets", "Read")
    assert not _acl_allows(acls, "group", "someone-elses-group", "Read")


def _roles_file(overlay: str, es: dict[str, Any]) -> dict[str, Any]:
    (source,) = es["spec"]["auth"]["roles"]
    secret = kinds(overlay, "Secret")[source["secretName"]]
    return dict(yaml.safe_load(base64.b64decode(secret["data"]["roles.yml"])))


LOCAL_ROLE = re.compile(r"^socpipe:\n  cluster: \[([^\]]*)\]", re.MULTILINE)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_elasticsearch_role_is_socpipes_indices_only(overlay: str) -> None:
    """The role ECK gives socpipe's user holds the cluster privileges of the role the secured local
    Elasticsearch gives its user (deploy/local/servers.sh, under which the secured tests pass), on
    the indices with socpipe's prefix only, and no superuser privilege."""
    roles = _roles_file(overlay, one(overlay, "Elasticsearch"))
    (role,) = roles.values()
    local = LOCAL_ROLE.search((ROOT / "deploy" / "local" / "servers.sh").read_text())
    assert local is not None, "servers.sh no longer writes the socpipe role this test compares with"
    assert set(role["cluster"]) == {p.strip() for p in local.group(1).split(",")}
    assert not {"all", "manage", "manage_security"} & set(role["cluster"])
    default = Settings.load(mode=Mode.DISTRIBUTED).stores.index_prefix
    prefix = settings_env(overlay).get("SOC_INDEX_PREFIX", default)
    for grant in role["indices"]:
        for pattern in grant["names"]:
            assert pattern.startswith(prefix) and pattern != "*", pattern
    names = [
        f"{prefix}events-2026.12.05",
        f"{prefix}alerts-2026.12",
        f"{prefix}registry",
        f"{prefix}rule-state",
    ]
    for index in names:
        assert any(fnmatch.fnmatch(index, p) for g in role["indices"] for p in g["names"]), index
    assert not any(fnmatch.fnmatch(".security-7", p) for g in role["indices"] for p in g["names"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keda_reads_the_lag_as_socpipe_over_sasl_ssl(overlay: str) -> None:
    """Each Kafka trigger speaks SCRAM-SHA-512 over TLS with a TriggerAuthentication that maps the
    same user (the ConfigMap value the pods use), the same password Secret and Strimzi's CA."""
    env = settings_env(overlay)
    config_map = one(overlay, "ConfigMap")["metadata"]["name"]
    kafka = one(overlay, "Kafka")["metadata"]["name"]
    auths = kinds(overlay, "TriggerAuthentication")
    for name, scaled in kinds(overlay, "ScaledObject").items():
        (trigger,) = scaled["spec"]["triggers"]
        meta = trigger["metadata"]
        assert (meta["sasl"], meta["tls"]) == ("scram_sha512", "enable"), name
        auth = auths[trigger["authenticationRef"]["name"]]["spec"]
        params = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["secretTargetRef"]}
        params |= {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth.get("configMapTargetRef", ())}
        (cm, key) = params["username"]
        assert cm == config_map, f"{name}: the username from {cm}, not the pods' settings"
        user = env[key]
        assert user == env["SOC_KAFKA_SASL_USERNAME"] and user in kinds(overlay, "KafkaUser")
        assert params["password"] == (user, "password"), name
        assert params["ca"] == (f"{kafka}-cluster-ca-cert", "ca.crt"), name


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is understood here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_let_in_only_what_each_pod_serves(overlay: str) -> None:
    """Every socpipe pod is isolated for ingress; the ports let in are exactly the ones it serves
    (the API's 8000 to anyone, every ops listener to the monitoring namespace only); and Kafka's
    listener lets socpipe's pods in (Strimzi's NetworkPolicy would otherwise cut them off)."""
    policies = list(kinds(overlay, "NetworkPolicy").values())
    for name, deployment in deployments(overlay).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        applying = [p["spec"] for p in policies if _selects(p["spec"]["podSelector"], labels)]
        assert applying and all("Ingress" in p["policyTypes"] for p in applying), f"{name}: not isolated"
        rules = [rule for p in applying for rule in p.get("ingress", ())]
        allowed = {port["port"] for rule in rules for port in rule["ports"]}
        served = {p["containerPort"] for p in container(deployment)["ports"]}
        assert allowed == served, f"{name}: lets in {allowed}, serves {served}"
        open_to_all = {port["port"] for rule in rules if "from" not in rule for port in rule["ports"]}
        assert open_to_all == (
            {int(settings_env(overlay)["SOC_HTTP_PORT"])} if name == "socpipe-api" else set()
        )
    kafka = one(overlay, "Kafka")
    port = _host_port(settings_env(overlay)["SOC_KAFKA_BOOTSTRAP"])[1]
    (listener,) = [lst for lst in kafka["spec"]["kafka"]["listeners"] if lst["port"] == port]
    peers = listener.get("networkPolicyPeers", [])
    for name, deployment in deployments(overlay).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        same_namespace = [p for p in peers if "namespaceSelector" not in p]
        assert any(_selects(p["podSelector"], labels) for p in same_namespace), f"{name}: cut off from Kafka"


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


EXAMPLES = K8S / "examples"


def test_the_shipper_user_example_is_valid_and_may_only_write_its_topic(tmp_path: Path) -> None:
    """The KafkaUser docs/deploy.md gives shippers: valid against Strimzi's schema, for the
    overlays' Kafka cluster, and allowed to write its source's topic and nothing else (not another
    source's topic, not socpipe's own topics, no reading)."""
    text = (EXAMPLES / "shipper-user.yaml").read_text()
    version = schemas()["kubernetes-validate"]["kubernetes"][-1]
    code, report, stderr = kubeconform(text, version, tmp_path)
    assert code == 0 and report["summary"]["valid"] == 1, report["resources"] or stderr
    user = yaml.safe_load(text)
    kafka = one(OVERLAYS[0], "Kafka")
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    acls = user["spec"]["authorization"]["acls"]
    stores = Settings.load(mode=Mode.DISTRIBUTED).stores
    own = f"{stores.topic_raw}.{user['metadata']['name']}"
    assert _acl_allows(acls, "topic", own, "Write") and _acl_allows(acls, "topic", own, "Describe")
    for topic in (f"{stores.topic_raw}.another-source", stores.topic_raw, stores.topic_events):
        assert not _acl_allows(acls, "topic", topic, "Write"), topic
    assert not _acl_allows(acls, "topic", own, "Read")
    assert not any(acl["resource"]["type"] in ("group", "cluster") for acl in acls)
