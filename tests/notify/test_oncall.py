"""The SOC on-call list and the escalation chain are part of the routing configuration an admin edits
(top-level `oncall:` and `escalation:` of the routing text): validated per entry, the settings' lists
while the text names none, picked up live by routing and by escalation, audited with the lists
before and after, and shown on the settings page and by `GET /api/v1/notify/contacts` (both stores).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.auth.deps import Role
from api.auth.testing import form_csrf, login
from notify.config import NotifyConfigInvalid, parse, seed_text
from notify.escalation import Escalator
from notify.rules import RoutingRules
from notify.stage import NotifyStage
from soc_core.alert import Severity
from soc_core.notify import Recipient
from soc_core.notify_config import ConfigKind, NotifyConfigStore, NotifyConfigVersion
from soc_core.registry import Registry
from soc_core.settings import NotifySettings
from soc_core.store import AuditQuery, Store
from socpipe.app import create_app
from tests.backends import app_context, backend_of
from tests.notify.conftest import MORNING, Clock, make_alert

SETTINGS = NotifySettings(
    oncall=["email:truc@soc.gov.vn"], escalation=["email:truong-ca@soc.gov.vn"], config_poll_s=5
)

DUTY = """oncall: ["telegram:-1001234567"]
escalation:
  - email:lanh-dao@soc.gov.vn
  - telegram:-1009876543
rules:
  - {name: high-and-critical, min_severity: high, oncall: true}
