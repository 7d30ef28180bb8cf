"""The matcher's shortcuts answer exactly what the general path would."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from detections.compiler import regex_atoms
from detections.engine import DetectionEngine
from detections.index import FEW_LITERALS, SCAN_MEMO_CHARS, FieldScan, RegexScan, ScanMemo
from detections.loader import RuleFile, load_file
from detections.matchers import (
    And,
    Cidr,
    Compare,
    CompareOp,
    EventView,
    Not,
    NumEq,
    Or,
    Regex,
    Selection,
    StrAny,
    ip_address_of,
    number_of,
    re2_compile,
    re2_set,
    re2_tester,
    scalars_of,
)
from tests.detections.conftest import EngineFactory, proc_rule

LINES = st.text(alphabet=st.sampled_from(["a", "é", " ", "\n", "\r", "\t", "\u4e00"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.sampled_from([".{3}", ".{5,}", ".{2,8}", ".{0}", ".{0,}", ".{12}"]),
    values=st.lists(LINES, max_size=3),
)
def test_long_line_regexes_agree_with_re2(pattern: str, values: list[str]) -> None:
    node = Regex(field="f", pattern=pattern)
    view = EventView({"f": values[0] if len(values) == 1 else values})
    expected = any(re2_compile(pattern).search(v) is not None for v in view.raw_strings("f"))
    assert node.match(view) is expected


def test_long_line_shortcut_applies_to_the_corpus_shapes_only() -> None:
    assert Regex(field="f", pattern=".{1000,}")._min_line == 1000
    assert Regex(field="f", pattern=".{150}")._min_line == 150
    assert Regex(field="f", pattern="a.{150}")._min_line == -1
    assert Regex(field="f", pattern=".{1,9}\\.exe")._min_line == -1
    long_line = Regex(field="f", pattern=".{1000,}")
    assert long_line.match(EventView({"f": "x" * 1000}))
    assert not long_line.match(EventView({"f": ("x" * 999 + "\n") * 3}))
    assert not long_line.match(EventView({}))


SECURITY_RULE = """\
title: branches on event ids
id: 00000000-0000-4000-8000-0000000000aa
status: test
level: high
logsource:
    product: windows
    service: security
detection:
    selection1:
        EventID: 4738
    filter_empty:
        AllowedToDelegateTo: ['', '-']
    selection_5136:
        EventID: 5136
        AttributeLDAPDisplayName: 'servicePrincipalName'
    condition: (selection1 and not filter_empty) or selection_5136
