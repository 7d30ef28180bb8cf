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
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from detections.engine import DetectionEngine
from detections.stage import DetectStage
from detections.state import MemoryRuleStateStore, RuleWatcher
from soc_core.event import Event
from soc_core.rule_state import RuleStateStore
from soc_core.settings import DetectionSettings, Settings
from soc_core.store import AuditQuery
from socpipe.app import create_app
from socpipe.runtime import build_engine
from stores.elastic.rule_state import ElasticRuleStateStore
from stores.sqlite.rule_state import JsonRuleStateStore
from stores.sqlite.store import SqliteStore
from tests.backends import app_context
from tests.detections.provincial_pack import RULE_FILES
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
PACK_RULES = len(RULE_FILES)  # detection rules; the pack's correlation documents are not listed here


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
    assert everything["total"] == PACK_RULES + 1  # + the quarantined one
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
        assert whole["total"] == PACK_RULES + 1 and whole["next_cursor"] is None
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


def test_disable_is_shared_audited_and_idempotent(
    client: TestClient,
    store: SqliteStore,
    engine: DetectionEngine,
    state: JsonRuleStateStore,
    rules_dir: Path,
) -> None:
    other = DetectionEngine.from_folders([rules_dir])  # another process's engine, same state file
    clock = FakeClock()
    watcher = RuleWatcher(other, JsonRuleStateStore(state.path), clock=clock)
    watcher.tick()
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

    again = client.post(f"/api/v1/rules/{GUEST}/disable", headers=_csrf(client)).json()
    assert again["changed"] is False
    entries = store.search_audit(AuditQuery(target_id=GUEST)).items
    assert [(e.action, e.actor, e.details["reason"]) for e in entries] == [
        ("rule.disable", "lan", "noisy on the kiosks")
    ]

    assert client.post(f"/api/v1/rules/{GUEST}/enable", headers=_csrf(client)).json()["changed"] is True
    assert any(m.rule.id == GUEST for m in engine.match(GUEST_EVENT))
    assert {e.action for e in store.search_audit(AuditQuery(target_id=GUEST)).items} == {
        "rule.disable",
        "rule.enable",
    }


def test_changes_need_analyst_and_a_known_runnable_rule(client: TestClient, store: SqliteStore) -> None:
    login(client, store, role=Role.VIEWER)
    assert client.post(f"/api/v1/rules/{GUEST}/disable", headers=_csrf(client)).status_code == 403
    login(client, store, role=Role.ADMIN)
    assert client.post(f"/api/v1/rules/{GUEST}/disable").status_code == 403  # no CSRF token
    assert client.post("/api/v1/rules/no-such-rule/disable", headers=_csrf(client)).status_code == 404
    assert client.post(f"/api/v1/rules/{BROKEN}/enable", headers=_csrf(client)).status_code == 409
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
    client.post(f"/api/v1/rules/{GUEST}/disable", headers=_csrf(client))
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
