"""Compile a pySigma rule (after the processing pipeline) into matcher nodes.

The compiler walks pySigma's own structures rather than re-reading YAML: `SigmaDetection` /
`SigmaDetectionItem` with values already transformed by the modifiers (contains, windash, base64,
wide...) and by the pipeline (field names), and the *unexpanded* condition parse tree, so that the
selection names survive for `RuleMatch.selections` and `explain()`.

Besides the matcher it extracts two things the engine indexes on:

- `dispatch`: equality constraints on routing fields (`winlog.channel`, `event.code`, ...) that every
  match must satisfy (found in the top-level AND of the condition). The engine files the rule
  under those keys, so an event meets only the rules of its own channel and event id.
- `literals`: a *necessary* disjunction of (field, lower-cased literal) atoms: a rule can only match
  if one of them occurs in that field. The engine feeds the atoms to one Aho-Corasick automaton per
  field; rules none of whose atoms occurred are never evaluated.

A construct we cannot match faithfully raises `CompileError`, and the loader quarantines the rule.
"""

from __future__ import annotations

import itertools
import re
import re._constants as _sre_constants
import re._parser as _sre_parser
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import re2
from sigma.conditions import (
    ConditionAND,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionSelector,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from detections.matchers import (
    KEYWORD_FIELDS,
    And,
    BoolEq,
    Cidr,
    Compare,
    CompareOp,
    Const,
    Exists,
    FieldNode,
    FieldRef,
    Glob,
    Junction,
    Node,
    Not,
    Null,
    NumEq,
    Or,
    Regex,
    Selection,
    StrAny,
    Variants,
    _Rebuilt,
    re2_compile,
)

#: Fields the engine dispatches on, most selective pair first.
DISPATCH_FIELDS: tuple[str, ...] = (
    "winlog.channel",
    "event.code",
    "event.dataset",
    "auditd.record_types",
    "process.name",
)

#: Atoms shorter than this many UTF-8 bytes make a poor prefilter (they occur everywhere); such
#: rules run unfiltered. Bytes, not characters: one emoji is a rare, selective literal.
MIN_LITERAL = 3

#: A rule whose dispatch keys multiply beyond this is filed under fewer fields.
MAX_DISPATCH_KEYS = 256


class CompileError(Exception):
    """A rule uses something the matcher cannot evaluate faithfully; the rule is quarantined."""


@dataclass(slots=True)
class Route:
    """Where one variant of a rule is filed: its dispatch keys and its prefilter literals."""

    dispatch: dict[str, frozenset[str]]
    literals: frozenset[tuple[str, str]] | None


@dataclass(slots=True)
class CompiledRule:
    """What the engine needs of one rule, all picklable.

    `dispatch`/`literals` are the first variant's; `variants` holds the routes of the others (a
    `process_creation` rule's Security 4688 variant), each filed under its own keys.
    """

    condition: Node
    selections: list[Selection]
    dispatch: dict[str, frozenset[str]] = field(default_factory=dict)
    literals: frozenset[tuple[str, str]] | None = None
    variants: tuple[Route, ...] = ()

    def routes(self) -> tuple[Route, ...]:
        return (Route(self.dispatch, self.literals), *self.variants)


# ---------------------------------------------------------------- values


def _string_parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise CompileError(f"unresolved placeholder %{part.name}% (the expand modifier needs values)")
        parts.append(part)
    return parts


def _glob_regex(parts: Sequence[str | SpecialChars]) -> str:
    out = ["(?s)"]
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            out.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            out.append(".")
        else:
            assert isinstance(part, str)
            out.append(re.escape(part))
    return "".join(out)


@dataclass(slots=True)
class _StrGroup:
    eq: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    suffixes: list[str] = field(default_factory=list)
    contains: list[str] = field(default_factory=list)
    globs: list[Glob] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.eq or self.prefixes or self.suffixes or self.contains or self.globs)


