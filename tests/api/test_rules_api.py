"""The rules API over a small engine (the provincial pack), and the shared rule state behind it.

The API is exercised through the real app, login and CSRF; the state adapters are tested for what
the product relies on: a change written by one process reaches another engine on its next tick,
concurrent changes are all kept, and a rule file edited on disk is picked up without a restart.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from api.rules import service
from api.rules.service import day_start
from detections.correlation.engine import LiveCorrelation
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from detections.state import MemoryRuleStateStore, RuleWatcher
from normalizers.stage import NormalizeStage
from soc_console.bars import VN
from soc_console.i18n import LANG_COOKIE
from soc_console.pages.rules import SPARK_DAYS
from soc_core.alert import Alert
from soc_core.event import Event
from soc_core.records import RawRecord, record_id
from soc_core.rule_state import RuleStateStore
from soc_core.settings import DetectionSettings, Settings
from soc_core.store import AlertSearch, AuditQuery
from socpipe.app import create_app
from socpipe.runtime import build_engine
from stores.elastic.rule_state import ElasticRuleStateStore
from stores.sqlite.rule_state import JsonRuleStateStore
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.conftest import make_alert, make_event
from tests.counting import count_calls
from tests.detections.provincial_pack import CORRELATION_FILES, RULE_FILES
from tests.paging import pages
from tests.problems import problem
from tests.servers import Servers

PACK = Path(__file__).resolve().parents[2] / "detections" / "rules" / "provincial"
GUEST = "ff3e8c61-3755-4d74-bd83-244a3d2d6152"  # VN-05 net user guest /active:yes (high)
BROKEN = "0badc0de-0000-4000-8000-000000000001"
BROKEN_RULE = f"""\
title: Broken rule
id: {BROKEN}
status: test
level: low
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        CommandLine|nosuchmodifier: x
    condition: selection
"""


def samples(stem: str, kind: str = "match") -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((PACK / f"{stem}.{kind}.json").read_text(encoding="utf-8"))
    return data


GUEST_EVENT = samples("proc_creation_win_vn05_net_guest_active")[0]
PACK_RULES = len(RULE_FILES)  # detection rules
PACK_CORRELATIONS = len(CORRELATION_FILES)  # correlation rules, listed beside them (`kind`)
BRUTE_FORCE = "8a1be507-9d87-4e5b-883d-d0c4d7d89b3a"  # vn_sshd_brute_force: event_count, generates
LOGIN_AFTER = "b81db1d2-1f9f-4e59-b891-fb75834f2dfb"  # temporal_ordered over a correlation and a rule
FAILURE_BURST = "e0d47730-cdc3-4c27-aaac-6de9868daef7"  # vn_sshd_failure_burst (building block)
ACCEPTED = "583676af-d67f-4258-a070-e9ad6a0d941b"  # vn_sshd_accepted_login
WHY = {"reason": "tuning"}  # enabling and disabling need a reason


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pack plus one rule pySigma rejects (so there is something quarantined to show)."""
    folder = tmp_path_factory.mktemp("rules") / "provincial"
    shutil.copytree(PACK, folder)
    (folder / "broken.yml").write_text(BROKEN_RULE, encoding="utf-8")
    return folder


@pytest.fixture
def engine(rules_dir: Path) -> DetectionEngine:
    return DetectionEngine.from_folders([rules_dir])


@pytest.fixture
def state(tmp_path: Path) -> JsonRuleStateStore:
    return JsonRuleStateStore(tmp_path / "rule-state.json")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.sqlite3")
    s.setup()
    yield s
    s.close()


@pytest.fixture
def client(store: SqliteStore, engine: DetectionEngine, state: JsonRuleStateStore) -> Iterator[TestClient]:
    ctx = app_context(store, environment="test")
    ctx.detect_engine = engine
    app = create_app(ctx)
    with TestClient(app, base_url="https://testserver") as c:
        yield c


def _csrf(client: TestClient) -> dict[str, str]:
    return {"x-csrf-token": form_csrf(client.get("/alerts").text)}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ids(page: dict[str, Any]) -> list[str]:
    return [r["id"] for r in page["items"]]


# ---------------------------------------------------------------- reading