"""


def security(code: str, **data: str) -> dict[str, Any]:
    flat: dict[str, Any] = {"winlog.channel": "Security", "event.code": code}
    return flat | {f"winlog.event_data.{k}": v for k, v in data.items()}


def test_or_of_event_id_branches_is_dispatched_on_both_ids(make_engine: EngineFactory) -> None:
    engine = make_engine(SECURITY_RULE, SECURITY_RULE.replace("EventID: 5136\n", "").replace("aa\n", "ab\n"))
    assert not engine.quarantined
    branches, unbounded = (
        load_file(RuleFile(Path(f"r{i}.yml"), "t", "k", text.encode())).rules[0].compiled.dispatch
        for i, text in enumerate((SECURITY_RULE, SECURITY_RULE.replace("EventID: 5136\n", "")))
    )
    assert branches["event.code"] == frozenset({"4738", "5136"})
    assert "event.code" not in unbounded  # one branch names no event id: no constraint on it
    fired = {
        name: [m.rule.id[-2:] for m in engine.match(event)]
        for name, event in {
            "4738": security("4738", AllowedToDelegateTo="cifs/dc01"),
            "4738 filtered": security("4738", AllowedToDelegateTo="-"),
            "5136": security("5136", AttributeLDAPDisplayName="servicePrincipalName"),
            "5136 other attribute": security("5136", AttributeLDAPDisplayName="member"),
            "4624": security("4624", AttributeLDAPDisplayName="servicePrincipalName"),
        }.items()
    }
    assert fired == {
        "4738": ["aa", "ab"],
        "4738 filtered": [],
        "5136": ["aa", "ab"],
        "5136 other attribute": [],
        "4624": ["ab"],
    }


TEXTS = st.text(alphabet=st.sampled_from(["a", "b", "A", "é", "\u4e00", "\n", "`", "-", "0"]), max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.sampled_from(
        ["a", "^a", "a$", "(?i)é+", "b.a", r"\w+`(?:\w+|-|.)`[\w+|\s]", "(a|b)(c)?", "", "^$", "[^a]"]
    ),
    text=TEXTS,
)
def test_re2_yes_no_tester_agrees_with_search_and_fullmatch(pattern: str, text: str) -> None:
    """`re2_tester` (RE2's set API) answers as the wrapper's search and fullmatch, on any text."""
    regex = re2_compile(pattern)
    assert bool(re2_tester(pattern).Match(text.encode())) is (regex.search(text) is not None)
    assert bool(re2_tester(pattern, whole=True).Match(text.encode())) is (regex.fullmatch(text) is not None)


def test_re2_tester_refuses_what_re2_refuses() -> None:
    with pytest.raises(re2.error):
        re2_tester("(?<=a)b")


#: Letters whose lower case is or holds an ASCII letter (U+0130, the Kelvin sign), Latin-1 letters
#: that lower-case to Latin-1 (Sysmon's `Microsoft®`), CJK, and the literals' own letters.
SCAN_TEXT = st.text(
    alphabet=st.sampled_from(
        ["a", "A", "k", "K", "i", "I", "\u0130", "\u212a", "\u0307", "®", "É", "é", "\u4e00", " "]
    ),
    max_size=30,
)
SCAN_WORDS = st.lists(
    st.text(alphabet=st.sampled_from(["a", "k", "i", "\u0307", "é", " "]), min_size=1, max_size=3),
    min_size=1,
    max_size=FEW_LITERALS + 3,
    unique=True,
)


@settings(max_examples=500, deadline=None)
@given(words=SCAN_WORDS, values=st.lists(SCAN_TEXT, min_size=1, max_size=4))
def test_field_scan_finds_the_literals_of_the_lower_cased_value(words: list[str], values: list[str]) -> None:
    """A field scan (with `in` for a few literals, an automaton for more; Latin-1 values lowered as
    bytes when every literal is ASCII) answers the rules of exactly the literals that occur in
    `value.lower()`, and the same again from its memo."""
    scan = FieldScan("f", {word: (n, 100 + n) for n, word in enumerate(words)})
    for value in [*values, *values]:
        expected = sorted(
            {rule for n, word in enumerate(words) if word in value.lower() for rule in (n, 100 + n)}
        )
        assert list(scan.scan(value)) == expected


def test_scan_memo_stays_within_its_character_budget() -> None:
    """The prefilter's memo keeps the values it answered for alive, so it is bounded in characters:
    past the budget it starts over, and a value longer than the whole budget is never kept."""
    memo = ScanMemo()
    budget = SCAN_MEMO_CHARS
    memo.add("a" * (budget - 10), (1,))
    memo.add("b" * 10, (2,))
    assert memo.chars == budget and set(memo.answers.values()) == {(1,), (2,)}
    memo.add("c", (4,))  # one character over: forget everything, keep the newcomer
    assert memo.answers == {"c": (4,)} and memo.chars == 1
    memo.add("d" * (budget + 1), (8,))
    assert memo.answers == {} and memo.chars == 0


def _needle_engine(make_engine: EngineFactory) -> DetectionEngine:
    """Six process-creation rules, rule n looking for `needle<n>` in the command line."""
    rules = [
        proc_rule(
            f"selection:\n    CommandLine|contains: 'needle{n}'\ncondition: selection",
            rule_id=f"00000000-0000-4000-8000-{n:012d}",
        )
        for n in range(6)
    ]
    return make_engine(*rules)


def test_prefilter_answers_are_the_same_from_the_memo(make_engine: EngineFactory) -> None:
    """A value seen before takes its literal mask from the memo: the same rules fire, twice over."""
    engine = _needle_engine(make_engine)
    event = {
        "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
        "event.code": "1",
        "winlog.event_data.CommandLine": "cmd /c NEEDLE3 and needle5",
    }
    first = sorted(m.rule.id for m in engine.match(dict(event)))
    again = sorted(m.rule.id for m in engine.match(dict(event)))
    assert first == again == ["00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000005"]


def test_prefilter_remembers_the_elements_of_an_array_value(make_engine: EngineFactory) -> None:
    """An ECS array's elements are answered from the memo as single values are (every Sysmon
    process event says `event.category: ["process"]`): scanned once, and the same rules fire."""
    engine = _needle_engine(make_engine)
    event = {
        "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
        "event.code": "1",
        "winlog.event_data.CommandLine": ["cmd /c NEEDLE3", "needle5 too", "nothing"],
    }
    first = sorted(m.rule.id for m in engine.match(dict(event)))
    again = sorted(m.rule.id for m in engine.match(dict(event)))
    assert first == again == ["00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000005"]
    memos = [
        scan.memo.answers
        for table in engine._index._signatures.values()
        for bucket in table.values()
        for scan in bucket.scans
    ]
    assert any(memo.get("cmd /c NEEDLE3") and "nothing" in memo for memo in memos)


REGEXES = ["a", "^a", "a$", "(?i)é+", "b.a", r"\w+`(?:\w+|-|.)`[\w+|\s]", "(a|b)(c)?", "^$", "[^a]", r"\d{2}"]


@settings(max_examples=300, deadline=None)
@given(patterns=st.lists(st.sampled_from(REGEXES), min_size=1, max_size=6, unique=True), text=TEXTS)
def test_re2_set_answers_each_regex_as_its_own_tester(patterns: list[str], text: str) -> None:
    """One RE2 set of several regexes lists exactly the ones their own testers find in the text."""
    found = re2_set(patterns).Match(text.encode())
    assert sorted(found) == [n for n, p in enumerate(patterns) if re2_tester(p).Match(text.encode())]


def test_re2_set_refuses_what_re2_refuses() -> None:
    with pytest.raises(re2.error):
        re2_set(["a", "(?<=a)b"])


def test_regex_atoms_are_the_regexes_a_match_needs() -> None:
    """The regexes one of which must match for the node to match; None when a branch needs none
    (a string, a long-line pattern answered without RE2)."""
    one, two, other = Regex("f", "x\\d"), Regex("f", "y+z"), Regex("g", "q.q")
    literal = StrAny("f", cased=False, contains=("abc",))
    assert regex_atoms(Selection("s", Or((one, two)))) == frozenset({("f", "x\\d"), ("f", "y+z")})
    assert regex_atoms(And((Selection("s", Or((one, two))), other))) == frozenset({("g", "q.q")})
    with_filter = And((Selection("s", one), Not(Selection("filter", other))))
    assert regex_atoms(with_filter) == frozenset({("f", "x\\d")})
    assert regex_atoms(Or((one, literal))) is None
    assert regex_atoms(Not(one)) is None
    assert regex_atoms(Regex("f", ".{1000,}")) is None


def test_regex_scan_answers_the_rules_of_the_regexes_found() -> None:
    scan = RegexScan("f", {"a+b": (1, 4), "c\\d": (2,), "^z": (4, 7)})
    assert scan.scan("xxaab c1") == (1, 2, 4)
    assert scan.scan("zc") == (4, 7)
    assert scan.scan("nothing") == ()
    assert scan.scan("xxaab c1") == (1, 2, 4)  # from the memo
    assert scan.scan("\ud800 lone surrogate") == (1, 2, 4, 7)  # not for RE2: every rule decides


REGEX_RULES = [
    "selection:\n    CommandLine|re: '\\s[a-f0-9]{8}\\s'\ncondition: selection",
    "selection:\n    CommandLine|re:\n        - 'x\\dy'\n        - 'q\\d\\dq'\ncondition: selection",
    "selection:\n    CommandLine|re: '^\\d+$'\nfilter:\n    Image|endswith: '\\a.exe'\n"
    "condition: selection and not filter",
    "selection:\n    CommandLine|re: '(?i)^CMD'\n    ParentImage|re: 'p\\.exe$'\ncondition: selection",
    "selection:\n    CommandLine|contains: 'needle'\ncondition: selection",
]

COMMAND_LINES = st.text(
    alphabet=st.sampled_from([*"xyq12 abcmdCMD", "\ud800"]),
    max_size=14,
)


@settings(max_examples=200, deadline=None)
@given(
    command_line=COMMAND_LINES,
    image=st.sampled_from(["c:\\a.exe", "c:\\b.exe"]),
    parent=st.sampled_from(["c:\\p.exe", "c:\\q.exe"]),
)
def test_regex_prefilter_never_changes_what_fires(
    regex_engine: DetectionEngine, command_line: str, image: str, parent: str
) -> None:
    """The regex-only rules, filtered by their bucket's RE2 set, fire exactly when the full
    evaluation of every rule (`explain`, no prefilter) says they match."""
    event = {
        "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
        "event.code": "1",
        "winlog.event_data.CommandLine": command_line,
        "winlog.event_data.Image": image,
        "winlog.event_data.ParentImage": parent,
    }
    fired = sorted(m.rule.id for m in regex_engine.match(dict(event)))
    expected = sorted(r.rule.id for r in regex_engine.explain(dict(event)).matched)
    assert fired == expected


@pytest.fixture(scope="module")
def regex_engine(tmp_path_factory: pytest.TempPathFactory) -> DetectionEngine:
    folder = tmp_path_factory.mktemp("regex-rules")
    for n, detection in enumerate(REGEX_RULES):
        text = proc_rule(detection, rule_id=f"00000000-0000-4000-8000-{n:012d}")
        (folder / f"rule{n}.yml").write_text(text, encoding="utf-8")
    return DetectionEngine.from_folders([folder])


def test_regex_only_rules_are_evaluated_only_when_their_regex_is_found(regex_engine: DetectionEngine) -> None:
    """Rules without a literal but with necessary regexes are not evaluated on an event where RE2
    finds none of them (one set call per value instead of one call per regex and rule)."""
    base = {
        "winlog.channel": "Microsoft-Windows-Sysmon/Operational",
        "event.code": "1",
        "winlog.event_data.Image": "c:\\b.exe",
        "winlog.event_data.ParentImage": "c:\\q.exe",
    }
    before = {s.rule_id: s.evaluations for s in regex_engine.stats()}
    assert regex_engine.match(base | {"winlog.event_data.CommandLine": "nothing to see"}) == []
    fired = regex_engine.match(base | {"winlog.event_data.CommandLine": "run q12q now"})
    after = {s.rule_id: s.evaluations for s in regex_engine.stats()}
    evaluated = sorted(rule_id[-1] for rule_id in after if after[rule_id] != before.get(rule_id, 0))
    assert [m.rule.id[-1] for m in fired] == ["1"]
    assert evaluated == ["1"]


def _in_network(cidr: str, texts: tuple[str, ...]) -> bool:
    """What a `Cidr` node answers, by `ipaddress` itself: some string names an address
    (`ip_address_of`) that the network holds."""
    network = ipaddress.ip_network(cidr, strict=False)
    addresses = [ip_address_of(text) for text in texts]
    return any(a is not None and a.version == network.version and a in network for a in addresses)


ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]%eth0"),
    st.sampled_from(["", "-", "10.0.0", "fe80::1%12", "999.1.1.1", "1" * 70]),
)
NETWORKS = st.sampled_from(
    [
        *("10.0.0.0/8", "172.16.0.0/12", "0.0.0.0/32", "255.255.255.255/32", "0.0.0.0/0", "10.1.2.3/8"),
        *("::1/128", "fe80::/10", "fc00::/7", "::/0", "::ffff:0:0/96", "2001:db8::/32"),
    ]
)


@settings(max_examples=500, deadline=None)
@given(cidr=NETWORKS, values=st.lists(ADDRESSES, max_size=3))
def test_cidr_on_the_views_parsed_addresses_answers_as_ipaddress(cidr: str, values: list[str]) -> None:
    """A `Cidr` node reads the addresses its event view parsed once, as integers: the same answer
    as `ipaddress`'s `address in network` on each string, for any network and any text."""
    view = EventView({"f": values[0] if len(values) == 1 else values})
    assert Cidr(field="f", cidr=cidr).match(view) is _in_network(cidr, view.raw_strings("f"))
    assert Cidr(field="f", cidr=cidr).match(view) is _in_network(cidr, view.raw_strings("f"))  # memo