def _add_string(group: _StrGroup, value: SigmaString, cased: bool) -> None:
    parts = _string_parts(value)
    if not cased:
        parts = [p.lower() if isinstance(p, str) else p for p in parts]
    # Collapse runs of `*` and merge adjacent literal pieces.
    norm: list[str | SpecialChars] = []
    for part in parts:
        if part == "":
            continue
        if part is SpecialChars.WILDCARD_MULTI and norm and norm[-1] is SpecialChars.WILDCARD_MULTI:
            continue
        if isinstance(part, str) and norm and isinstance(norm[-1], str):
            norm[-1] = norm[-1] + part
            continue
        norm.append(part)
    if any(p is SpecialChars.WILDCARD_SINGLE for p in norm):
        group.globs.append(Glob((), False, False, _glob_regex(norm)))
        return
    star = SpecialChars.WILDCARD_MULTI
    literals = [p for p in norm if isinstance(p, str)]
    start = not norm or norm[0] is not star
    end = not norm or norm[-1] is not star
    if not literals:
        if norm:  # only `*`: any string value at all
            group.globs.append(Glob((), False, False, "(?s).*"))
        else:
            group.eq.append("")
        return
    if len(literals) == 1:
        lit = literals[0]
        if start and end:
            group.eq.append(lit)
        elif start:
            group.prefixes.append(lit)
        elif end:
            group.suffixes.append(lit)
        else:
            group.contains.append(lit)
        return
    group.globs.append(Glob(tuple(literals), start, end, None))


def _str_node(field_name: str, group: _StrGroup, cased: bool) -> StrAny:
    return StrAny(
        field_name,
        cased,
        eq=frozenset(group.eq),
        prefixes=tuple(group.prefixes),
        suffixes=tuple(group.suffixes),
        contains=tuple(group.contains),
        globs=tuple(group.globs),
    )


def _keywordify(value: SigmaString) -> SigmaString:
    """Keyword values are substring searches (as Lucene's `*value*`)."""
    out = value
    if not out.startswith(SpecialChars.WILDCARD_MULTI):
        out = SpecialChars.WILDCARD_MULTI + out
    if not out.endswith(SpecialChars.WILDCARD_MULTI):
        out = out + SpecialChars.WILDCARD_MULTI
    return out


def _regex_pattern(value: SigmaRegularExpression) -> str:
    flags = ""
    if SigmaRegularExpressionFlag.IGNORECASE in value.flags:
        flags += "i"
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        flags += "m"
    if SigmaRegularExpressionFlag.DOTALL in value.flags:
        flags += "s"
    if any(isinstance(p, Placeholder) for p in value.regexp.s):
        raise CompileError("unresolved placeholder in regular expression")
    pattern = str(value.regexp)
    pattern = f"(?{flags}){pattern}" if flags else pattern
    try:
        re2_compile(pattern)
    except re2.error as exc:
        raise CompileError(f"regular expression not supported by RE2: {pattern!r}: {exc}") from None
    return pattern


_COMPARE = {
    CompareOperators.LT: CompareOp.LT,
    CompareOperators.LTE: CompareOp.LTE,
    CompareOperators.GT: CompareOp.GT,
    CompareOperators.GTE: CompareOp.GTE,
    CompareOperators.NEQ: CompareOp.NEQ,
}


def _flatten_values(values: Iterable[SigmaType]) -> list[SigmaType]:
    out: list[SigmaType] = []
    for value in values:
        if isinstance(value, SigmaExpansion):
            out.extend(_flatten_values(value.values))
        else:
            out.append(value)
    return out


def _value_nodes(field_name: str | None, values: Sequence[SigmaType]) -> list[Node]:
    """One node per value, except that OR-able strings on a field are grouped into one `StrAny`."""
    nodes: list[Node] = []
    groups: dict[bool, _StrGroup] = {}
    for value in values:
        if isinstance(value, SigmaString):
            cased = isinstance(value, SigmaCasedString)
            target = value if field_name is not None else _keywordify(value)
            _add_string(groups.setdefault(cased, _StrGroup()), target, cased)
        elif field_name is None:
            nodes.append(_keyword_other(value))
        else:
            nodes.append(_field_value(field_name, value))
    for cased, group in groups.items():
        if group.empty():
            continue
        if field_name is None:
            nodes.append(Or(tuple(_str_node(f, group, cased) for f in KEYWORD_FIELDS)))
        else:
            nodes.append(_str_node(field_name, group, cased))
    return nodes


def _keyword_other(value: SigmaType) -> Node:
    if isinstance(value, SigmaNumber) and not isinstance(value, SigmaTimestampPart):
        group = _StrGroup(contains=[str(value.number).lower()])
        return Or(tuple(_str_node(f, group, False) for f in KEYWORD_FIELDS))
    if isinstance(value, SigmaRegularExpression):
        pattern = _regex_pattern(value)
        return Or(tuple(Regex(f, pattern) for f in KEYWORD_FIELDS))
    raise CompileError(f"keyword search with a {type(value).__name__} value is not supported")