def test_list_shows_metadata_state_and_filters(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    everything = client.get("/api/v1/rules", params={"size": 500}).json()
    assert everything["total"] == PACK_RULES + PACK_CORRELATIONS + 1  # + the quarantined one
    guest = next(r for r in everything["items"] if r["id"] == GUEST)
    assert guest["state"] == "enabled"
    assert guest["level"] == "high"
    assert guest["author"] == "socpipe provincial SOC"
    assert guest["checklist"] == ["VN-05"]
    assert "attack.t1078.001" in guest["tags"]
    assert {t["technique"]["id"] for t in guest["attack"] if t["technique"]} == {"T1078.001"}
    assert guest["alerts_24h"] == 0 and guest["last_change"] is None
    titles = [r["title"] for r in everything["items"]]
    assert titles == sorted(titles, key=str.casefold)

    def ids(**params: object) -> list[str]:
        resp = client.get("/api/v1/rules", params={"size": 500, **params})
        assert resp.status_code == 200, resp.text
        return _ids(resp.json())

    vn05 = ids(checklist="VN-05")
    assert GUEST in vn05 and len(vn05) == 3
    assert ids(checklist="vn-05") == vn05
    assert all(r["level"] == "critical" for r in client.get("/api/v1/rules?level=critical").json()["items"])
    assert ids(q="GUEST ACCOUNT ACTIVATED") == [GUEST]
    assert ids(q=GUEST[:8]) == [GUEST]
    assert ids(state="quarantined") == [BROKEN]
    assert ids(q="", level="") == ids()  # the console's empty form fields are no filter
    assert client.get("/api/v1/rules", params={"level": "severe"}).status_code == 422


def test_paging(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    for sort in ("title", "level", "alerts"):
        whole = client.get("/api/v1/rules", params={"size": 500, "sort": sort}).json()
        assert whole["total"] == PACK_RULES + PACK_CORRELATIONS + 1 and whole["next_cursor"] is None
        walked = pages(client, "/api/v1/rules", size=10, sort=sort)
        assert [len(p["items"]) for p in walked][:-1] == [10] * (len(walked) - 1)
        assert [r["id"] for p in walked for r in p["items"]] == _ids(whole), sort
    assert client.get("/api/v1/rules", params={"size": 501}).status_code == 422
    alerts_cursor = walked[0]["next_cursor"]  # a key of the "alerts" order does not page by title
    assert problem(client.get("/api/v1/rules", params={"cursor": alerts_cursor}), 400)


def test_detail_has_source_path_alert_counts_and_engine_timing(
    client: TestClient, store: SqliteStore, engine: DetectionEngine
) -> None:
    event = Event.from_doc({**_nested(GUEST_EVENT), "event": {"id": "ev-guest-1", "code": "1"}})
    matches = [m for m in engine.match(event.flat()) if m.rule.id == GUEST]
    store.put_alerts([DetectStage.build_alert(matches[0], event)])
    store.refresh()
    login(client, store, role=Role.VIEWER)
    detail = client.get(f"/api/v1/rules/{GUEST}").json()
    assert detail["path"].endswith("proc_creation_win_vn05_net_guest_active.yml")
    assert detail["description"].startswith("Detects 'net user guest")
    assert detail["engine"]["evaluations"] >= 1 and detail["engine"]["matches"] == 1
    assert detail["engine"]["mean_microseconds"] > 0
    # The alert's time is the event's (July 2025): counted by neither recent window.
    assert (detail["alerts_24h"], detail["alerts_7d"]) == (0, 0)
    recent = Event.from_doc(
        {**_nested(GUEST_EVENT), "@timestamp": _now(), "event": {"id": "ev-guest-2", "code": "1"}}
    )
    store.put_alerts([DetectStage.build_alert(matches[0], recent)])
    store.refresh()
    detail = client.get(f"/api/v1/rules/{GUEST}").json()
    assert (detail["alerts_24h"], detail["alerts_7d"]) == (1, 1)
    listed = client.get("/api/v1/rules", params={"sort": "alerts", "size": 1}).json()["items"]
    assert listed[0]["id"] == GUEST and listed[0]["alerts_7d"] == 1
    assert client.get("/api/v1/rules/no-such-rule").status_code == 404


def test_quarantined_rules_are_listed_with_path_and_reason(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    (broken,) = client.get("/api/v1/rules/quarantined").json()["items"]
    assert broken["rule_id"] == BROKEN and broken["path"].endswith("broken.yml")
    assert "nosuchmodifier" in broken["reason"]
    detail = client.get(f"/api/v1/rules/{BROKEN}").json()
    assert detail["state"] == "quarantined" and "nosuchmodifier" in detail["quarantine_reason"]


def test_reading_needs_a_signed_in_user(client: TestClient) -> None:
    assert client.get("/api/v1/rules").status_code == 401
    assert client.get(f"/api/v1/rules/{GUEST}").status_code == 401


# ---------------------------------------------------------------- enable / disable


def _other_process(
    state: JsonRuleStateStore, rules_dir: Path
) -> tuple[DetectionEngine, RuleWatcher, FakeClock]:
    """Another process's engine and watcher over the same state file, on a clock the test moves."""
    other = DetectionEngine.from_folders([rules_dir])
    clock = FakeClock()
    watcher = RuleWatcher(other, JsonRuleStateStore(state.path), clock=clock)
    watcher.tick()
    return other, watcher, clock


def test_disable_is_shared_audited_and_idempotent(
    client: TestClient,
    store: SqliteStore,
    engine: DetectionEngine,
    state: JsonRuleStateStore,
    rules_dir: Path,
) -> None:
    other, watcher, clock = _other_process(state, rules_dir)
    assert any(m.rule.id == GUEST for m in other.match(GUEST_EVENT))

    login(client, store, role=Role.ANALYST, username="lan")
    resp = client.post(
        f"/api/v1/rules/{GUEST}/disable", json={"reason": "noisy on the kiosks"}, headers=_csrf(client)
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["changed"] is True and body["rule"]["state"] == "disabled"
    assert body["rule"]["last_change"]["changed_by"] == "lan"
    assert body["rule"]["last_change"]["reason"] == "noisy on the kiosks"
    assert not any(m.rule.id == GUEST for m in engine.match(GUEST_EVENT))  # this process: at once
    clock.now += watcher.state_every_s
    assert watcher.tick().state_changed == [GUEST]  # the other one: on its next poll
    assert not any(m.rule.id == GUEST for m in other.match(GUEST_EVENT))
    assert _ids(client.get("/api/v1/rules", params={"state": "disabled"}).json()) == [GUEST]

    again = client.post(f"/api/v1/rules/{GUEST}/disable", json=WHY, headers=_csrf(client)).json()
    assert again["changed"] is False
    entries = store.search_audit(AuditQuery(target_id=GUEST)).items
    assert [(e.action, e.actor, e.details["reason"]) for e in entries] == [
        ("rule.disable", "lan", "noisy on the kiosks")
    ]

    enabled = client.post(
        f"/api/v1/rules/{GUEST}/enable", json={"reason": "kiosks fixed"}, headers=_csrf(client)
    )
    assert enabled.json()["changed"] is True
    assert any(m.rule.id == GUEST for m in engine.match(GUEST_EVENT))
    assert {e.action for e in store.search_audit(AuditQuery(target_id=GUEST)).items} == {
        "rule.disable",
        "rule.enable",
    }


def test_changes_need_analyst_and_a_known_runnable_rule(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    assert client.post(f"/api/v1/rules/{GUEST}/disable", json=WHY, headers=_csrf(client)).status_code == 403
    login(client, store, role=Role.ADMIN)
    assert client.post(f"/api/v1/rules/{GUEST}/disable", json=WHY).status_code == 403  # no CSRF token
    assert (
        client.post("/api/v1/rules/no-such-rule/disable", json=WHY, headers=_csrf(client)).status_code == 404
    )
    assert client.post(f"/api/v1/rules/{BROKEN}/enable", json=WHY, headers=_csrf(client)).status_code == 409
    too_long = {"reason": "x" * 501}
    assert (
        client.post(f"/api/v1/rules/{GUEST}/disable", json=too_long, headers=_csrf(client)).status_code == 422
    )


def test_state_written_elsewhere_is_what_the_api_shows(
    client: TestClient, store: SqliteStore, state: JsonRuleStateStore
) -> None:
    JsonRuleStateStore(state.path).set_enabled(GUEST, False, actor="cli", reason="maintenance")
    login(client, store, role=Role.VIEWER)
    detail = client.get(f"/api/v1/rules/{GUEST}").json()
    assert detail["state"] == "disabled" and detail["last_change"]["changed_by"] == "cli"


def test_unreadable_state_is_503(client: TestClient, store: SqliteStore, state: JsonRuleStateStore) -> None:
    state.path.write_text("{not json", encoding="utf-8")
    login(client, store, role=Role.VIEWER)
    resp = client.get("/api/v1/rules")
    assert "rule state" in problem(resp, 503)["detail"]


# ---------------------------------------------------------------- rule test


def test_ecs_event_shows_matching_rules_and_selections(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.ANALYST)
    resp = client.post("/api/v1/rules/test", json={"event": GUEST_EVENT}, headers=_csrf(client))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["format"] == "ecs" and body["dispatched"] >= 1
    (hit,) = [h for h in body["matched"] if h["rule_id"] == GUEST]
    assert hit["selections"] == {
        "selection_img": True,
        "selection_guest_active": True,
        "selection_guest_admin": False,
    }
    assert body["event"]["winlog.event_data.CommandLine"] == "net user Guest /active:yes"

    miss = samples("proc_creation_win_vn05_net_guest_active", "nomatch")[0]
    body = client.post("/api/v1/rules/test", json={"event": miss}, headers=_csrf(client)).json()
    assert GUEST not in {h["rule_id"] for h in body["matched"]}
    assert GUEST in {h["rule_id"] for h in body["partial"]}  # net.exe matched, the command line did not
    everything = client.post(
        "/api/v1/rules/test", json={"event": miss, "include_unmatched": True}, headers=_csrf(client)
    ).json()
    assert len(everything["partial"]) >= len(body["partial"])


def test_raw_record_goes_through_its_normalizer(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.ANALYST)
    record = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": 1,
                "TimeCreated": {"#attributes": {"SystemTime": "2025-07-15T01:30:00.000000Z"}},
                "EventRecordID": 42,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "WS-TTHC-01.sotttt.local",
            },
            "EventData": {
                "Image": "C:\\Windows\\System32\\net.exe",
                "CommandLine": "net user guest /active:yes",
            },
        }
    }
    body = client.post(
        "/api/v1/rules/test", json={"raw": json.dumps(record), "format": "evtx_json"}, headers=_csrf(client)
    ).json()
    assert body["format"] == "evtx_json"
    assert GUEST in {h["rule_id"] for h in body["matched"]}


def test_disabled_rules_are_still_explained_and_marked(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.ANALYST)
    client.post(f"/api/v1/rules/{GUEST}/disable", json=WHY, headers=_csrf(client))
    body = client.post("/api/v1/rules/test", json={"event": GUEST_EVENT}, headers=_csrf(client)).json()
    (hit,) = [h for h in body["matched"] if h["rule_id"] == GUEST]
    assert hit["state"] == "disabled"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"event": GUEST_EVENT, "raw": "x"},
        {"raw": "not a windows event", "format": "evtx_json"},
        {"raw": "x", "format": "no-such-format"},
        {"event": {"host.name": "a", "host": "b"}},
    ],
)
def test_bad_test_input_is_422(client: TestClient, store: SqliteStore, payload: dict[str, Any]) -> None:
    login(client, store, role=Role.ANALYST)
    resp = client.post("/api/v1/rules/test", json=payload, headers=_csrf(client))
    assert resp.status_code == 422, resp.text


