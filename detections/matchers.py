"""Matcher nodes: the compiled form of a Sigma detection, evaluated over one flat ECS event.

pySigma parses and maps rules but has no matcher; these small classes are ours. Every node has
`match(view) -> bool` and is a plain picklable object, so a compiled rule set can be cached on disk
(`detections.cache`). Semantics follow the Sigma specification and pySigma's conversion model:

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

import ipaddress
import math
from collections.abc import Sequence
from enum import Enum
from typing import Any

import ahocorasick
import re2

KEYWORD_FIELDS: tuple[str, ...] = ("message", "event.original")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def re2_compile(pattern: str) -> Any:
    """Compile with RE2 and no stderr noise; raises `re2.error` for unsupported syntax."""
    return re2.compile(pattern, _RE2_OPTIONS)


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


class _RawStrings(dict[str, tuple[str, ...]]):
    """field -> string forms, computed on first access (a dict lookup afterwards: C speed)."""

    __slots__ = ("flat",)

    def __init__(self, flat: dict[str, Any]) -> None:
        super().__init__()
        self.flat = flat

    def __missing__(self, field: str) -> tuple[str, ...]:
        value = self.flat.get(field)
        got = (value,) if isinstance(value, str) else strings_of(value)
        self[field] = got
        return got


class _LowStrings(dict[str, tuple[str, ...]]):
    """field -> lower-cased string forms, computed on first access."""

    __slots__ = ("raw",)

    def __init__(self, raw: _RawStrings) -> None:
        super().__init__()
        self.raw = raw

    def __missing__(self, field: str) -> tuple[str, ...]:
        raw = self.raw[field]
        got = (raw[0].lower(),) if len(raw) == 1 else tuple(s.lower() for s in raw)
        self[field] = got
        return got


class EventView:
    """A flat event plus memoised string forms; built once per event, shared by all rules.

    `view.low[field]` / `view.raw[field]` are dicts that fill themselves, so a rule reading a
    field pays one dict lookup, and only the first reader of a field pays for `lower()`.
    """

    __slots__ = ("flat", "low", "raw")

    def __init__(self, flat: dict[str, Any]) -> None:
        self.flat = flat
        self.raw = _RawStrings(flat)
        self.low = _LowStrings(self.raw)


class Node:
    """Base of all matcher nodes."""

    __slots__ = ()

    def match(self, view: EventView) -> bool:
        raise NotImplementedError

    def fields(self) -> set[str]:
        """Fields this node reads (for explain and for the prefilter)."""
        return set()


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value: bool) -> None:
        self.value = value

    def match(self, view: EventView) -> bool:
        return self.value

    def __getstate__(self) -> bool:
        return self.value

    def __setstate__(self, state: bool) -> None:
        self.value = state


class And(Node):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)

    def match(self, view: EventView) -> bool:
        for child in self.children:  # noqa: SIM110  (a loop is faster than all(genexpr) here)
            if not child.match(view):
                return False
        return True

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.children))

    def __getstate__(self) -> tuple[Node, ...]:
        return self.children

    def __setstate__(self, state: tuple[Node, ...]) -> None:
        self.children = state


class Or(Node):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)

    def match(self, view: EventView) -> bool:
        for child in self.children:  # noqa: SIM110  (a loop is faster than any(genexpr) here)
            if child.match(view):
                return True
        return False

    def fields(self) -> set[str]:
        return set().union(*(c.fields() for c in self.children))

    def __getstate__(self) -> tuple[Node, ...]:
        return self.children

    def __setstate__(self, state: tuple[Node, ...]) -> None:
        self.children = state


class Not(Node):
    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def match(self, view: EventView) -> bool:
        return not self.child.match(view)

    def fields(self) -> set[str]:
        return self.child.fields()

    def __getstate__(self) -> Node:
        return self.child

    def __setstate__(self, state: Node) -> None:
        self.child = state


class Selection(Node):
    """A named detection of the rule; the name is reported by `match`/`explain`."""

    __slots__ = ("name", "node")

    def __init__(self, name: str, node: Node) -> None:
        self.name = name
        self.node = node

    def match(self, view: EventView) -> bool:
        return self.node.match(view)

    def fields(self) -> set[str]:
        return self.node.fields()

    def __getstate__(self) -> tuple[str, Node]:
        return (self.name, self.node)

    def __setstate__(self, state: tuple[str, Node]) -> None:
        self.name, self.node = state


class Glob:
    """One wildcard pattern (`*`, `?`) over an already case-folded value."""

    __slots__ = ("_regex", "end", "parts", "start")

    def __init__(self, parts: Sequence[str], start: bool, end: bool, regex: str | None) -> None:
        # parts: literal pieces between `*`; start/end: anchored at the value's start/end.
        self.parts = tuple(parts)
        self.start = start
        self.end = end
        self._regex: Any = re2_compile(regex) if regex is not None else None

    def __getstate__(self) -> tuple[tuple[str, ...], bool, bool, str | None]:
        return (self.parts, self.start, self.end, self._regex.pattern if self._regex is not None else None)

    def __setstate__(self, state: tuple[tuple[str, ...], bool, bool, str | None]) -> None:
        self.parts, self.start, self.end, regex = state
        self._regex = re2_compile(regex) if regex is not None else None

    def match(self, value: str) -> bool:
        if self._regex is not None:
            return self._regex.fullmatch(value) is not None
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


class StrAny(Node):
    """Field matches any of a set of string patterns (the usual Sigma value list, OR-linked).

    Patterns are grouped by shape so the common cases are one C-level call: `in frozenset`,
    `str.startswith(tuple)`, `str.endswith(tuple)`; only `*a*b*`/`?` shapes fall back to `Glob`.
    """

    __slots__ = ("_automaton", "cased", "contains", "eq", "field", "globs", "prefixes", "suffixes")

    #: Above this many `contains` needles, one Aho-Corasick pass beats a Python loop of `in`.
    AUTOMATON_MIN = 8

    def __init__(
        self,
        field: str,
        cased: bool,
        eq: Sequence[str] = (),
        prefixes: Sequence[str] = (),
        suffixes: Sequence[str] = (),
        contains: Sequence[str] = (),
        globs: Sequence[Glob] = (),
    ) -> None:
        self.field = field
        self.cased = cased
        self.eq = frozenset(eq)
        self.prefixes = tuple(prefixes)
        self.suffixes = tuple(suffixes)
        self.contains = tuple(contains)
        self.globs = tuple(globs)
        self._automaton = _needles(self.contains) if len(self.contains) >= self.AUTOMATON_MIN else None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.field, self.cased, self.eq, self.prefixes, self.suffixes, self.contains, self.globs)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self.field, self.cased, self.eq, self.prefixes, self.suffixes, self.contains, self.globs) = state
        self._automaton = _needles(self.contains) if len(self.contains) >= self.AUTOMATON_MIN else None

    def match(self, view: EventView) -> bool:
        values = view.raw[self.field] if self.cased else view.low[self.field]
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

    def fields(self) -> set[str]:
        return {self.field}


class Regex(Node):
    __slots__ = ("_regex", "field")

    def __init__(self, field: str, pattern: str) -> None:
        self.field = field
        self._regex: Any = re2_compile(pattern)

    @property
    def pattern(self) -> str:
        return str(self._regex.pattern)

    def __getstate__(self) -> tuple[str, str]:
        return (self.field, self.pattern)

    def __setstate__(self, state: tuple[str, str]) -> None:
        self.field = state[0]
        self._regex = re2_compile(state[1])

    def match(self, view: EventView) -> bool:
        search = self._regex.search
        for value in view.raw[self.field]:  # noqa: SIM110
            if search(value) is not None:
                return True
        return False

    def fields(self) -> set[str]:
        return {self.field}


class NumEq(Node):
    __slots__ = ("field", "number")

    def __init__(self, field: str, number: int | float) -> None:
        self.field = field
        self.number = number

    def __getstate__(self) -> tuple[str, int | float]:
        return (self.field, self.number)

    def __setstate__(self, state: tuple[str, int | float]) -> None:
        self.field, self.number = state

    def match(self, view: EventView) -> bool:
        for value in scalars_of(view.flat.get(self.field)):  # noqa: SIM110
            if number_of(value) == self.number:
                return True
        return False

    def fields(self) -> set[str]:
        return {self.field}


class BoolEq(Node):
    __slots__ = ("field", "value")

    def __init__(self, field: str, value: bool) -> None:
        self.field = field
        self.value = value

    def __getstate__(self) -> tuple[str, bool]:
        return (self.field, self.value)

    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.field, self.value = state

    def match(self, view: EventView) -> bool:
        want = "true" if self.value else "false"
        return want in view.low[self.field]

    def fields(self) -> set[str]:
        return {self.field}


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, list | tuple):
        return any(_present(v) for v in value)
    return True


class Null(Node):
    """`field: null`: the field is missing, None, or an empty array."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field

    def __getstate__(self) -> str:
        return self.field

    def __setstate__(self, state: str) -> None:
        self.field = state

    def match(self, view: EventView) -> bool:
        return not _present(view.flat.get(self.field))

    def fields(self) -> set[str]:
        return {self.field}