def _field_value(name: str, value: SigmaType) -> Node:
    if isinstance(value, SigmaTimestampPart):
        raise CompileError("timestamp-part modifiers (minute/hour/day/...) are not supported")
    if isinstance(value, SigmaNumber):
        return NumEq(name, value.number)
    if isinstance(value, SigmaBool):
        return BoolEq(name, value.boolean)
    if isinstance(value, SigmaNull):
        return Null(name)
    if isinstance(value, SigmaExists):
        return Exists(name, value.exists)
    if isinstance(value, SigmaRegularExpression):
        return Regex(name, _regex_pattern(value))
    if isinstance(value, SigmaCIDRExpression):
        return Cidr(name, value.cidr)
    if isinstance(value, SigmaCompareExpression):
        return Compare(name, _COMPARE[value.op], value.number.number)
    if isinstance(value, SigmaFieldReference):
        return FieldRef(name, value.field, value.starts_with, value.ends_with)
    raise CompileError(f"value type {type(value).__name__} is not supported")


# ---------------------------------------------------------------- detections


def _item_node(item: SigmaDetectionItem) -> Node:
    values = list(item.value)
    if not item.value:
        if item.field is None:
            raise CompileError("null value without a field")
        node: Node = Null(item.field)
    elif item.value_linking is ConditionAND:
        parts: list[Node] = []
        for value in values:
            if isinstance(value, SigmaExpansion):  # expansions are OR-linked whatever the linking
                parts.append(_or(_value_nodes(item.field, _flatten_values([value]))))
            else:
                parts.extend(_value_nodes(item.field, [value]))
        node = _and(parts)
    else:
        node = _or(_value_nodes(item.field, _flatten_values(values)))
    return Not(node) if item.negated else node


def _and(nodes: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, And) else [node])
    if not flat:
        return Const(True)
    return flat[0] if len(flat) == 1 else And(tuple(flat))


def _or(nodes: Sequence[Node]) -> Node:
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, Or) else [node])
    if not flat:
        return Const(False)
    return flat[0] if len(flat) == 1 else Or(tuple(flat))


def _detection_node(detection: SigmaDetection) -> Node:
    children = [
        _item_node(item) if isinstance(item, SigmaDetectionItem) else _detection_node(item)
        for item in detection.detection_items
    ]
    return _and(children) if detection.item_linking is ConditionAND else _or(children)


def _condition_node(item: object, selections: dict[str, Selection], rule: SigmaRule) -> Node:
    if isinstance(item, ConditionIdentifier):
        try:
            return selections[item.identifier]
        except KeyError:
            raise CompileError(f"condition names undefined detection {item.identifier!r}") from None
    if isinstance(item, ConditionSelector):
        names = [ident.identifier for ident in item.resolve_referenced_detections(rule.detection)]
        if not names:
            raise CompileError(f"condition selector {' of '.join(item.args)!r} matches no detection")
        nodes = tuple(selections[name] for name in names)
        return And(nodes) if item.cond_class is ConditionAND else Or(nodes)
    if isinstance(item, ConditionNOT):
        return Not(_condition_node(item.args[0], selections, rule))
    if isinstance(item, ConditionAND | ConditionOR):
        args = [_condition_node(arg, selections, rule) for arg in item.args if arg is not None]
        return _and(args) if isinstance(item, ConditionAND) else _or(args)
    raise CompileError(f"unexpected condition element {type(item).__name__}")


def _compile_variant(rule: SigmaRule) -> tuple[Node, list[Selection]]:
    selections = {
        name: Selection(name, _detection_node(detection))
        for name, detection in rule.detection.detections.items()
    }
    conditions: list[Node] = []
    for sigma_condition in rule.detection.parsed_condition:
        parsed = sigma_condition.parse(postprocess=False)
        if not isinstance(parsed, ConditionItem):
            raise CompileError("empty condition")
        conditions.append(_condition_node(parsed, selections, rule))
    if not conditions:
        raise CompileError("rule has no condition")
    condition = conditions[0] if len(conditions) == 1 else Or(tuple(conditions))
    return condition, [sel for name, sel in selections.items() if not name.startswith("_")]