@settings(max_examples=300, deadline=None)
@given(
    number=st.sampled_from([0, 3, 443, -1, 2.5, 10**20]),
    value=st.one_of(
        st.sampled_from(["443", " 3 ", "0x1bb", "2.5", "nan", "inf", "", "x", "1e400", True, None]),
        st.integers(-5, 500),
        st.floats(allow_nan=True),
        st.lists(st.sampled_from(["443", 3, "abc", 2.5]), max_size=3),
    ),
)
def test_numeric_nodes_on_the_views_numbers_answer_as_number_of(number: float, value: Any) -> None:
    """`NumEq` and `Compare` read the numbers the view reads once per field: the same answers as
    `number_of` on each scalar of the value."""
    view = EventView({"f": value})
    numbers = [n for n in (number_of(v) for v in scalars_of(value)) if n is not None]
    assert NumEq(field="f", number=number).match(view) is any(n == number for n in numbers)
    assert Compare(field="f", op=CompareOp.LT, number=number).match(view) is any(n < number for n in numbers)
    assert Compare(field="f", op=CompareOp.GTE, number=number).match(view) is any(
        n >= number for n in numbers
    )
    assert Compare(field="f", op=CompareOp.NEQ, number=number).match(view) is any(
        n != number for n in numbers
    )
