"""Matcher nodes: the compiled form of a Sigma detection, evaluated over one flat ECS event.

pySigma parses and maps rules but has no matcher; these small classes are ours. Every node is a
slotted dataclass with `match(view) -> bool`; it pickles as its constructor call (`_Rebuilt`), so a
compiled rule set can be cached on disk (`detections.cache`) without its compiled regexes.
Semantics follow the Sigma specification and pySigma's conversion model:

- strings compare case-insensitively unless `cased`; `*` and `?` are wildcards (escapes were
  resolved by pySigma); an ECS array matches when any element matches;
- `null` matches a missing field, `None`, or an empty array; `''` matches only the empty string;
- numbers compare numerically against int/float values and numeric strings (`"4688"`, `"0x10"`),
  because Windows EventData values are strings;
- regular expressions run in RE2 (linear time), searched anywhere in the value (Sigma semantics;
  note that Lucene regexps are anchored, which the Elasticsearch differential test must allow for);
- keyword (field-less) values are searched as substrings of `message`, then `event.original`.

Matching is total: odd values (dicts, bytes, huge numbers) never raise; they just do not match.

`EventView` wraps the flat dict and memoises the lower-cased string forms of each field, so that
the prefilter and the hundred rules that look at `CommandLine` lower-case it once.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Self, cast

import ahocorasick
import re2
from re2 import _re2  # the binding under google-re2's wrapper (see `re2_tester`)

KEYWORD_FIELDS: tuple[str, ...] = ("message", "event.original")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def re2_compile(pattern: str) -> Any:
    """Compile with RE2 and no stderr noise; raises `re2.error` for unsupported syntax."""
    return re2.compile(pattern, _RE2_OPTIONS)


def re2_tester(pattern: str, *, whole: bool = False) -> Any:
    """`tester.Match(utf8_bytes)` is `[0]` when RE2 finds `pattern` in the text (`whole`: matches
    all of it), else `[]`: what `re2_compile(pattern).search`/`.fullmatch` answer, minus the match
    object. google-re2's `search` builds one in Python (spans of every group, offsets converted
    back to characters), which cost as much again as the search itself; its set API (`_re2.Set`,
    the same options) answers yes or no. Raises `re2.error` as `re2_compile` does."""
    re2_compile(pattern)  # the same error, for the same patterns, as the compiler reports
    anchor = _re2.RE2.Anchor.ANCHOR_BOTH if whole else _re2.RE2.Anchor.UNANCHORED
    tester = _re2.Set(anchor, _RE2_OPTIONS)
    if tester.Add(pattern.encode()) != 0 or not tester.Compile():
        raise re2.error(f"RE2 set did not take the pattern: {pattern!r}")
    return tester


def re2_set(patterns: Sequence[str]) -> Any:
    """`tester.Match(utf8_bytes)` lists the indices of the `patterns` RE2 finds in the text: what
    `re2_tester(pattern).Match` answers for each of them, in one call and one pass over the text
    (the prefilter of the rules whose only necessary conditions are regexes, `detections.index`).
    RE2's set API answers no match when its DFA runs out of memory, so the set gets the memory
    budget of one tester per pattern (allocated only as the DFA grows). Raises `re2.error` as
    `re2_tester` does."""
    options = re2.Options()
    for name in re2.Options.NAMES:
        setattr(options, name, getattr(_RE2_OPTIONS, name))
    options.max_mem = _RE2_OPTIONS.max_mem * max(1, len(patterns))
    tester = _re2.Set(_re2.RE2.Anchor.UNANCHORED, options)
    for n, pattern in enumerate(patterns):
        re2_compile(pattern)
        if tester.Add(pattern.encode()) != n:
            raise re2.error(f"RE2 set did not take the pattern: {pattern!r}")
    if not tester.Compile():
        raise re2.error(f"RE2 set did not compile: {list(patterns)!r}")
    return tester


def _as_str(value: Any) -> str | None:
    """The string form a Sigma string is compared with (None: not comparable)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return str(value)
    if value is None:
        return None
    try:
        return str(value)
    except Exception:  # an object whose __str__ fails is simply not comparable (matching is total)
        return None