def compile_rule(rule: SigmaRule, *variants: SigmaRule) -> CompiledRule:
    """Compile a rule that the processing pipeline has already been applied to.

    `variants` are the same rule through other pipelines (`pipelines.security_pipeline`). The
    rule then matches when any variant does. Each variant is pruned of its routing constraints like
    a single rule and filed in a `Variants` node under its own dispatch keys: whichever bucket
    handed the event over, only the variant of the event's channel and event id runs, and the
    selections reported are that variant's.
    """
    condition, selections = _compile_variant(rule)
    dispatch, implied = extract_dispatch(condition)
    condition = _prune(condition, {id(node) for node in implied})
    literals = extract_literals(condition, set(dispatch))
    if not variants:
        return CompiledRule(condition, selections, dispatch, literals)
    compiled: list[tuple[dict[str, frozenset[str]], Node, list[Selection]]] = [
        (dispatch, condition, selections)
    ]
    routes = [Route(dispatch, literals)]
    shared = _leaves(condition, {})
    for variant in variants:
        try:
            v_condition, v_selections = _compile_variant(variant)
        except CompileError as exc:
            raise CompileError(f"in the rule's Security-log variant: {exc}") from None
        v_dispatch, v_implied = extract_dispatch(v_condition)
        v_condition = _share(_prune(v_condition, {id(node) for node in v_implied}), shared)
        routes.append(Route(v_dispatch, extract_literals(v_condition, set(v_dispatch))))
        compiled.append((v_dispatch, v_condition, v_selections))
    signature = tuple(dispatch)
    if not signature or any(tuple(d) != signature for d, _, _ in compiled):
        raise CompileError(
            "the rule's variants route on different fields "
            f"({', '.join(sorted({'+'.join(d) or '(none)' for d, _, _ in compiled}))}): not supported"
        )
    names = [selection.name for selection in selections]
    merged = [
        Selection(name, _variants(signature, [(d, _selection(sels, name)) for d, _, sels in compiled]))
        for name in names
    ]
    condition = _variants(signature, [(d, body) for d, body, _ in compiled])
    first, *others = routes
    return CompiledRule(condition, merged, first.dispatch, first.literals, tuple(others))


def _identity(value: Any) -> Any:
    """A hashable key for a node's value: its class and constructor arguments, all the way down."""
    if isinstance(value, _Rebuilt):
        return (type(value), _identity(value.__reduce__()[1]))
    if isinstance(value, tuple):
        return tuple(_identity(item) for item in value)
    return value


def _leaves(node: Node, pool: dict[Any, FieldNode]) -> dict[Any, FieldNode]:
    """Every field test of a compiled condition, by identity."""
    if isinstance(node, FieldNode):
        pool.setdefault(_identity(node), node)
    elif isinstance(node, Junction):
        for child in node.children:
            _leaves(child, pool)
    elif isinstance(node, Not | Selection):
        _leaves(node.child if isinstance(node, Not) else node.node, pool)
    return pool


def _share(node: Node, pool: dict[Any, FieldNode]) -> Node:
    """The variant with the field tests it has in common with the first (`CommandLine` is the same
    field in 4688) replaced by the first's objects: the rule cache stores and rebuilds them once
    (their automata and regexes are the costly part of a warm start)."""
    if isinstance(node, FieldNode):
        return pool.get(_identity(node), node)
    if isinstance(node, Junction):
        node.children = tuple(_share(child, pool) for child in node.children)
    elif isinstance(node, Not):
        node.child = _share(node.child, pool)
    elif isinstance(node, Selection):
        node.node = _share(node.node, pool)
    return node


def _selection(selections: list[Selection], name: str) -> Node:
    for selection in selections:
        if selection.name == name:
            return selection.node
    return Const(False)


def _variants(signature: tuple[str, ...], bodies: list[tuple[dict[str, frozenset[str]], Node]]) -> Variants:
    """File each body under every dispatch key of its variant (ORed where two variants share one)."""
    table: dict[tuple[str, ...], list[Node]] = {}
    for dispatch, body in bodies:
        for key in itertools.product(*(sorted(dispatch[f]) for f in signature)):
            table.setdefault(key, []).append(body)
    return Variants(signature, tuple((key, _or(nodes)) for key, nodes in table.items()))


# ---------------------------------------------------------------- indexing facts


def _conjuncts(node: Node) -> Iterable[Node]:
    if isinstance(node, Selection):
        yield from _conjuncts(node.node)
    elif isinstance(node, And):
        for child in node.children:
            yield from _conjuncts(child)
    else:
        yield node


