"""Routing rules and guidance saved by an admin: validated with every problem named, and picked up by
a running notifier without a restart; flood control's memory survives a restart of the worker."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from notify.config import NotifyConfigInvalid, parse
from notify.rules import RoutingRules
from notify.stage import NotifyStage
from notify.text import Guidance
from soc_core.alert import Alert, Severity
from soc_core.bus import Message
from soc_core.notify_config import ConfigKind, NotifyConfigVersion
from soc_core.records import DeadLetter
from soc_core.registry import Registry
from soc_core.settings import NotifySettings, Settings
from soc_core.store import Store
from socpipe.notify import NotifyWorker, build_notify_worker
from stores.sqlite.notify_config import SqliteNotifyConfigStore, SqliteNotifyStateStore
from tests.backends import backend_of
from tests.notify.conftest import Clock, make_alert
from tests.notify.servers import HttpStub
from tests.notify.test_wiring import notify_settings

BAD_RULES = """
rules:
  - name: high-and-critical
    min_severity: high
    oncall: true
  - name: usb
    checklist: [VN-10]
    to: ["fax:0241234567"]
  - name: typo
    min_severity: urgent
    oncal: true
"""


def test_a_bad_rule_is_refused_naming_the_rule_and_the_field() -> None:
    with pytest.raises(NotifyConfigInvalid) as caught:
        parse(ConfigKind.ROUTING, BAD_RULES)
    found = {(p.location, p.message.split(":")[0]) for p in caught.value.problems}
    assert ("rules.1.to", 'rule "usb" (number 2), field "to"') in found
    assert ("rules.2.min_severity", 'rule "typo" (number 3), field "min_severity"') in found
    assert ("rules.2.oncal", 'rule "typo" (number 3), field "oncal"') in found
    assert len(found) == 3


def test_yaml_errors_say_where_and_names_must_be_unique() -> None:
    with pytest.raises(NotifyConfigInvalid) as caught:
        parse(ConfigKind.ROUTING, "rules:\n  - name: a\n    to: [\n")
    [problem] = caught.value.problems
    assert problem.location is not None and problem.location.startswith("line ")
    with pytest.raises(NotifyConfigInvalid) as caught:
        parse(ConfigKind.ROUTING, "rules:\n  - name: a\n  - name: b\n  - name: a\n")
    assert [p.location for p in caught.value.problems] == ["rules.2.name"]
    with pytest.raises(NotifyConfigInvalid) as caught:
        parse(ConfigKind.GUIDANCE, "default: {why: x, do: [y]}\nchecklist:\n  VN-01: {why: z, do: []}\n")
    [problem] = caught.value.problems
    assert problem.location == "checklist.VN-01.do" and problem.message.startswith(
        'checklist "VN-01", field "do"'
    )


def test_the_shipped_seeds_parse() -> None:
    guidance = (Path(__file__).parents[2] / "notify" / "guidance.yaml").read_text(encoding="utf-8")
    assert parse(ConfigKind.GUIDANCE, guidance) == Guidance.load()
    assert parse(ConfigKind.ROUTING, "") == RoutingRules()


def save(repo: SqliteNotifyConfigStore, kind: ConfigKind, version: int, text: str, clock: Clock) -> None:
    repo.put(
        NotifyConfigVersion(
            kind=kind, version=version, text=text, author="u-admin", reason="thử", created_at=clock.now
        )
    )


def live_stage(tmp_path: Path, clock: Clock) -> tuple[SqliteNotifyConfigStore, NotifyStage]:
    """A stage reading its configuration from a fresh SQLite store every 5 s (high+ to on-call)."""
    repo = SqliteNotifyConfigStore(tmp_path / "s.sqlite3")
    repo.setup()
    settings = NotifySettings(oncall=["email:truc@soc.gov.vn"], config_poll_s=5)
    stage = NotifyStage(
        settings, secret="k", registry=Registry, acknowledged=lambda _: False, clock=clock, config_store=repo
    )
    return repo, stage


def test_a_running_stage_picks_up_a_saved_version_after_the_poll_interval(
    tmp_path: Path, clock: Clock
) -> None:
    repo, stage = live_stage(tmp_path, clock)
    assert [str(m.recipient) for m in stage.offer([make_alert(1)])] == ["email:truc@soc.gov.vn"]
    save(
        repo,
        ConfigKind.ROUTING,
        1,
        "rules:\n  - {name: only-critical, min_severity: critical, oncall: true}\n",
        clock,
    )
    guidance = "default:\n  why: DẤU-HIỆU-MỚI\n  do: [Gọi ngay cho SOC.]\n"
    save(repo, ConfigKind.GUIDANCE, 1, guidance, clock)
    clock.advance(seconds=1)
    assert len(stage.offer([make_alert(2)])) == 1  # not checked yet: the poll interval has not passed
    clock.advance(seconds=5)
    assert stage.offer([make_alert(3)]) == []  # high is no longer routed
    [message] = stage.offer([make_alert(4, severity=Severity.CRITICAL)])
    assert "DẤU-HIỆU-MỚI" in message.text and "Gọi ngay cho SOC." in message.text
    assert stage.config.versions == {ConfigKind.ROUTING: 1, ConfigKind.GUIDANCE: 1}


def test_a_stored_version_that_no_longer_parses_keeps_the_rules_in_force(
    tmp_path: Path, clock: Clock
) -> None:
    repo, stage = live_stage(tmp_path, clock)
    save(
        repo, ConfigKind.ROUTING, 1, "rules:\n  - {name: x, min_severity: bogus}\n", clock
    )  # bypasses the API
    clock.advance(seconds=6)
    assert len(stage.offer([make_alert(1)])) == 1
    assert stage.config.versions[ConfigKind.ROUTING] == 0


def handle(worker: NotifyWorker, alerts: Sequence[Alert]) -> None:
    worker.handle([Message("alerts", 0, n, a.id.encode(), a.to_json()) for n, a in enumerate(alerts)])


def worker_over(store: Store, http: HttpStub, clock: Clock, **extra: object) -> NotifyWorker:
    settings = Settings(
        notify=notify_settings(http, **{"digest_threshold": 2, "digest_window_s": 600, **extra})
    )
    letters: list[DeadLetter] = []
    return build_notify_worker(
        settings,
        registry=Registry,
        store=store,
        deadletter=letters.extend,
        stop=threading.Event(),
        clock=clock,
        state_store=backend_of(store).notify_state,
    )


def test_flood_control_survives_a_restart_of_the_notify_worker(
    store: Store, http: HttpStub, clock: Clock
) -> None:
    first = worker_over(store, http, clock)
    handle(first, [make_alert(n) for n in range(1, 5)])
    assert len(http.wait_for(2)) == 2  # two told, two held for a digest
    first.dispatcher.close()

    restarted = worker_over(store, http, clock)
    clock.advance(seconds=30)
    handle(restarted, [make_alert(1), make_alert(5)])  # a replay of a told group, and one more
    clock.advance(seconds=600)
    restarted.idle()
    requests = http.wait_for(3)
    assert len(requests) == 3, [r.json()["data"] for r in requests]
    digest = requests[2].json()["data"]
    assert digest["kind"] == "digest" and digest["total"] == 3
    assert digest["alert_ids"] == [make_alert(n).id for n in (3, 4, 5)]
    restarted.dispatcher.close()


def test_the_stored_memory_is_bounded_like_memory(tmp_path: Path, http: HttpStub, clock: Clock) -> None:
    from stores.sqlite.store import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite3")
    store.setup()
    worker = worker_over(store, http, clock, max_tracked=100, digest_threshold=1000)
    for n in range(12):
        handle(worker, [make_alert(10 * n + k, at=clock.now - timedelta(seconds=k)) for k in range(10)])
    state = SqliteNotifyStateStore(store.path)
    marks = state.told(1000)
    assert len(marks) == 100 and marks[0].seq == 21 and marks[-1].seq == 120
    worker.dispatcher.close()
    store.close()