def strings_of(value: Any) -> tuple[str, ...]:
    """All comparable string forms of a flat value (one per array element)."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            if isinstance(item, list | tuple):
                out.extend(strings_of(item))
            else:
                s = _as_str(item)
                if s is not None:
                    out.append(s)
        return tuple(out)
    s = _as_str(value)
    return () if s is None else (s,)


def number_of(value: Any) -> float | int | None:
    """A numeric reading of one scalar value, or None (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            return None
        try:
            return int(text, 0) if text[:2].lower() in ("0x", "0o", "0b") else int(text)
        except ValueError:
            pass
        try:
            f = float(text)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def scalars_of(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            out.extend(scalars_of(item) if isinstance(item, list | tuple) else [item])
        return out
    return [] if value is None else [value]


def ip_address_of(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `text` names (a scope or brackets dropped; an IPv4-mapped IPv6 address as
    its IPv4 one), or None."""
    if len(text) > 64:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def dispatch_keys(value: Any) -> tuple[str, ...]:
    """The keys an event value is looked up under: the compiler's normalisation of equality values."""
    if isinstance(value, str):
        return (value.lower(),)
    if isinstance(value, bool) or value is None:
        return ()
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, float):
        return (str(int(value)),) if value.is_integer() else ()
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            out.extend(dispatch_keys(item))
        return tuple(out)
    return ()


class EventView:
    """A flat event plus memoised string forms; built once per event, shared by all rules.

    `view.raw_strings(field)` / `view.low_strings(field)` give a field's string forms (lower-cased
    for the second), computed on first use and remembered in the plain dicts `raw` / `low`, so a
    rule reading a field pays one dict lookup, and only the first reader of a field pays for
    `lower()`. (Plain dicts and compiled methods: dict subclasses with `__missing__`, as these
    were, cost a Python-level dispatch on every read.)
    """

    __slots__ = ("_addresses", "_numbers", "_routes", "flat", "low", "raw")

    def __init__(self, flat: dict[str, Any]) -> None:
        self.flat = flat
        self.raw: dict[str, tuple[str, ...]] = {}
        self.low: dict[str, tuple[str, ...]] = {}
        self._routes: dict[tuple[str, ...], list[tuple[str, ...]]] | None = None
        self._numbers: dict[str, list[float | int]] | None = None
        self._addresses: dict[str, list[tuple[int, int]]] | None = None

    def raw_strings(self, field: str) -> tuple[str, ...]:
        """The string forms of the field's value (one per array element; none when absent)."""
        got = self.raw.get(field)
        if got is None:
            value = self.flat.get(field)
            got = (value,) if isinstance(value, str) else strings_of(value)
            self.raw[field] = got
        return got

    def low_strings(self, field: str) -> tuple[str, ...]:
        """`raw_strings`, lower-cased."""
        got = self.low.get(field)
        if got is None:
            raw = self.raw_strings(field)
            got = (raw[0].lower(),) if len(raw) == 1 else tuple([s.lower() for s in raw])
            self.low[field] = got
        return got

    def numbers(self, field: str) -> list[float | int]:
        """The numeric readings (`number_of`) of the field's scalars, those that have one: read
        once per event for all the rules' numeric nodes (a rule's port list is dozens of them)."""
        known = self._numbers
        if known is None:
            known = self._numbers = {}
        got = known.get(field)
        if got is None:
            got = []
            for value in scalars_of(self.flat.get(field)):
                number = number_of(value)
                if number is not None:
                    got.append(number)
            known[field] = got
        return got

    def addresses(self, field: str) -> list[tuple[int, int]]:
        """The IP addresses among the field's strings, as (version, integer), an IPv4-mapped IPv6
        address as its IPv4 one: parsed once per event for all the rules' `Cidr` nodes (the
        `ipaddress` parse, in Python, cost more than the rest of such a rule)."""
        known = self._addresses
        if known is None:
            known = self._addresses = {}
        got = known.get(field)
        if got is None:
            got = []
            for text in self.raw_strings(field):
                address = ip_address_of(text)
                if address is not None:
                    got.append((address.version, int(address)))
            known[field] = got
        return got

    def route_keys(self, signature: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The dispatch keys of the event for these routing fields, as the index computes them."""
        routes = self._routes
        if routes is None:
            routes = self._routes = {}
        found = routes.get(signature)
        if found is None:
            found = routes[signature] = list(
                itertools.product(*(dispatch_keys(self.flat.get(f)) for f in signature))
            )
        return found


class _Rebuilt:
    """Pickles as a call of its constructor with its init fields, so what a node derives from them
    (a compiled regex, an automaton, a network) is rebuilt on load instead of stored."""

    __slots__ = ()

    def __reduce__(self) -> tuple[type[Self], tuple[Any, ...]]:
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(cast(Any, self)) if f.init)


class Node(_Rebuilt):
    """Base of all matcher nodes: `@dataclass(slots=True, eq=False)` subclasses (slots for speed,
    identity equality because the compiler tracks nodes by `id`)."""

    __slots__ = ()

    def match(self, view: EventView) -> bool:
        raise NotImplementedError

    def fields(self) -> set[str]:
        """Fields this node reads (for explain and for the prefilter)."""
        return set()


@dataclass(slots=True, eq=False)
class Const(Node):
    value: bool

    def match(self, view: EventView) -> bool:
        return self.value


@dataclass(slots=True, eq=False)
class Junction(Node):
    """A node over child nodes (`And`, `Or`)."""

    children: tuple[Node, ...]

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.children))


@dataclass(slots=True, eq=False)
class And(Junction):
    def match(self, view: EventView) -> bool:
        for child in self.children:  # noqa: SIM110  (a loop is faster than all(genexpr) here)
            if not child.match(view):
                return False
        return True


@dataclass(slots=True, eq=False)
class Or(Junction):
    def match(self, view: EventView) -> bool:
        for child in self.children:  # noqa: SIM110  (a loop is faster than any(genexpr) here)
            if child.match(view):
                return True
        return False


@dataclass(slots=True, eq=False)
class Not(Node):
    child: Node

    def match(self, view: EventView) -> bool:
        return not self.child.match(view)

    def fields(self) -> set[str]:
        return self.child.fields()


@dataclass(slots=True, eq=False)
class Variants(Node):
    """The variants of a rule (`compiler.compile_rule`), each run only on the events the index
    files under that variant's dispatch keys: one dict lookup per evaluation, on keys the event
    view computes once (`EventView.route_keys`), read exactly as the index reads them.

    `table` pairs each dispatch key (one value per field of `signature`) with its variant's body.
    """

    signature: tuple[str, ...]
    table: tuple[tuple[tuple[str, ...], Node], ...]
    _by_key: dict[tuple[str, ...], Node] = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_key = dict(self.table)

    def match(self, view: EventView) -> bool:
        routes = view._routes
        keys = routes.get(self.signature) if routes is not None else None
        if keys is None:
            keys = view.route_keys(self.signature)
        if len(keys) == 1:  # the usual event: one channel, one event id
            node = self._by_key.get(keys[0])
            return node is not None and node.match(view)
        for key in keys:
            node = self._by_key.get(key)
            if node is not None and node.match(view):
                return True
        return False

    def fields(self) -> set[str]:
        return set(self.signature).union(*(node.fields() for _, node in self.table))


@dataclass(slots=True, eq=False)
class Selection(Node):
    """A named detection of the rule; the name is reported by `match`/`explain`."""

    name: str
    node: Node

    def match(self, view: EventView) -> bool:
        return self.node.match(view)

    def fields(self) -> set[str]:
        return self.node.fields()


@dataclass(slots=True, eq=False)
class FieldNode(Node):
    """A node that tests one field."""

    field: str

    def fields(self) -> set[str]:
        return {self.field}


@dataclass(slots=True, eq=False)
class Glob(_Rebuilt):
    """One wildcard pattern (`*`, `?`) over an already case-folded value.

    `parts` are the literal pieces between `*`, `start`/`end` anchor them at the value's start/end;
    a pattern with `?` is given as `regex` instead.
    """

    parts: tuple[str, ...]
    start: bool
    end: bool
    regex: str | None
    _regex: Any = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re2_tester(self.regex, whole=True) if self.regex is not None else None

    def match(self, value: str) -> bool:
        if self._regex is not None:
            return bool(self._regex.Match(value.encode()))
        parts = self.parts
        pos = 0
        last = len(parts) - 1
        limit = len(value)
        for i, part in enumerate(parts):
            if i == 0 and self.start:
                if not value.startswith(part):
                    return False
                pos = len(part)
            elif i == last and self.end:
                return len(value) - len(part) >= pos and value.endswith(part)
            else:
                found = value.find(part, pos, limit)
                if found < 0:
                    return False
                pos = found + len(part)
        return not self.end or pos == limit


def _needles(needles: Sequence[str]) -> Any:
    automaton = ahocorasick.Automaton()
    for needle in needles:
        automaton.add_word(needle, True)
    automaton.make_automaton()
    return automaton


#: Above this many `contains` needles, one Aho-Corasick pass beats a Python loop of `in`. (Module
#: constants, not class variables: mypyc would take a class variable for a dataclass field.)
AUTOMATON_MIN = 8


@dataclass(slots=True, eq=False)
class StrAny(FieldNode):
    """Field matches any of a set of string patterns (the usual Sigma value list, OR-linked).

    Patterns are grouped by shape so the common cases are one C-level call: `in frozenset`,
    `str.startswith(tuple)`, `str.endswith(tuple)`; only `*a*b*`/`?` shapes fall back to `Glob`.
    """

    cased: bool
    eq: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    globs: tuple[Glob, ...] = ()
    _automaton: Any = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._automaton = _needles(self.contains) if len(self.contains) >= AUTOMATON_MIN else None

    def match(self, view: EventView) -> bool:
        values = view.raw_strings(self.field) if self.cased else view.low_strings(self.field)
        if not values:
            return False
        eq = self.eq
        prefixes = self.prefixes
        suffixes = self.suffixes
        contains = self.contains
        automaton = self._automaton
        for value in values:
            if value in eq:
                return True
            if prefixes and value.startswith(prefixes):
                return True
            if suffixes and value.endswith(suffixes):
                return True
            if automaton is not None:
                for _found in automaton.iter(value):
                    return True
            else:
                for needle in contains:
                    if needle in value:
                        return True
            for glob in self.globs:
                if glob.match(value):
                    return True
        return False


#: `.{N}`, `.{N,}`, `.{N,M}` alone: "some line is at least N characters long" (Sigma's long
#: command line rules). RE2 runs `.{1000,}` at about 1.5 ms per value (a thousand-state automaton).
_LONG_LINE = re.compile(r"\.\{(\d+)(?:,\d*)?\}")


@dataclass(slots=True, eq=False)
class Regex(FieldNode):
    pattern: str
    _regex: Any = dataclasses.field(init=False, repr=False)
    _min_line: int = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re2_tester(self.pattern)
        long_line = _LONG_LINE.fullmatch(self.pattern)
        self._min_line = int(long_line.group(1)) if long_line else -1

    def in_re2(self) -> bool:
        """Whether `match` asks RE2 (a long-line pattern is answered without it)."""
        return self._min_line < 0

    def match(self, view: EventView) -> bool:
        if self._min_line >= 0:  # what RE2 would answer (`.` is any character but a newline)
            size = self._min_line
            values = view.raw_strings(self.field)
            return any(len(line) >= size for value in values for line in value.split("\n"))
        test = self._regex.Match
        for value in view.raw_strings(self.field):  # noqa: SIM110
            if test(value.encode()):
                return True
        return False


@dataclass(slots=True, eq=False)
class NumEq(FieldNode):
    number: int | float

    def match(self, view: EventView) -> bool:
        number = self.number
        for value in view.numbers(self.field):  # noqa: SIM110
            if value == number:
                return True
        return False


@dataclass(slots=True, eq=False)
class BoolEq(FieldNode):
    value: bool

    def match(self, view: EventView) -> bool:
        want = "true" if self.value else "false"
        return want in view.low_strings(self.field)


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list | tuple):
        return any(_present(v) for v in value)
    return True


@dataclass(slots=True, eq=False)
class Null(FieldNode):
    """`field: null`: the field is missing, None, or an empty array."""

    def match(self, view: EventView) -> bool:
        return not _present(view.flat.get(self.field))


@dataclass(slots=True, eq=False)
class Exists(FieldNode):
    want: bool

    def match(self, view: EventView) -> bool:
        return _present(view.flat.get(self.field)) == self.want


class CompareOp(Enum):
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    NEQ = "neq"


@dataclass(slots=True, eq=False)
class Compare(FieldNode):
    op: CompareOp
    number: int | float

    def match(self, view: EventView) -> bool:
        op = self.op
        ref = self.number
        for n in view.numbers(self.field):
            if (
                (op is CompareOp.LT and n < ref)
                or (op is CompareOp.LTE and n <= ref)
                or (op is CompareOp.GT and n > ref)
                or (op is CompareOp.GTE and n >= ref)
                or (op is CompareOp.NEQ and n != ref)
            ):
                return True
        return False


@dataclass(slots=True, eq=False)
class Cidr(FieldNode):
    cidr: str
    _version: int = dataclasses.field(init=False, repr=False)
    _mask: int = dataclasses.field(init=False, repr=False)
    _base: int = dataclasses.field(init=False, repr=False)

    def __post_init__(self) -> None:
        network = ipaddress.ip_network(self.cidr, strict=False)
        # `address in network` as `ipaddress` computes it, on the integers `view.addresses` gives
        self._version = network.version
        self._mask = int(network.netmask)
        self._base = int(network.network_address)

    def match(self, view: EventView) -> bool:
        version = self._version
        mask = self._mask
        base = self._base
        for address_version, address in view.addresses(self.field):
            if address_version == version and address & mask == base:
                return True
        return False


@dataclass(slots=True, eq=False)
class FieldRef(FieldNode):
    """`fieldref`: the value of one field equals (or starts/ends with, contains) another field's."""

    other: str
    starts_with: bool
    ends_with: bool

    def match(self, view: EventView) -> bool:
        # starts_with/ends_with mirror pySigma: `fieldref|startswith` sets starts_with (the value
        # starts with the referenced one), `contains` sets both.
        for value in view.low_strings(self.field):
            for ref in view.low_strings(self.other):
                if self.starts_with and self.ends_with:
                    ok = ref in value
                elif self.starts_with:
                    ok = value.startswith(ref)
                elif self.ends_with:
                    ok = value.endswith(ref)
                else:
                    ok = value == ref
                if ok:
                    return True
        return False

    def fields(self) -> set[str]:
        return {self.field, self.other}
