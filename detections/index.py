"""Dispatch index and literal prefilter: decide, per event, the few rules worth evaluating.

Two stages, both built from facts the compiler extracted (`CompiledRule.dispatch`/`.literals`):

1. Dispatch. Rules are filed under the values of their required routing fields (for Windows:
   channel x event id). An event is looked up under each *signature* (tuple of routing fields) that
   some rule uses, so a Sysmon event id 1 meets the ~1,400 process-creation rules and nothing else.
   A rule with several variants (`CompiledRule.routes()`: Sysmon 1 and Security 4688) is filed
   under each variant's keys, with that variant's literals.
2. Prefilter. Inside a bucket, one scan per field holds the rules' necessary literals, each
   mapped to the rules that need it (an Aho-Corasick automaton, or `in` for a few literals).
   Scanning the event's (lower-cased) values joins the rules of the literals found; only those
   rules, plus the few that have no usable literal ("unfiltered"), are evaluated. A missed
   literal proves the rule cannot match, so the prefilter never changes results, only cost.
   Rules without a literal whose conditions need one of a few regexes (`compiler.regex_atoms`)
   are filtered the same way, by one RE2 set per field holding those regexes: one call per
   value instead of one per regex and rule (each call into RE2 costs a few thousand instructions
   of binding before any matching).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ahocorasick

from detections.compiler import CompiledRule, regex_atoms
from detections.matchers import EventView, Node, dispatch_keys, re2_set

#: Buckets of at most this many rules skip the prefilter. (A module constant: mypyc would take a
#: class variable for a dataclass field.)
SMALL = 3

#: Characters of field values whose prefilter answer a bucket remembers per field (then forgets
#: them all at once). Events repeat their values (an image path, a parent command line, a service
#: name): on the EVTX-ATTACK-SAMPLES corpus three scans in four are of a value the automaton has
#: seen before. Bounded in characters, not entries, since the memo keeps the values alive: at most
#: this many per field scan (the whole SigmaHQ corpus builds about 470 of them).
SCAN_MEMO_CHARS = 1 << 17

#: A field with at most this many literals in a bucket is searched with `in`, one literal at a
#: time, not with an automaton: CPython's substring search skips through a long value (a whole
#: EVTX record in `event.original`, scanned for one literal on every Sysmon process event) several
#: characters per step, where pyahocorasick steps through every character at about fifty
#: instructions each.
FEW_LITERALS = 4

#: No rules: what a scan finds in most values.
NOTHING: tuple[int, ...] = ()


class ScanMemo:
    """One field scan's answers for the values it has scanned: value -> the rules whose literal
    occurs in it (ascending rule indices)."""

    __slots__ = ("answers", "chars")

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, ...]] = {}
        self.chars = 0

    def add(self, value: str, rules: tuple[int, ...]) -> None:
        if self.chars + len(value) > SCAN_MEMO_CHARS:
            self.answers.clear()
            self.chars = 0
            if len(value) > SCAN_MEMO_CHARS:
                return
        self.answers[value] = rules
        self.chars += len(value)


class FieldScan:
    """The prefilter of one field in one bucket: its literals (lower-cased), each with the rules
    (ascending indices) that need it, searched with an automaton or, when few, with `in`."""

    __slots__ = ("ascii", "automaton", "memo", "name", "words")

    def __init__(self, name: str, words: dict[str, tuple[int, ...]]) -> None:
        self.name = name
        self.words: list[tuple[str, tuple[int, ...]]] = list(words.items())
        #: Every literal is ASCII: a value's ASCII letters are all its lower-casing can change
        #: for them (see `_fold`).
        self.ascii = all(word.isascii() for word in words)
        self.automaton: Any = None
        if len(words) > FEW_LITERALS:
            self.automaton = ahocorasick.Automaton()
            for word, rules in self.words:
                self.automaton.add_word(word, rules)
            self.automaton.make_automaton()
        self.memo = ScanMemo()

    def scan(self, value: str) -> tuple[int, ...]:
        """The rules whose literal occurs in `value` (lower-cased), remembered in the memo: the
        elements of an array repeat as single values do (every Sysmon process event says
        `["process"]`)."""
        known = self.memo.answers.get(value)
        if known is None:
            known = self.search(_fold(value) if self.ascii else value.lower())
            self.memo.add(value, known)
        return known

    def search(self, text: str) -> tuple[int, ...]:
        """The rules whose literal occurs in `text` (already lower-cased)."""
        first = NOTHING
        more: set[int] | None = None
        automaton = self.automaton
        if automaton is None:
            for word, rules in self.words:
                if word in text:
                    if not first:
                        first = rules
                    else:
                        if more is None:
                            more = set(first)
                        more.update(rules)
        else:
            for _end, rules in automaton.iter(text):
                if not first:
                    first = rules
                elif rules is not first:
                    if more is None:
                        more = set(first)
                    more.update(rules)
        return first if more is None else tuple(sorted(more))


class RegexScan:
    """The regex prefilter of one field in one bucket: the necessary regexes of the bucket's rules
    that have no literal, in one RE2 set asked once per value (and remembered, as `FieldScan`
    does), each regex with the rules (ascending indices) that need it."""

    __slots__ = ("everything", "memo", "name", "rules", "tester")

    def __init__(self, name: str, patterns: dict[str, tuple[int, ...]]) -> None:
        self.name = name
        items = list(patterns.items())
        self.tester: Any = re2_set([pattern for pattern, _ in items])
        self.rules: list[tuple[int, ...]] = [rules for _, rules in items]
        self.everything: tuple[int, ...] = tuple(sorted({rule for _, rules in items for rule in rules}))
        self.memo = ScanMemo()

    def scan(self, value: str) -> tuple[int, ...]:
        """The rules one of whose regexes RE2 finds in `value` (as the rules' `Regex` nodes ask)."""
        known = self.memo.answers.get(value)
        if known is None:
            known = self.search(value)
            self.memo.add(value, known)
        return known

    def search(self, value: str) -> tuple[int, ...]:
        try:
            text = value.encode()
        except UnicodeEncodeError:  # a lone surrogate: each rule meets it (and fails) on its own
            return self.everything
        found: list[int] = self.tester.Match(text)
        if not found:
            return NOTHING
        if len(found) == 1:
            return self.rules[found[0]]
        more: set[int] = set()
        for n in found:
            more.update(self.rules[n])
        return tuple(sorted(more))


def _fold(value: str) -> str:
    """`value.lower()` as far as ASCII literals can tell: the same ASCII characters at the same
    places. A value of Latin-1 characters (a Sysmon record says `Microsoft®`) is lowered as
    bytes, ASCII letters only: no Latin-1 character lower-cases to or from ASCII, and
    `str.lower` on a non-ASCII value costs several times as much. Other values (where U+0130
    or the Kelvin sign lower-case to ASCII letters) are lowered in full."""
    if not value.isascii():
        try:
            return value.encode("latin-1").lower().decode("latin-1")
        except UnicodeEncodeError:
            pass
    return value.lower()


@dataclass(slots=True)
class Bucket:
    """The rules filed under one dispatch key, with their per-field literal scans."""

    rules: list[int] = field(default_factory=list)
    literals: list[frozenset[tuple[str, str]] | None] = field(default_factory=list)
    scans: list[FieldScan] = field(default_factory=list)
    regex_scans: list[RegexScan] = field(default_factory=list)
    unfiltered: list[int] = field(default_factory=list)
    small: bool = False

    def add(self, index: int, literals: frozenset[tuple[str, str]] | None) -> None:
        """File a rule (variant) here; a rule filed twice is kept once, its literals joined."""
        if self.rules and self.rules[-1] == index:
            known = self.literals[-1]
            self.literals[-1] = None if known is None or literals is None else known | literals
            return
        self.rules.append(index)
        self.literals.append(literals)

    def build(self, regexes: dict[int, frozenset[tuple[str, str]]]) -> None:
        """`regexes`: the necessary regexes of the rules that have them (`compiler.regex_atoms`),
        used for those filed here without a literal."""
        # The rules come in ascending order, each once (`add`): so do the lists of each literal.
        words: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        patterns: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self.small = len(self.rules) <= SMALL
        self.unfiltered = []
        for index, literals in zip(self.rules, self.literals, strict=True):
            if literals is None:
                atoms = regexes.get(index)
                if atoms is None:
                    self.unfiltered.append(index)
                    continue
                for name, pattern in atoms:
                    patterns[name][pattern].append(index)
                continue
            for name, literal in literals:
                words[name][literal].append(index)
        self.scans = [
            FieldScan(name, {word: tuple(rules) for word, rules in words[name].items()})
            for name in sorted(words)
        ]
        self.regex_scans = [
            RegexScan(name, {pattern: tuple(rules) for pattern, rules in sorted(patterns[name].items())})
            for name in sorted(patterns)
        ]

    def candidates(self, view: EventView) -> list[int]:
        """Indices of the rules whose literal occurred, or that have none (ascending; callers
        must not change the list)."""
        if self.small:
            return self.rules  # a few rules cost less to evaluate than to prefilter
        found: list[int] | None = None
        flat = view.flat
        for scan in self.scans:
            value = flat.get(scan.name)
            if value is None:
                continue
            if type(value) is str:  # the common case: this runs for every field of every event
                hits = scan.scan(value)
                if hits:
                    found = _join(found, hits)
                continue
            if type(value) is list and _all_strings(value):  # an ECS array (`event.category`)
                for item in value:
                    found = _join(found, scan.scan(item))
                continue
            for text in view.low_strings(scan.name):
                found = _join(found, scan.search(text))
        for regex_scan in self.regex_scans:
            for text in view.raw_strings(regex_scan.name):
                found = _join(found, regex_scan.scan(text))
        if found is None:
            return self.unfiltered
        found.extend(self.unfiltered)
        return sorted(set(found))

    def all_rules(self) -> Iterable[int]:
        return iter(self.rules)


def _join(found: list[int] | None, hits: tuple[int, ...]) -> list[int] | None:
    """`found` with `hits` added (a new list the first time: `hits` belongs to a memo)."""
    if not hits:
        return found
    if found is None:
        return list(hits)
    found.extend(hits)
    return found


def _all_strings(items: list[Any]) -> bool:
    for item in items:  # noqa: SIM110  (a loop compiles to C; all() over a generator does not)
        if type(item) is not str:
            return False
    return True


#: Routing-value tuples whose buckets are remembered (then forgotten all at once): far more than
#: the distinct channel / event id / process name combinations of a province's events.
MEMO_ENTRIES = 10_000


class RuleIndex:
    """Dispatch buckets for a rule set; rebuilt whenever the set changes (cheap: well under 1 s)."""

    def __init__(self, compiled: Sequence[CompiledRule], routed: Sequence[bool]) -> None:
        self._signatures: dict[tuple[str, ...], dict[tuple[str, ...], Bucket]] = {}
        self._always = Bucket()
        regexes: dict[int, frozenset[tuple[str, str]]] = {}
        for index, (rule, is_routed) in enumerate(zip(compiled, routed, strict=True)):
            if not is_routed:
                continue
            routes = rule.routes()
            if any(route.literals is None for route in routes):
                atoms = regex_atoms(rule.condition)
                if atoms is not None:
                    regexes[index] = atoms
            for route in routes:
                if not route.dispatch:
                    self._always.add(index, route.literals)
                    continue
                signature = tuple(route.dispatch)
                table = self._signatures.setdefault(signature, {})
                for key in itertools.product(*(sorted(route.dispatch[f]) for f in signature)):
                    table.setdefault(key, Bucket()).add(index, route.literals)
        for table in self._signatures.values():
            for bucket in table.values():
                bucket.build(regexes)
        self._always.build(regexes)
        self.bucket_count = sum(len(t) for t in self._signatures.values()) + 1
        self._fields = tuple(sorted({name for signature in self._signatures for name in signature}))
        self._memo: dict[tuple[Any, ...], list[Bucket]] = {}

    def read_fields(self) -> set[str]:
        """The flat fields the index reads: the dispatch fields and every prefilter scan's."""
        names = set(self._fields)
        buckets = [self._always, *(b for table in self._signatures.values() for b in table.values())]
        for bucket in buckets:
            names.update([scan.name for scan in bucket.scans])
            names.update([scan.name for scan in bucket.regex_scans])
        return names

    def buckets(self, flat: dict[str, Any]) -> list[Bucket]:
        """The buckets an event belongs to (the always-bucket last).

        Events repeat their routing values (a channel, an event id, a process name), so the answer
        is remembered per tuple of them when they are plain strings (the common case); arrays and
        other values are looked up every time. Callers must not change the list."""
        key = tuple([flat.get(name) for name in self._fields])
        if all(type(value) is str or value is None for value in key):
            found = self._memo.get(key)
            if found is None:
                if len(self._memo) >= MEMO_ENTRIES:
                    self._memo.clear()
                found = self._memo[key] = self._lookup(flat)
            return found
        return self._lookup(flat)

    def _lookup(self, flat: dict[str, Any]) -> list[Bucket]:
        found: list[Bucket] = []
        for signature, table in self._signatures.items():
            if len(signature) == 1:
                for single in dispatch_keys(flat.get(signature[0])):
                    bucket = table.get((single,))
                    if bucket is not None:
                        found.append(bucket)
                continue
            key_sets = [dispatch_keys(flat.get(name)) for name in signature]
            if not all(key_sets):
                continue
            for combo in itertools.product(*key_sets):
                bucket = table.get(combo)
                if bucket is not None:
                    found.append(bucket)
        if self._always.rules:
            found.append(self._always)
        return found


def evaluate(
    buckets: list[Bucket],
    view: EventView,
    enabled: list[bool],
    conditions: list[Any],
    evaluations: list[int],
    nanos: list[int],
    failed: list[tuple[int, Exception]],
) -> list[int]:
    """The indices of the rules that fire on the event, in the order they were evaluated: each
    bucket's prefilter candidates (a rule in several buckets once), enabled ones only.

    The detection engine's per-event loop, here to be compiled with the index: as interpreted
    Python its bookkeeping per candidate rule cost about as much as evaluating the rule. Counts
    and times go to `evaluations` and `nanos` (by rule index); a rule that raises is a miss, and
    is added to `failed` with its exception for the engine to count and log (the rule boundary).
    `conditions` are `Node`s, typed `Any` so that anything with a `match` may stand in for one
    (a compiled node class takes no Python subclass), a test's failing matcher among them."""
    clock = time.perf_counter_ns
    out: list[int] = []
    seen: set[int] | None = set() if len(buckets) > 1 else None
    for bucket in buckets:
        candidates = bucket.candidates(view)
        if not candidates:
            continue
        before = clock()
        for index in candidates:
            if seen is not None:
                if index in seen:
                    continue
                seen.add(index)
            if not enabled[index]:
                continue
            condition = conditions[index]
            try:
                # The same call twice: on a `Node` it is compiled, on `Any` a Python method call.
                hit = condition.match(view) if isinstance(condition, Node) else condition.match(view)  # noqa: RUF034
            except Exception as exc:  # the rule boundary: the engine counts and logs it
                failed.append((index, exc))
                hit = False
            after = clock()
            nanos[index] += after - before
            before = after
            evaluations[index] += 1
            if hit:
                out.append(index)
    return out


__all__ = ["Bucket", "FieldScan", "RegexScan", "RuleIndex", "ScanMemo", "dispatch_keys", "evaluate"]