class Exists(Node):
    __slots__ = ("field", "want")

    def __init__(self, field: str, want: bool) -> None:
        self.field = field
        self.want = want

    def __getstate__(self) -> tuple[str, bool]:
        return (self.field, self.want)

    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.field, self.want = state

    def match(self, view: EventView) -> bool:
        return _present(view.flat.get(self.field)) == self.want

    def fields(self) -> set[str]:
        return {self.field}


class CompareOp(Enum):
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    NEQ = "neq"


class Compare(Node):
    __slots__ = ("field", "number", "op")

    def __init__(self, field: str, op: CompareOp, number: int | float) -> None:
        self.field = field
        self.op = op
        self.number = number

    def __getstate__(self) -> tuple[str, CompareOp, int | float]:
        return (self.field, self.op, self.number)

    def __setstate__(self, state: tuple[str, CompareOp, int | float]) -> None:
        self.field, self.op, self.number = state

    def match(self, view: EventView) -> bool:
        op = self.op
        ref = self.number
        for value in scalars_of(view.flat.get(self.field)):
            n = number_of(value)
            if n is None:
                continue
            if (
                (op is CompareOp.LT and n < ref)
                or (op is CompareOp.LTE and n <= ref)
                or (op is CompareOp.GT and n > ref)
                or (op is CompareOp.GTE and n >= ref)
                or (op is CompareOp.NEQ and n != ref)
            ):
                return True
        return False

    def fields(self) -> set[str]:
        return {self.field}