def _equality_keys(node: Node) -> tuple[str, frozenset[str]] | None:
    """(field, keys) when `node` is a pure case-insensitive equality on one field."""
    if isinstance(node, StrAny):
        if node.cased or node.prefixes or node.suffixes or node.contains or node.globs or not node.eq:
            return None
        return node.field, frozenset(node.eq)
    if isinstance(node, NumEq):
        number = node.number
        if isinstance(number, float) and not number.is_integer():
            return None
        return node.field, frozenset({str(int(number))})
    if isinstance(node, Or | Selection):
        children = node.children if isinstance(node, Or) else (node.node,)
        found = [_equality_keys(child) for child in children]
        if not found or any(f is None for f in found):
            return None
        names = {f[0] for f in found if f is not None}
        if len(names) != 1:
            return None
        keys: frozenset[str] = frozenset().union(*(f[1] for f in found if f is not None))
        return names.pop(), keys
    return None


def extract_dispatch(condition: Node) -> tuple[dict[str, frozenset[str]], list[Node]]:
    """Equality constraints on DISPATCH_FIELDS that every match of `condition` satisfies.

    Returns the keys per chosen field and the constraint nodes they came from. Where several
    constraints name the same field, the narrowest one is used rather than their intersection:
    on an array field (`auditd.record_types`) two different values can both hold.
    """
    found: dict[str, list[tuple[Node | None, frozenset[str]]]] = {}
    for node in _conjuncts(condition):
        eq = _equality_keys(node)
        if eq is not None and eq[0] in DISPATCH_FIELDS:
            found.setdefault(eq[0], []).append((node, eq[1]))
    for name, keys in _necessary_keys(condition).items():
        if name not in found:  # necessary, not sufficient: dispatched on, but kept in the condition
            found[name] = [(None, keys)]
    chosen: dict[str, frozenset[str]] = {}
    nodes: list[Node] = []
    combos = 1
    for name in DISPATCH_FIELDS:
        if name not in found or len(chosen) == 2:
            continue
        constraint, keys = min(found[name], key=lambda pair: len(pair[1]))
        if combos * len(keys) <= MAX_DISPATCH_KEYS:
            chosen[name] = keys
            if constraint is not None:
                nodes.append(constraint)
            combos *= max(1, len(keys))
    return chosen, nodes


def _necessary_keys(node: Node) -> dict[str, frozenset[str]]:
    """Dispatch-field values every match of `node` must have, also through `or`: a rule that is
    `(EventID 4738 and ...) or (EventID 5136 and ...)` can only match events 4738 and 5136, so it
    is filed under both instead of being evaluated on every event of its channel (a Security rule
    of that shape ran on each of the corpus's Security events)."""
    eq = _equality_keys(node)
    if eq is not None:
        return {eq[0]: eq[1]} if eq[0] in DISPATCH_FIELDS else {}
    if isinstance(node, Selection):
        return _necessary_keys(node.node)
    if isinstance(node, And):
        out: dict[str, frozenset[str]] = {}
        for child in node.children:
            for name, keys in _necessary_keys(child).items():
                if name not in out or len(keys) < len(out[name]):
                    out[name] = keys  # the narrowest, as above (array fields)
        return out
    if isinstance(node, Or) and node.children:
        branches = [_necessary_keys(child) for child in node.children]
        common = set(branches[0]).intersection(*branches[1:])
        return {name: frozenset().union(*(b[name] for b in branches)) for name in common}
    return {}


def _prune(node: Node, implied: set[int]) -> Node:
    """Drop the dispatch constraints: the index only hands the rule events that satisfy them."""
    if id(node) in implied:
        return Const(True)
    if isinstance(node, Selection):
        node.node = _prune(node.node, implied)
        return node
    if isinstance(node, And):
        kept = [_prune(child, implied) for child in node.children if id(child) not in implied]
        return _and([child for child in kept if not _always_true(child)])
    return node


def _always_true(node: Node) -> bool:
    if isinstance(node, Selection):
        return _always_true(node.node)
    return isinstance(node, Const) and node.value


def _selective(literal: str) -> bool:
    """Worth an automaton entry: 3+ UTF-8 bytes, or 2+ when non-ASCII (rare in logs: homoglyphs)."""
    size = len(literal.encode("utf-8", "surrogatepass"))
    return size >= MIN_LITERAL or (size >= 2 and not literal.isascii())