def test_testing_needs_analyst(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.POLICE)
    assert (
        client.post("/api/v1/rules/test", json={"event": GUEST_EVENT}, headers=_csrf(client)).status_code
        == 403
    )


def test_no_engine_is_503(store: SqliteStore) -> None:
    app = create_app(app_context(store, environment="test"))
    with TestClient(app, base_url="https://testserver") as c:
        login(c, store, role=Role.VIEWER)
        assert c.get("/api/v1/rules").status_code == 503


def test_the_api_engine_starts_with_the_stored_state(tmp_path: Path, rules_dir: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        detection=DetectionSettings(rule_dirs=[rules_dir], rule_cache_dir=tmp_path / "cache"),
    )
    state = JsonRuleStateStore(tmp_path / "rule-state.json")
    state.set_enabled(GUEST, False, actor="admin")
    engine = build_engine(settings)
    RuleWatcher(engine, state).tick()  # what `socpipe api` does before serving
    assert not engine.rule(GUEST).enabled
    assert engine.summary()["disabled"] == 1


# ---------------------------------------------------------------- the state adapters and the watcher


def _exercise(store: RuleStateStore) -> None:
    """What every adapter must do: empty at first, compare-and-set under concurrency, history kept."""
    assert store.load().rules == {} and store.load().disabled == frozenset()
    ids = [f"rule-{n}" for n in range(12)]
    threads = [
        threading.Thread(target=store.set_enabled, args=(rule_id, False), kwargs={"actor": f"a{n}"})
        for n, rule_id in enumerate(ids)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = store.load()
    assert state.disabled == frozenset(ids)  # no lost update
    before = state.version
    after = store.set_enabled("rule-3", True, actor="b", reason="fixed")
    assert after.version != before and "rule-3" not in after.disabled
    assert store.load().rules["rule-3"].changed_by == "b"
    assert store.load().rules["rule-3"].reason == "fixed"
    assert store.load().version == after.version


def test_memory_and_json_state_stores(tmp_path: Path) -> None:
    _exercise(MemoryRuleStateStore())
    _exercise(JsonRuleStateStore(tmp_path / "state" / "rule-state.json"))


def test_elasticsearch_state_store(servers: Servers, prefix: str) -> None:
    es = Elasticsearch(servers.es_url)
    try:
        store = ElasticRuleStateStore(es, prefix=prefix)
        _exercise(store)
        mapping = es.indices.get_mapping(index=f"{prefix}rule-state")[f"{prefix}rule-state"]["mappings"]
        assert mapping["properties"]["rules"] == {"type": "object", "enabled": False}  # ids never mapped
        other = ElasticRuleStateStore(es, prefix=prefix)  # another process: sees the same document
        assert other.load().disabled == store.load().disabled
    finally:
        es.indices.delete(index=f"{prefix}rule-state", ignore_unavailable=True)
        es.close()


def test_watcher_polls_state_and_reloads_changed_files(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(PACK, folder)
    store = MemoryRuleStateStore()
    clock = FakeClock()
    engine = DetectionEngine.from_folders([folder])
    watcher = RuleWatcher(engine, store, state_every_s=5, files_every_s=30, clock=clock)
    assert watcher.tick().state_changed == []

    store.set_enabled(GUEST, False, actor="a")
    assert watcher.tick().state_changed == []  # not due yet
    clock.now += 5
    assert watcher.tick().state_changed == [GUEST]
    assert not engine.rule(GUEST).enabled

    new_id = "5e1f0000-0000-4000-8000-0000000000aa"
    rule = (folder / "proc_creation_win_vn05_net_guest_active.yml").read_text(encoding="utf-8")
    (folder / "new_rule.yml").write_text(rule.replace(GUEST, new_id), encoding="utf-8")
    clock.now += 30
    report = watcher.tick()
    assert (
        report.reload is not None and report.reload.added == [new_id] and report.reload.recompiled_files == 1
    )
    assert any(m.rule.id == new_id for m in engine.match(GUEST_EVENT))
    assert not engine.rule(GUEST).enabled  # a reload keeps the shared state
    clock.now += 30
    assert watcher.tick().reload is None  # nothing changed on disk: no reload

    store.set_enabled("a-rule-not-loaded-yet", False, actor="a")
    clock.now += 5
    watcher.tick()
    assert "a-rule-not-loaded-yet" in engine.disabled


class BrokenStore(MemoryRuleStateStore):
    def load(self) -> Any:
        from soc_core.errors import StoreError

        raise StoreError("elasticsearch is down")


def test_watcher_keeps_going_when_the_state_or_the_folder_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(PACK, folder)
    clock = FakeClock()
    engine = DetectionEngine.from_folders([folder])
    watcher = RuleWatcher(engine, BrokenStore(), clock=clock)
    for _ in range(3):
        watcher.tick()
        clock.now += 5
    assert watcher.counters["state_errors"] == 3
    assert sum("rule state not read" in r.getMessage() for r in caplog.records) == 1  # once per outage
    shutil.rmtree(folder)
    clock.now += 30
    assert watcher.tick().reload is None and watcher.counters["reload_errors"] == 1
    assert len(engine.rules) == PACK_RULES  # the loaded rules keep running


def test_matching_while_reloading_never_sees_a_half_swapped_rule_set(tmp_path: Path) -> None:
    """`match()` and `reload()` share the engine lock: a match names the rule that really fired."""
    folder = tmp_path / "rules"
    shutil.copytree(PACK, folder)
    engine = DetectionEngine.from_folders([folder])
    rule = (folder / "proc_creation_win_vn05_net_guest_active.yml").read_text(encoding="utf-8")
    stop = threading.Event()
    seen: Counter[str] = Counter()
    failures: list[str] = []

    def matcher() -> None:
        while not stop.is_set():
            for match in engine.match(GUEST_EVENT):
                seen[match.rule.id] += 1
                if "Guest" not in match.rule.title:
                    failures.append(f"{match.rule.id} {match.rule.title}")

    thread = threading.Thread(target=matcher)
    thread.start()
    try:
        for n in range(30):
            extra = folder / "a_extra.yml"  # sorts first: every reload shifts the indices
            if n % 2:
                extra.unlink()
            else:
                extra.write_text(rule.replace(GUEST, f"5e1f0000-0000-4000-8000-{n:012d}"), encoding="utf-8")
            engine.reload()
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert seen[GUEST] > 0


# ---------------------------------------------------------------- helpers


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    from api.rules.service import _unflatten

    return _unflatten(flat)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


# ---------------------------------------------------------------- correlation rules


def _sshd_burst(engine: DetectionEngine) -> LiveCorrelation:
    """The pack's brute-force sample through normalize, detect and an in-process correlation engine."""
    live = LiveCorrelation(lambda: engine.correlations, disabled=lambda: engine.disabled, lateness_s=60)
    stage, normalize = DetectStage(engine), NormalizeStage()
    for line in (PACK / "correlation_sshd_brute_force.fire.log").read_text(encoding="utf-8").splitlines():
        event = normalize(RawRecord(id=record_id("t", line), source_id="t", format=None, payload=line))
        assert isinstance(event, Event), event
        live(stage.evaluate(event)[1])
    return live


def test_correlations_are_listed_with_kind_definition_and_references(
    client: TestClient, store: SqliteStore
) -> None:
    login(client, store, role=Role.VIEWER)
    correlations = client.get("/api/v1/rules", params={"kind": "correlation", "size": 500}).json()
    assert correlations["total"] == PACK_CORRELATIONS
    assert {r["kind"] for r in correlations["items"]} == {"correlation"}
    detections = client.get("/api/v1/rules", params={"kind": "detection", "size": 500}).json()
    assert detections["total"] == PACK_RULES + 1 and BROKEN in _ids(detections)
    login_after = next(r for r in correlations["items"] if r["id"] == LOGIN_AFTER)
    assert login_after["state"] == "enabled" and login_after["level"] == "high"
    assert login_after["author"] == "socpipe provincial SOC"  # DRL 1.1: authors stay visible
    assert "attack.t1110.001" in login_after["tags"]
    definition = login_after["correlation"]
    assert definition["type"] == "temporal_ordered" and definition["timespan_s"] == 1800
    assert definition["group_by"] == ["source.ip", "host.name"] and definition["generate"] is False
    assert [(r["ref"], r["id"], r["kind"]) for r in definition["rules"]] == [
        ("vn_sshd_failure_burst", FAILURE_BURST, "correlation"),
        ("vn_sshd_accepted_login", ACCEPTED, "detection"),
    ]
    assert definition["rules"][1]["title"] == "SSH Successful Login"
    brute = next(r for r in correlations["items"] if r["id"] == BRUTE_FORCE)["correlation"]
    assert brute["type"] == "event_count" and brute["condition"] == {"gte": 10}
    assert _ids(client.get("/api/v1/rules", params={"q": "SSH login succeeded after"}).json()) == [
        LOGIN_AFTER
    ]
    assert (
        client.get("/api/v1/rules", params={"kind": ""}).json()["total"]
        == correlations["total"] + (detections["total"])
    )
    body = problem(client.get("/api/v1/rules", params={"kind": "sequence"}), 422)
    assert body["errors"][0]["location"] == "query.kind"


def test_a_correlation_detail_has_its_engine_statistics_and_rules_name_their_readers(
    client: TestClient, store: SqliteStore, engine: DetectionEngine
) -> None:
    login(client, store, role=Role.VIEWER)
    detail = client.get(f"/api/v1/rules/{BRUTE_FORCE}").json()
    assert detail["kind"] == "correlation" and detail["path"].endswith("correlation_sshd_brute_force.yml")
    assert detail["correlation_engine"] is None  # no correlation engine in this process (yet)
    live = _sshd_burst(engine)
    client.app.state.ctx.correlation_stats = live.stats  # type: ignore[attr-defined]
    held = client.get(f"/api/v1/rules/{BRUTE_FORCE}").json()["correlation_engine"]
    stats = live.stats()[BRUTE_FORCE]
    assert held["hits"] == stats.hits > 0 and held["groups"] == stats.groups > 0
    assert held["alerts"] == stats.alerts and held["late"] == 0
    live.flush()
    after = client.get(f"/api/v1/rules/{BRUTE_FORCE}").json()["correlation_engine"]
    assert (after["alerts"], after["groups"], after["buffered"]) == (1, 0, 0)
    readers = client.get(f"/api/v1/rules/{FAILURE_BURST}").json()["used_by"]
    assert [(r["id"], r["kind"]) for r in readers] == [(LOGIN_AFTER, "correlation")]
    accepted = client.get(f"/api/v1/rules/{ACCEPTED}").json()
    assert accepted["kind"] == "detection" and LOGIN_AFTER in [r["id"] for r in accepted["used_by"]]


def test_disabling_a_correlation_is_shared_audited_and_stops_every_correlation_engine(
    client: TestClient,
    store: SqliteStore,
    engine: DetectionEngine,
    state: JsonRuleStateStore,
    rules_dir: Path,
) -> None:
    other, watcher, clock = _other_process(state, rules_dir)
    login(client, store, role=Role.ANALYST, username="lan")
    resp = client.post(
        f"/api/v1/rules/{BRUTE_FORCE}/disable", json={"reason": "scanner VLAN"}, headers=_csrf(client)
    )
    assert resp.status_code == 200, resp.text
    rule = resp.json()["rule"]
    assert rule["kind"] == "correlation" and rule["state"] == "disabled"
    assert rule["last_change"]["reason"] == "scanner VLAN"
    assert BRUTE_FORCE in engine.disabled  # this process's correlation engines read it from here
    here = _sshd_burst(engine)
    assert here.stats()[BRUTE_FORCE].skipped_disabled > 0
    assert BRUTE_FORCE not in {a.rule.id for a in here.flush() if isinstance(a, Alert)}
    clock.now += watcher.state_every_s
    assert watcher.tick().state_changed == []  # not a detection rule of that engine ...
    assert BRUTE_FORCE in other.disabled  # ... but its correlation engines read it from there
    there = _sshd_burst(other)
    assert there.stats()[BRUTE_FORCE].hits == 0
    assert _ids(client.get("/api/v1/rules", params={"state": "disabled"}).json()) == [BRUTE_FORCE]
    entries = store.search_audit(AuditQuery(target_id=BRUTE_FORCE)).items
    assert [(e.action, e.actor, e.details["title"]) for e in entries] == [
        ("rule.disable", "lan", "SSH Brute Force from One Source Against One Server")
    ]
    again = client.post(f"/api/v1/rules/{BRUTE_FORCE}/enable", json=WHY, headers=_csrf(client)).json()
    assert again["changed"] is True and again["rule"]["state"] == "enabled"
    enabled = _sshd_burst(engine)
    assert enabled.stats()[BRUTE_FORCE].skipped_disabled == 0
    assert BRUTE_FORCE in {a.rule.id for a in enabled.flush() if isinstance(a, Alert)}


def test_a_quarantined_correlation_is_a_correlation_that_cannot_be_enabled(
    tmp_path: Path, store: SqliteStore
) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(PACK, folder)
    unknown = "0badc0de-0000-4000-8000-00000000c0de"
    (folder / "correlation_unknown.yml").write_text(
        f"title: Reads nothing loaded\nid: {unknown}\nlevel: low\ncorrelation:\n"
        "    type: event_count\n    rules: [no_such_rule]\n    group-by: [host.name]\n"
        "    timespan: 5m\n    condition:\n        gte: 2\n",
        encoding="utf-8",
    )
    ctx = app_context(store, environment="test")
    ctx.detect_engine = DetectionEngine.from_folders([folder])
    with TestClient(create_app(ctx), base_url="https://testserver") as c:
        login(c, store, role=Role.ANALYST)
        quarantined = c.get("/api/v1/rules", params={"state": "quarantined"}).json()["items"]
        assert [(r["id"], r["kind"]) for r in quarantined] == [(unknown, "correlation")]
        detail = c.get(f"/api/v1/rules/{unknown}").json()
        assert "no_such_rule" in detail["quarantine_reason"]
        problem(c.post(f"/api/v1/rules/{unknown}/enable", json=WHY, headers=_csrf(c)), 409)
        problem(c.post("/api/v1/rules/no-such-correlation/disable", json=WHY, headers=_csrf(c)), 404)


def test_correlation_state_through_the_elasticsearch_state_store(
    servers: Servers, prefix: str, engine: DetectionEngine
) -> None:
    """Distributed mode: the API writes the Elasticsearch document, a correlate worker's watcher
    applies it to its detection engine, whose disabled ids the correlation engines read."""
    es = Elasticsearch(servers.es_url)
    try:
        ElasticRuleStateStore(es, prefix=prefix).set_enabled(BRUTE_FORCE, False, actor="lan")
        RuleWatcher(engine, ElasticRuleStateStore(es, prefix=prefix)).tick()
        assert _sshd_burst(engine).stats()[BRUTE_FORCE].skipped_disabled > 0
    finally:
        es.indices.delete(index=f"{prefix}rule-state", ignore_unavailable=True)
        es.close()


# ---------------------------------------------------------------- the console's rules pages


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("vi", ("Quy tắc", "Tương quan", "Phát hiện", "Dựa trên", "Đang bật")),
        ("en", ("Rules", "Correlation", "Detection", "Reads", "Enabled")),
    ],
)
def test_the_rules_page_lists_correlations_with_summary_and_links(
    client: TestClient, store: SqliteStore, lang: str, words: tuple[str, ...]
) -> None:
    login(client, store, role=Role.VIEWER)
    client.cookies.set(LANG_COOKIE, lang)
    page = client.get("/rules", params={"kind": "correlation"})
    assert page.status_code == 200, page.text
    html = page.text
    assert all(w in html for w in words), [w for w in words if w not in html]
    assert html.count('class="rule-correlation ') == PACK_CORRELATIONS and "rule-detection" not in html
    row = html[html.index(f'id="rule-{LOGIN_AFTER}"') :]
    row = row[: row.index("</tr>")]
    assert f'href="/rules/{FAILURE_BURST}"' in row and f'href="/rules/{ACCEPTED}"' in row
    assert (
        '<code translate="no">source.ip</code>' in row
        and ("30 phút" if lang == "vi" else "30 minutes") in row
    )
    brute = html[html.index(f'id="rule-{BRUTE_FORCE}"') :]
    assert "≥ 10" in brute[: brute.index("</tr>")]
    everything = client.get("/rules").text
    assert "rule-detection" in everything and "rule-correlation" in everything
    assert client.get("/rules", params={"kind": "bogus"}).status_code == 200  # a bad filter is dropped


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_correlation_page_links_its_rules_and_an_analyst_disables_it(
    client: TestClient, store: SqliteStore, engine: DetectionEngine, lang: str
) -> None:
    login(client, store, role=Role.ANALYST, username="lan")
    client.cookies.set(LANG_COOKIE, lang)
    html = client.get(f"/rules/{LOGIN_AFTER}").text
    definition = html[html.index('id="correlation-rules"') :]
    assert f'href="/rules/{FAILURE_BURST}"' in definition and f'href="/rules/{ACCEPTED}"' in definition
    assert ("không tự phát sinh cảnh báo" if lang == "vi" else "raise no alerts of their own") in html
    assert 'id="correlation-engine"' not in html  # no correlation engine in this process
    client.app.state.ctx.correlation_stats = _sshd_burst(engine).stats  # type: ignore[attr-defined]
    assert 'id="correlation-engine"' in client.get(f"/rules/{BRUTE_FORCE}").text
    used_by = client.get(f"/rules/{FAILURE_BURST}").text
    assert f'href="/rules/{LOGIN_AFTER}"' in used_by[used_by.index('id="rule-used-by"') :]

    token = form_csrf(html)
    done = client.post(
        f"/rules/{LOGIN_AFTER}/disable",
        data={"csrf_token": token, "reason": "tuning"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/rules/{LOGIN_AFTER}"
    assert LOGIN_AFTER in engine.disabled
    after = client.get(f"/rules/{LOGIN_AFTER}").text
    assert ("Đã tắt" if lang == "vi" else "Disabled") in after and "tuning" in after
    client.post(f"/rules/{LOGIN_AFTER}/enable", data={"csrf_token": token, "reason": "tuned"})
    assert LOGIN_AFTER not in engine.disabled
    missing = client.get("/rules/no-such-rule")
    assert missing.status_code == 404 and "no such rule" in missing.text


# ---------------------------------------------------------------- reasons, history, counts per day


def _alerts_at(store: SqliteStore, rule_id: str, times: list[datetime]) -> None:
    """Alerts of `rule_id` raised at `times` (one event each)."""
    store.put_alerts(
        [make_alert(rule_id, make_event(n, ts=at, source=rule_id)) for n, at in enumerate(times)]
    )
    store.refresh()


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": None}])
def test_a_change_without_a_reason_is_refused_and_changes_nothing(
    client: TestClient, store: SqliteStore, engine: DetectionEngine, body: dict[str, Any] | None
) -> None:
    login(client, store, role=Role.ANALYST, username="lan")
    resp = client.post(f"/api/v1/rules/{GUEST}/disable", json=body, headers=_csrf(client))
    detail = problem(resp, 422)["detail"]
    assert "reason" in detail or detail == "body: Field required"
    assert GUEST not in engine.disabled
    assert store.search_audit(AuditQuery(target_id=GUEST)).items == []


def test_the_detail_lists_who_changed_the_rule_when_and_why(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.ANALYST, username="lan")
    client.post(
        f"/api/v1/rules/{GUEST}/disable", json={"reason": "  noisy on the kiosks "}, headers=_csrf(client)
    )
    login(client, store, role=Role.ADMIN, username="minh")
    client.post(f"/api/v1/rules/{GUEST}/enable", json={"reason": "kiosks fixed"}, headers=_csrf(client))
    login(client, store, role=Role.VIEWER)
    changes = client.get(f"/api/v1/rules/{GUEST}").json()["changes"]
    assert [(c["enabled"], c["changed_by"], c["reason"]) for c in changes] == [
        (True, "minh", "kiosks fixed"),
        (False, "lan", "noisy on the kiosks"),  # stored trimmed
    ]
    assert changes[0]["changed_at"] >= changes[1]["changed_at"]
    assert client.get(f"/api/v1/rules/{ACCEPTED}").json()["changes"] == []


def test_the_histogram_counts_a_rules_alerts_per_local_day(client: TestClient, store: SqliteStore) -> None:
    today = day_start(datetime.now(UTC))  # 00:00 in Asia/Ho_Chi_Minh is 17:00 UTC
    assert today.hour == 17 and today.minute == 0
    _alerts_at(store, GUEST, [today, today - timedelta(seconds=1), today - timedelta(days=3, hours=-1)])
    _alerts_at(store, ACCEPTED, [today])  # another rule's: not counted
    login(client, store, role=Role.VIEWER)
    got = client.get(f"/api/v1/rules/{GUEST}/histogram", params={"days": 7}).json()
    assert (got["interval_s"], got["offset_s"]) == (86_400, -25_200)
    assert [b["count"] for b in got["buckets"]] == [0, 0, 0, 1, 0, 1, 1]
    assert datetime.fromisoformat(got["buckets"][-1]["start"]) == today
    assert len(client.get(f"/api/v1/rules/{GUEST}/histogram").json()["buckets"]) == 30  # the default
    assert problem(client.get("/api/v1/rules/no-such-rule/histogram"), 404)
    for days in ("0", "367", "x"):
        assert problem(client.get(f"/api/v1/rules/{GUEST}/histogram", params={"days": days}), 422)
    quarantined = client.get(f"/api/v1/rules/{BROKEN}/histogram", params={"days": 1}).json()
    assert quarantined["buckets"][0]["count"] == 0


def test_the_list_counts_every_rule_per_day_in_a_constant_number_of_queries(
    client: TestClient, store: SqliteStore
) -> None:
    today = day_start(datetime.now(UTC))
    _alerts_at(store, GUEST, [today, today - timedelta(days=2), today - timedelta(days=2, hours=-3)])
    _alerts_at(store, ACCEPTED, [today - timedelta(days=6)])
    login(client, store, role=Role.VIEWER)
    calls = count_calls(store)
    html = client.get("/rules", params={"size": 500}).text
    assert calls == Counter({"alert_facets": 2 + SPARK_DAYS})  # 24 h, 7 days, one per day
    assert html.count('<svg class="sparkline"') == html.count('<tr id="rule-') > PACK_RULES // 2
    row = html[html.index(f'id="rule-{GUEST}"') :]
    assert ": 0, 0, 0, 0, 2, 0, 1" in row[: row.index("</tr>")]  # aria-label, today last
    row = html[html.index(f'id="rule-{ACCEPTED}"') :]
    assert ": 1, 0, 0, 0, 0, 0, 0" in row[: row.index("</tr>")]
    calls.clear()
    page = client.get(f"/rules/{GUEST}").text
    assert calls["alert_histogram"] == 1
    chart = page[page.index('id="rule-chart"') :]
    day = today.astimezone(VN)
    assert chart.count('class="bar"') == 2 and f"{day:%d/%m/%Y} 00:00:00 – " in chart  # days with alerts
    assert f'href="/alerts?rule={GUEST}&amp;start={day:%Y-%m-%d}&amp;end={day:%Y-%m-%d}"' in chart


@pytest.mark.parametrize(
    ("lang", "required", "too_long"),
    [
        ("vi", "Hãy nêu lý do", "Lý do quá dài"),
        ("en", "Say why", "The reason is too long"),
    ],
)
def test_the_console_form_needs_a_reason_and_comes_back_with_the_error(
    client: TestClient, store: SqliteStore, engine: DetectionEngine, lang: str, required: str, too_long: str
) -> None:
    login(client, store, role=Role.ANALYST, username="lan")
    client.cookies.set(LANG_COOKIE, lang)
    token = form_csrf(client.get(f"/rules/{GUEST}").text)
    for reason in ("", "   "):
        back = client.post(f"/rules/{GUEST}/disable", data={"csrf_token": token, "reason": reason})
        assert back.status_code == 422
        assert 'id="rule-state-form"' in back.text and required in back.text
    back = client.post(f"/rules/{GUEST}/disable", data={"csrf_token": token, "reason": "x" * 501})
    assert back.status_code == 422 and too_long in back.text and 'value="' + "x" * 501 in back.text
    back = client.post(f"/rules/{GUEST}/disable", data={"csrf_token": token})  # no field at all
    assert back.status_code == 422 and required in back.text
    assert GUEST not in engine.disabled and store.search_audit(AuditQuery(target_id=GUEST)).items == []

    done = client.post(
        f"/rules/{GUEST}/disable",
        data={"csrf_token": token, "reason": "<b>ồn</b> trên máy kiosk"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and GUEST in engine.disabled
    page = client.get(f"/rules/{GUEST}").text
    changes = page[page.index('id="rule-changes"') :]
    assert "lan" in changes and "&lt;b&gt;ồn&lt;/b&gt; trên máy kiosk" in changes  # text, not markup
    listed = client.get("/rules", params={"state": "disabled"}).text
    assert "&lt;b&gt;ồn&lt;/b&gt; trên máy kiosk" in listed  # the reason beside the state
    entry = store.search_audit(AuditQuery(target_id=GUEST)).items[0]
    assert (entry.action, entry.actor, entry.details["reason"]) == (
        "rule.disable",
        "lan",
        "<b>ồn</b> trên máy kiosk",
    )


def test_only_the_apis_roles_see_and_use_the_form(client: TestClient, store: SqliteStore) -> None:
    for role in (Role.VIEWER, Role.POLICE):
        login(client, store, role=role)
        page = client.get(f"/rules/{GUEST}")
        assert page.status_code == 200 and 'id="rule-state-form"' not in page.text
        token = form_csrf(client.get("/alerts").text) if role is Role.VIEWER else None
        refused = client.post(
            f"/rules/{GUEST}/disable", data={"csrf_token": token or "", "reason": "x"}, follow_redirects=False
        )
        assert refused.status_code == 403
    login(client, store, role=Role.ADMIN)
    assert 'id="rule-state-form"' in client.get(f"/rules/{GUEST}").text


def test_the_list_shows_quarantined_files_with_their_reasons(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    html = client.get("/rules").text
    section = html[html.index('id="quarantined-rules"') :]
    assert "broken.yml" in section and "nosuchmodifier" in section
    assert f'href="/rules/{BROKEN}"' in section
    page = client.get(f"/rules/{BROKEN}").text
    assert 'id="quarantine-reason"' in page and "nosuchmodifier" in page


def test_the_rules_pages_alert_queries_read_a_time_bounded_index(store: SqliteStore) -> None:
    """SQLite: a rule's histogram and the per-day rule facets search an index on (rule, origin, time)
    and (origin, time); before, they walked every live alert (`alerts_origin_status_ts`), seconds
    on 200,000 alerts (bench/bench_rules_page.py)."""
    now = datetime.now(UTC)
    ran: list[str] = []
    store._conn.set_trace_callback(ran.append)  # the SQL as run, parameters expanded
    try:
        store.alert_histogram(AlertSearch(rule_id=GUEST, start=now - timedelta(days=30), end=now), 86_400)
        store.alert_facets(AlertSearch(start=now - timedelta(days=1), end=now), ["rule"], size=10)
    finally:
        store._conn.set_trace_callback(None)
    plans = [" ".join(str(row[3]) for row in store._query(f"EXPLAIN QUERY PLAN {sql}")) for sql in ran]
    assert len(plans) == 2
    assert "alerts_rule_origin_ts (rule_id=? AND origin=? AND ts>? AND ts<?)" in plans[0]
    assert "alerts_origin_ts (origin=? AND ts>? AND ts<?)" in plans[1]


def test_the_listings_windows_count_what_the_rolling_facets_count(store: SqliteStore) -> None:
    """`alert_windows` builds the last 24 hours and 7 days from day facets plus the oldest day's part:
    the same numbers as asking for each window, at every edge."""
    now = datetime.now(UTC).replace(microsecond=0)
    today = day_start(now)
    minute, second = timedelta(minutes=1), timedelta(seconds=1)
    day_ago, week_ago, oldest_day = (
        now - timedelta(hours=24),
        now - timedelta(days=7),
        today - timedelta(days=6),
    )
    edges = [now - minute, today, today - second, day_ago + minute, day_ago - minute]
    edges += [oldest_day, oldest_day - second, week_ago + minute, week_ago - minute, now - timedelta(days=20)]
    _alerts_at(store, GUEST, edges)
    _alerts_at(store, ACCEPTED, [now - timedelta(days=6, hours=23, minutes=59)])
    windows = service.alert_windows(store, now, 7)
    assert windows.counts == service._alert_counts(store, now)
    assert windows.last_7d[GUEST] == 8 and windows.last_24h[GUEST] == 4 and windows.last_7d[ACCEPTED] == 1
    # the sparkline's 7 whole local days start at 00:00 six days ago, later than now - 7 days
    assert sum(windows.daily[GUEST]) == 6
    assert windows.days == [oldest_day + timedelta(days=i) for i in range(7)]
    with pytest.raises(service.InvalidRange):
        service.alert_windows(store, now, 6)