class Cidr(Node):
    __slots__ = ("_network", "cidr", "field")

    def __init__(self, field: str, cidr: str) -> None:
        self.field = field
        self.cidr = cidr
        self._network = ipaddress.ip_network(cidr, strict=False)

    def __getstate__(self) -> tuple[str, str]:
        return (self.field, self.cidr)

    def __setstate__(self, state: tuple[str, str]) -> None:
        self.field, self.cidr = state
        self._network = ipaddress.ip_network(self.cidr, strict=False)

    def match(self, view: EventView) -> bool:
        network = self._network
        for text in view.raw[self.field]:
            if len(text) > 64:
                continue
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))
            except ValueError:
                continue
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            if address.version == network.version and address in network:
                return True
        return False

    def fields(self) -> set[str]:
        return {self.field}


class FieldRef(Node):
    """`fieldref`: the value of one field equals (or starts/ends with, contains) another field's."""

    __slots__ = ("ends_with", "field", "other", "starts_with")

    def __init__(self, field: str, other: str, starts_with: bool, ends_with: bool) -> None:
        self.field = field
        self.other = other
        self.starts_with = starts_with
        self.ends_with = ends_with

    def __getstate__(self) -> tuple[str, str, bool, bool]:
        return (self.field, self.other, self.starts_with, self.ends_with)

    def __setstate__(self, state: tuple[str, str, bool, bool]) -> None:
        self.field, self.other, self.starts_with, self.ends_with = state

    def match(self, view: EventView) -> bool:
        # starts_with/ends_with mirror pySigma: `fieldref|startswith` sets starts_with (the value
        # starts with the referenced one), `contains` sets both.
        for value in view.low[self.field]:
            for ref in view.low[self.other]:
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
