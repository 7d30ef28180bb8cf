"""The stage's decisions without any server: routing, flood control, quiet hours, escalation, links."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from notify.ack import AckLinkInvalid, sign_ack, verify_ack
from notify.escalation import Escalator
from notify.flood import Decision, DigestReason, FloodControl
from notify.rules import RoutingRule, RoutingRules
from notify.text import Guidance
from soc_core.alert import Severity
from soc_core.errors import ConfigError
from soc_core.notify import Recipient
from tests.notify.conftest import MORNING, make_alert, registry

ONCALL = [Recipient("telegram", "-100999")]
UNIT = registry().units[0]


def test_default_rules_send_high_to_oncall_and_the_units_contact_not_low() -> None:
    rules = RoutingRules()
    high, _ = rules.route(make_alert(severity=Severity.HIGH), MORNING, ONCALL, UNIT)
    assert high == sorted(
        [ONCALL[0], Recipient("email", "an.tv@sotttt.gov.vn"), Recipient("telegram", "100200300")]
    )
    low, names = rules.route(make_alert(severity=Severity.MEDIUM), MORNING, ONCALL, UNIT)
    assert low == [] and names == []


def test_rules_select_by_rule_checklist_unit_system_and_age() -> None:
    rules = RoutingRules(
        rules=[
            RoutingRule(name="usb", checklist=["vn-10"], to=["email:usb@soc.vn"]),
            RoutingRule(
                name="portal", systems=["portal"], rule_ids=["web-admin-brute"], to=["email:web@soc.vn"]
            ),
            RoutingRule(name="xa", units=["ubnd-xa"], max_age_s=600, to=["email:xa@soc.vn"]),
        ]
    )
    usb, names = rules.route(make_alert(severity=Severity.LOW, checklist=["VN-10"]), MORNING, [], None)
    assert usb == [Recipient("email", "usb@soc.vn")] and names == ["usb"]
    assert rules.route(make_alert(rule="web-admin-brute"), MORNING, [], None)[0] == [
        Recipient("email", "web@soc.vn")
    ]
    assert rules.route(make_alert(rule="other"), MORNING, [], None)[0] == []
    fresh = make_alert(unit="ubnd-xa", at=MORNING - timedelta(minutes=5))
    stale = make_alert(unit="ubnd-xa", at=MORNING - timedelta(minutes=15))
    assert rules.route(fresh, MORNING, [], None)[0] == [Recipient("email", "xa@soc.vn")]
    assert rules.route(stale, MORNING, [], None)[0] == []


def test_evidence_alerts_page_nobody_by_default() -> None:
    alert = make_alert(severity=Severity.CRITICAL)
    alert = alert.model_copy(update={"soc": alert.soc.model_copy(update={"evidence": {"visit_id": "v1"}})})
    assert RoutingRules().route(alert, MORNING, ONCALL, UNIT)[0] == []


def test_rules_file_is_read_and_a_bad_one_refused(tmp_path: Path) -> None:
    good = tmp_path / "rules.yaml"
    good.write_text(
        "rules:\n  - name: all-critical\n    severities: [critical]\n    to: ['webhook:https://h.vn/x']\n"
    )
    rules = RoutingRules.load(good)
    assert rules.rules[0].name == "all-critical"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    to: ['fax:123']\n")
    with pytest.raises(ConfigError, match="unknown channel"):
        RoutingRules.load(bad)


def flood(**kw: object) -> FloodControl:
    args: dict = dict(
        threshold=3,
        window_s=600,
        quiet_start_hour=22,
        quiet_end_hour=7,
        quiet_max=Severity.LOW,
        max_tracked=1000,
    )
    args.update(kw)
    return FloodControl(**args)


def test_one_message_per_alert_group_per_recipient() -> None:
    f = flood()
    r1, r2 = Recipient("email", "a@x.vn"), Recipient("email", "b@x.vn")
    first = make_alert(1)
    sibling = make_alert(1, rule="another-rule-same-event")  # same evidence: same group
    assert first.group == sibling.group
    assert f.admit(first, r1, MORNING) is Decision.SEND
    assert f.admit(sibling, r1, MORNING) is Decision.DUPLICATE
    assert f.admit(sibling, r2, MORNING) is Decision.SEND


def test_more_than_n_in_m_minutes_becomes_one_digest() -> None:
    f = flood(threshold=3, window_s=600)
    r = Recipient("telegram", "1")
    now = MORNING
    decisions = [f.admit(make_alert(n, at=now), r, now + timedelta(seconds=n)) for n in range(10)]
    assert decisions[:3] == [Decision.SEND] * 3 and set(decisions[3:]) == {Decision.HELD}
    assert f.due(now + timedelta(seconds=300)) == []
    [digest] = f.due(now + timedelta(seconds=3 + 600))
    assert digest.reason is DigestReason.FLOOD and digest.total == 7 and len(digest.alerts) == 7
    assert f.due(now + timedelta(hours=1)) == []
    assert f.admit(make_alert(99), r, now + timedelta(hours=1)) is Decision.SEND


def test_quiet_hours_hold_low_alerts_until_morning_but_not_high_ones() -> None:
    f = flood()
    r = Recipient("email", "a@x.vn")
    night = MORNING.replace(hour=16)  # 23:00 in Vietnam
    assert f.quiet(night) and not f.quiet(MORNING)
    assert f.admit(make_alert(1, severity=Severity.LOW), r, night) is Decision.HELD
    assert f.admit(make_alert(2, severity=Severity.HIGH), r, night) is Decision.SEND
    assert f.due(night + timedelta(hours=2)) == []
    [digest] = f.due(night + timedelta(hours=9))  # 08:00
    assert digest.reason is DigestReason.QUIET and digest.total == 1


def test_escalation_after_the_sla_along_the_chain_until_acknowledged() -> None:
    acked: set[str] = set()
    chain = [Recipient("telegram", "lead"), Recipient("email", "director@soc.vn")]
    esc = Escalator({"critical": 900, "high": 3600}, chain, lambda a: a in acked, 1000)
    crit, high, med = (
        make_alert(1, severity=Severity.CRITICAL),
        make_alert(2),
        make_alert(3, severity=Severity.MEDIUM),
    )
    for a in (crit, high, med):
        esc.watch(a)
    assert esc.watching == 2
    assert esc.due(MORNING + timedelta(minutes=14)) == []
    [first] = esc.due(MORNING + timedelta(minutes=15))
    assert (first.alert.id, first.recipient, first.step) == (crit.id, chain[0], 1)
    [second] = esc.due(MORNING + timedelta(minutes=30))
    assert (second.recipient, second.step) == (chain[1], 2)
    acked.add(high.id)
    assert esc.due(MORNING + timedelta(hours=2)) == []  # the chain of crit ended; high was acknowledged
    assert esc.watching == 0


def test_ack_links_are_signed_and_expire() -> None:
    expires = MORNING + timedelta(hours=72)
    token = sign_ack("s3cret", "alert-1", "email:an@x.vn", expires)
    claim = verify_ack("s3cret", token, MORNING)
    assert (claim.alert_id, claim.recipient, claim.expires) == ("alert-1", "email:an@x.vn", expires)
    with pytest.raises(AckLinkInvalid, match="signature"):
        verify_ack("other-secret", token, MORNING)
    _, mac = token.split(".")
    forged = sign_ack("x", "alert-2", "email:an@x.vn", expires).split(".")[0] + "." + mac
    with pytest.raises(AckLinkInvalid, match="signature"):
        verify_ack("s3cret", forged, MORNING)
    with pytest.raises(AckLinkInvalid, match="expired"):
        verify_ack("s3cret", token, expires)
    with pytest.raises(AckLinkInvalid, match="malformed"):
        verify_ack("s3cret", "not-a-token", MORNING)


def test_guidance_prefers_checklist_then_family_then_default() -> None:
    g = Guidance.load()
    assert "tường lửa" in g.for_alert(make_alert(checklist=["VN-02"]))[0].why.lower()
    from soc_core.alert import Threat

    cred = make_alert(threat=[Threat(tactic={"id": "TA0006", "name": "Credential Access"})])
    assert g.for_alert(cred) == [g.families["TA0006"]]
    assert g.for_alert(make_alert()) == [g.default]


def test_every_attack_tactic_has_guidance_in_vietnamese() -> None:
    """A unit told of any tactic in the maintained ATT&CK data reads what to do for that tactic,
    not only the general advice (issue 16: guidance per common rule family)."""
    from detections.attack import packaged

    families = Guidance.load().families
    tactics = {tactic_id for tactic_id, _name in packaged().tactics.values()}
    assert tactics - set(families) == set()
    for tactic_id in tactics:
        assert families[tactic_id].why and len(families[tactic_id].do) >= 2, tactic_id


def test_resumed_clocks_continue_where_the_alerts_age_says() -> None:
    chain = [Recipient("email", "a@x.vn"), Recipient("email", "b@x.vn"), Recipient("email", "c@x.vn")]
    esc = Escalator({"high": 3600}, chain, lambda a: False, 1000)
    assert esc.horizon == timedelta(hours=3)
    now = MORNING + timedelta(minutes=150)  # two SLAs passed: the second step is due (again)
    esc.watch(make_alert(1), resumed_at=now)
    esc.watch(make_alert(2, at=MORNING - timedelta(hours=2)), resumed_at=now)  # its chain ended
    [due] = esc.due(now)
    assert (due.recipient, due.step) == (chain[1], 2)
    [last] = esc.due(now + timedelta(minutes=30))
    assert last.step == 3


def test_a_store_that_cannot_answer_loses_no_escalation() -> None:
    from soc_core.errors import StoreError

    down = True
    second = make_alert(2).id

    def acknowledged(alert_id: str) -> bool:
        if down and alert_id == second:  # the store fails after answering for the first alert
            raise StoreError("store unavailable")
        return False

    esc = Escalator({"high": 3600}, [Recipient("email", "a@x.vn")], acknowledged, 1000)
    esc.watch(make_alert(1))
    esc.watch(make_alert(2))
    with pytest.raises(StoreError):
        esc.due(MORNING + timedelta(hours=1))
    down = False
    assert len(esc.due(MORNING + timedelta(hours=1))) == 2  # retried: both still due
