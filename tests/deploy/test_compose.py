"""deploy/compose.yaml (issue 17): loaded with compose-go (what `docker compose config` does, schema
and consistency checks included; deploy/tools/composecheck) in the one-broker and the three-broker
mode, then read: health checks, volumes, and a real three-voter KRaft cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy.tools import ROOT, run, tool

COMPOSE = ROOT / "deploy" / "compose.yaml"
KAFKA3 = ROOT / "deploy" / "kafka3.env"
SECRET = "SOC_SECRET_KEY=" + "0" * 64
STAGES = ("normalize", "detect", "correlate", "index", "notify")


def load(*args: str, file: Path = COMPOSE) -> dict[str, Any]:
    result = run([tool("composecheck"), "-env", SECRET, *args, str(file)])
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def socpipe_services(project: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in project["services"].items() if s.get("image") == "socpipe:local"}


def test_every_process_kind_runs_with_a_health_check() -> None:
    project = load()
    services = socpipe_services(project)
    commands = {tuple(s["command"]) for s in services.values()}
    assert commands == {("api",), ("scheduler",)} | {("worker", stage) for stage in STAGES}
    for name, service in project["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name, service in services.items():
        env = service["environment"]
        assert env["SOC_OPS_HOST"] == "0.0.0.0", name
        assert f":{env['SOC_OPS_PORT']}/health" in " ".join(service["healthcheck"]["test"]), name
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy", name


def test_state_lives_in_named_volumes() -> None:
    project = load()
    mounts = {
        name: {v["target"]: v["source"] for v in s.get("volumes", ()) if v["type"] == "volume"}
        for name, s in project["services"].items()
    }
    assert mounts["kafka"]["/var/lib/kafka/data"] in project["volumes"]
    assert mounts["kafka"]["/var/lib/kafka/data"] == "kafka-data"
    assert project["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"
    assert "es-data" in mounts["elasticsearch"].values()
    # the API's evidence and the scheduler's files are the same folder
    assert mounts["api"]["/var/lib/socpipe"] == mounts["scheduler"]["/var/lib/socpipe"]


def brokers(project: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        n: s["environment"] for n, s in project["services"].items() if s["image"].startswith("apache/kafka")
    }


def test_one_broker_by_default() -> None:
    kafka = brokers(load())
    assert list(kafka) == ["kafka"]
    env = kafka["kafka"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_three_broker_profile_is_one_kraft_cluster_replicated_three_times() -> None:
    project = load("-env-file", str(KAFKA3))
    kafka = brokers(project)
    assert sorted(kafka) == ["kafka", "kafka-2", "kafka-3"]
    ids = {env["KAFKA_NODE_ID"] for env in kafka.values()}
    assert ids == {"1", "2", "3"}
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in kafka.values()}
    assert len(voters) == 1, "every broker must name the same voters"
    expected = {f"{env['KAFKA_NODE_ID']}@{name}:9093" for name, env in kafka.items()}
    assert set(voters.pop().split(",")) == expected
    assert len({env["CLUSTER_ID"] for env in kafka.values()}) == 1
    for name, env in kafka.items():
        assert env["KAFKA_ADVERTISED_LISTENERS"].startswith(f"PLAINTEXT://{name}:9092"), name
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        # socpipe creates its own topics with SOC_TOPIC_REPLICATION: the same 3 copies, 2 in sync
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    socpipe = {
        n: s["environment"]
        for n, s in project["services"].items()
        if "SOC_MODE" in (s.get("environment") or {})
    }
    assert socpipe, "no socpipe service"
    for name, env in socpipe.items():
        assert (env["SOC_TOPIC_REPLICATION"], env["SOC_TOPIC_MIN_INSYNC_REPLICAS"]) == ("3", "2"), name
    volumes = {s["volumes"][0]["source"] for n, s in project["services"].items() if n in kafka}
    assert len(volumes) == 3, "each broker keeps its own log"


def test_compose_go_rejects_an_invalid_file(tmp_path: Path) -> None:
    """The loader checks the compose-spec schema and the references: a misspelt key, a dependency
    on no service, each fails (the checks above would not notice either)."""
    text = COMPOSE.read_text()
    health = '    healthcheck:\n      test: ["CMD-SHELL", "curl'
    depends = "    elasticsearch:\n      condition: service_healthy"
    for old, new, error in (
        (health, health.replace("healthcheck", "healtcheck"), "services.elasticsearch.healtcheck"),
        (depends, depends.replace("elasticsearch", "elastic"), 'depends on undefined service "elastic"'),
    ):
        assert old in text
        bad = tmp_path / "compose.yaml"
        bad.write_text(text.replace(old, new))
        result = run([tool("composecheck"), "-env", SECRET, str(bad)])
        assert result.returncode != 0
        assert error in result.stderr, result.stderr


def test_the_secret_must_be_given() -> None:
    result = run([tool("composecheck"), str(COMPOSE)])
    assert result.returncode != 0
    assert "required variable SOC_SECRET_KEY is missing" in result.stderr