"""


def test_a_bad_entry_is_named_by_its_list_and_place() -> None:
    with pytest.raises(NotifyConfigInvalid) as caught:
        parse(ConfigKind.ROUTING, "oncall: [zalo:0912]\nescalation: ['email:a@b.vn', 'fax:1', 3]\n")
    found = {p.location: p.message for p in caught.value.problems}
    assert set(found) == {"oncall.0", "escalation.1", "escalation.2"}
    assert found["oncall.0"].startswith('"oncall" (the on-call list), entry 1: unknown channel')
    assert found["escalation.1"].startswith('"escalation" (the escalation chain), entry 2: unknown channel')
    assert parse(ConfigKind.ROUTING, "oncall: []\nescalation: []\n") == RoutingRules(oncall=[], escalation=[])


def test_the_seed_shows_the_settings_lists(tmp_path: Path) -> None:
    built_in = parse(ConfigKind.ROUTING, seed_text(ConfigKind.ROUTING, SETTINGS))
    assert built_in == RoutingRules(oncall=list(SETTINGS.oncall), escalation=list(SETTINGS.escalation))
    file = tmp_path / "rules.yaml"
    file.write_text("# ours\noncall: [email:rieng@soc.gov.vn]\nrules: []\n", encoding="utf-8")
    settings = SETTINGS.model_copy(update={"rules_file": file})
    text = seed_text(ConfigKind.ROUTING, settings)
    assert text.startswith(file.read_text(encoding="utf-8").rstrip())  # the file as written, then
    assert "# SOC_NOTIFY_ESCALATION (the file names none)" in text and "SOC_NOTIFY_ONCALL" not in text
    seeded = parse(ConfigKind.ROUTING, text)
    assert (seeded.oncall, seeded.escalation) == (["email:rieng@soc.gov.vn"], list(SETTINGS.escalation))
    file.write_text(DUTY, encoding="utf-8")
    assert seed_text(ConfigKind.ROUTING, settings) == DUTY  # it names both: shown as it is


def _save(repo: NotifyConfigStore, version: int, text: str, clock: Clock) -> None:
    repo.put(
        NotifyConfigVersion(
            kind=ConfigKind.ROUTING,
            version=version,
            text=text,
            author="quantri",
            reason="đổi ca trực",
            created_at=clock.now,
        )
    )


def _stage(repo: NotifyConfigStore, clock: Clock, settings: NotifySettings = SETTINGS) -> NotifyStage:
    return NotifyStage(
        settings, secret="k", registry=Registry, acknowledged=lambda _: False, clock=clock, config_store=repo
    )


def test_a_saved_on_call_list_and_chain_are_picked_up_live(store: Store, clock: Clock) -> None:
    repo = backend_of(store).notify_config
    repo.setup()
    stage = _stage(repo, clock)
    first = make_alert(1)
    assert [str(m.recipient) for m in stage.offer([first])] == ["email:truc@soc.gov.vn"]

    _save(repo, 1, DUTY, clock)
    clock.advance(seconds=6)
    second = make_alert(2, at=clock.now)
    assert [str(m.recipient) for m in stage.offer([second])] == ["telegram:-1001234567"]

    clock.now = MORNING + timedelta(hours=1)  # the first alert's SLA ran out: the new chain's first
    [step1] = [m for m in stage.tick() if m.kind == "escalation"]
    assert (str(step1.recipient), step1.data["alert_id"]) == ("email:lanh-dao@soc.gov.vn", first.id)
    clock.now = MORNING + timedelta(hours=2, seconds=6)
    steps = {(m.data["alert_id"], str(m.recipient)) for m in stage.tick()}
    assert steps == {(first.id, "telegram:-1009876543"), (second.id, "email:lanh-dao@soc.gov.vn")}

    _save(repo, 2, "rules:\n  - {name: high-and-critical, min_severity: high, oncall: true}\n", clock)
    clock.advance(seconds=6)  # a text naming neither list: the settings' lists again
    assert [str(m.recipient) for m in stage.offer([make_alert(3, at=clock.now)])] == ["email:truc@soc.gov.vn"]
    assert stage.escalator.chain == [Recipient("email", "truong-ca@soc.gov.vn")]
    assert stage.config.versions[ConfigKind.ROUTING] == 2


def test_a_chain_saved_within_the_sla_escalates_an_alert_raised_without_one(
    store: Store, clock: Clock
) -> None:
    repo = backend_of(store).notify_config
    repo.setup()
    stage = _stage(repo, clock, SETTINGS.model_copy(update={"escalation": []}))
    alert = make_alert(1, severity=Severity.CRITICAL)
    stage.offer([alert])
    _save(repo, 1, DUTY, clock)
    clock.advance(minutes=15)
    [escalation] = stage.tick()
    assert (escalation.kind, str(escalation.recipient)) == ("escalation", "email:lanh-dao@soc.gov.vn")


def test_a_restarted_notifier_resumes_by_the_stored_chain(store: Store, clock: Clock) -> None:
    repo = backend_of(store).notify_config
    repo.setup()
    _save(repo, 1, DUTY, clock)
    stage = _stage(repo, clock, SETTINGS.model_copy(update={"escalation": []}))
    assert stage.resume_since == MORNING - timedelta(hours=2)  # two steps of the stored chain
    clock.advance(minutes=90)
    stage.resume([make_alert(1)])  # an hour and a half old: the first step is due (again)
    [due] = stage.tick()
    assert (str(due.recipient), due.data["escalation_step"]) == ("email:lanh-dao@soc.gov.vn", 1)


def test_a_shortened_chain_ends_the_watch_without_asking_the_store() -> None:
    asked: list[str] = []

    def acknowledged(alert_id: str) -> bool:
        asked.append(alert_id)
        return False

    chain = [Recipient("email", "a@x.vn"), Recipient("email", "b@x.vn")]
    esc = Escalator({"high": 3600}, chain, acknowledged, 1000)
    alert = make_alert(1)
    esc.watch(alert)
    assert [e.recipient for e in esc.due(MORNING + timedelta(hours=1))] == [chain[0]]
    esc.chain = chain[:1]
    assert esc.due(MORNING + timedelta(hours=2)) == [] and esc.watching == 0
    assert asked == [alert.id]  # asked once, at the first step


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    context = app_context(store, environment="test", notify=SETTINGS)
    with TestClient(create_app(context), base_url="https://testserver") as c:
        yield c


def test_who_is_on_duty_is_saved_audited_and_shown(client: TestClient, store: Store) -> None:
    login(client, store, role=Role.ADMIN, username="quantri")
    headers = {"x-csrf-token": form_csrf(client.get("/alerts").text)}
    assert client.get("/api/v1/notify/contacts").json() == {
        "version": 0,
        "oncall": ["email:truc@soc.gov.vn"],
        "escalation": ["email:truong-ca@soc.gov.vn"],
        "from_settings": [],  # the built-in seed writes the settings' lists in
    }
    bad = client.put(
        "/api/v1/notify/config/routing",
        json={"text": DUTY.replace("telegram:-1009876543", "sms:0912"), "reason": "thử", "base_version": 0},
        headers=headers,
    )
    assert bad.status_code == 422 and [e["location"] for e in bad.json()["errors"]] == ["escalation.1"]
    body = {"text": DUTY, "reason": "Ca trực tháng 12", "base_version": 0}
    assert client.put("/api/v1/notify/config/routing", json=body, headers=headers).status_code == 200
    no_lists = {"text": "rules: []\n", "reason": "Về thiết lập", "base_version": 1}
    assert client.put("/api/v1/notify/config/routing", json=no_lists, headers=headers).status_code == 200
    assert client.get("/api/v1/notify/contacts").json()["from_settings"] == ["oncall", "escalation"]

    store.refresh()
    entries = store.search_audit(AuditQuery(action="notify.config.save")).items
    first, second = sorted(entries, key=lambda e: e.details["version"])
    assert first.details["oncall"] == {"before": ["email:truc@soc.gov.vn"], "after": ["telegram:-1001234567"]}
    assert first.details["escalation"]["after"] == ["email:lanh-dao@soc.gov.vn", "telegram:-1009876543"]
    assert second.details["oncall"]["after"] == ["email:truc@soc.gov.vn"]

    page = client.get("/settings/notify", headers={"accept-language": "vi"}).text
    assert "Trực ban" in page and "theo thiết lập SOC_NOTIFY_ONCALL" in page
    assert "theo thiết lập SOC_NOTIFY_ESCALATION" in page and "1. <code" in page
    assert "Trực ban" not in client.get("/settings/notify?kind=guidance").text


def test_a_stored_routing_that_no_longer_parses_is_a_problem_not_a_crash(
    client: TestClient, store: Store, clock: Clock
) -> None:
    repo = backend_of(store).notify_config
    _save(repo, 1, "oncall: [fax:1]\n", clock)  # bypasses the API, as an old release's text would
    login(client, store, role=Role.ADMIN, username="quantri")
    answer = client.get("/api/v1/notify/contacts")
    assert answer.status_code == 422 and answer.json()["errors"][0]["location"] == "oncall.0"
    page = client.get("/settings/notify")
    assert page.status_code == 200 and 'id="notify-contacts"' not in page.text and "fax:1" in page.text