def regex_literals(pattern: str) -> list[str]:
    """Literal runs every match of `pattern` must contain (conservative: [] when unsure).

    Walks Python's parse of the pattern: consecutive LITERAL items at the top level, inside plain
    groups and inside repeats of at least one; alternations and classes end a run. A pattern
    Python cannot parse (RE2-only syntax) gives no literal, so the rule simply runs unfiltered.
    """
    try:
        parsed = _sre_parser.parse(pattern)
    except Exception:  # re.error, RecursionError, ...: no literal, never a wrong one
        return []
    runs: list[str] = []

    def walk(items: Iterable[tuple[Any, Any]]) -> None:
        current: list[str] = []
        for op, arg in items:
            if op is _sre_constants.LITERAL:
                current.append(chr(arg))
                continue
            if current:
                runs.append("".join(current))
                current = []
            if op is _sre_constants.SUBPATTERN:
                walk(arg[-1])
            elif op in (_sre_constants.MAX_REPEAT, _sre_constants.MIN_REPEAT) and arg[0] >= 1:
                walk(arg[2])
        if current:
            runs.append("".join(current))

    walk(parsed)
    return runs


def _literal_of(pattern_parts: Iterable[str]) -> str:
    return max(pattern_parts, key=lambda p: len(p.encode("utf-8", "surrogatepass")), default="")


Atoms = frozenset[tuple[str, str]]


def _disjunction(
    node: Node, leaf: Callable[[Node], Atoms | None], better: Callable[[Atoms, Atoms], bool]
) -> Atoms | None:
    """A necessary disjunction of atoms for `node`, or None if there is none: `leaf(node)` for a
    field test, the union over an OR (each child must have one), the `better` of an AND's."""
    if isinstance(node, Selection):
        return _disjunction(node.node, leaf, better)
    if isinstance(node, Or):
        union: set[tuple[str, str]] = set()
        for child in node.children:
            got = _disjunction(child, leaf, better)
            if got is None:
                return None
            union |= got
        return frozenset(union)
    if isinstance(node, And):
        best: Atoms | None = None
        for child in node.children:
            got = _disjunction(child, leaf, better)
            if got is not None and (best is None or better(got, best)):
                best = got
        return best
    return leaf(node)


def _atoms(node: Node, skip: set[str]) -> Atoms | None:
    """A necessary disjunction of (field, literal) atoms for `node`, or None if there is none."""
    return _disjunction(node, lambda leaf: _literal_atoms(leaf, skip), _better)


def _literal_atoms(node: Node, skip: set[str]) -> Atoms | None:
    if isinstance(node, StrAny):
        if node.field in skip:
            return None
        atoms: set[tuple[str, str]] = set()
        pieces = [[v] for v in node.eq]
        pieces += [[v] for v in node.prefixes + node.suffixes + node.contains]
        for glob in node.globs:
            if not glob.parts:
                return None
            pieces.append(list(glob.parts))
        for parts in pieces:
            lit = _literal_of(parts).lower()
            if not _selective(lit):
                return None
            atoms.add((node.field, lit))
        return frozenset(atoms) if atoms else None
    if isinstance(node, Regex):
        if node.field in skip:
            return None
        lit = _literal_of(regex_literals(node.pattern)).lower()
        return frozenset({(node.field, lit)}) if _selective(lit) else None
    return None


def _better(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]]) -> bool:
    """Prefer the atom set whose shortest literal is longest, then the smaller set."""
    min_a = min(len(lit) for _, lit in a)
    min_b = min(len(lit) for _, lit in b)
    if min_a != min_b:
        return min_a > min_b
    return len(a) < len(b)


def extract_literals(condition: Node, dispatch_fields: set[str]) -> frozenset[tuple[str, str]] | None:
    return _atoms(condition, dispatch_fields)


def regex_atoms(node: Node) -> Atoms | None:
    """A necessary disjunction of (field, pattern) atoms: the rule can only match an event on which
    one of these `Regex` nodes matches; None if there is none. For the rules without a literal
    (`extract_literals` gives None): the index runs their regexes as one RE2 set per field instead
    of evaluating each rule. Over every variant of a `Variants` node, so it holds wherever the rule
    is filed."""
    if not isinstance(node, Variants):
        return _disjunction(node, _regex_atom, _fewer)
    union: set[tuple[str, str]] = set()
    for _, body in node.table:
        got = _disjunction(body, _regex_atom, _fewer)
        if got is None:
            return None
        union |= got
    return frozenset(union)


def _regex_atom(node: Node) -> Atoms | None:
    if isinstance(node, Regex) and node.in_re2():
        return frozenset({(node.field, node.pattern)})
    return None


def _fewer(a: Atoms, b: Atoms) -> bool:
    return len(a) < len(b)
