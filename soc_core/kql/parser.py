"""KQL, the query language analysts know from Kibana, read by a lark grammar into `soc_core.kql.ast`.

    user.name:admin and not event.code:(4624 or 4625)
    process.executable:"C:\\Windows\\System32\\netsh.exe"   host.name:ws*   source.port >= 1024
    user:{ name:admin and domain:CORP }   winlog.event_data.TargetUserName:*   "đã xóa"   netsh*

Choices a reader should know: words side by side without an operator are joined by `and`
(`da xoa` finds both words); `not` binds tighter than `and`, `and` tighter than `or`;
`field:{ q }` scopes `q`'s fields under `field.` (our documents have no nested type, so it is
not "in the same array element"); an unquoted Windows path (`C:\\Windows\\...`) is free text,
not a field `C`; a backslash escapes `\\ ( ) : < > " * ? { }` and is literal before anything else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from soc_core.errors import QueryError
from soc_core.kql.ast import And, Exists, Glob, Match, MatchAll, Node, Not, Or, Range, Text, Wildcard
from soc_core.kql.text import words

#: Longest query read, in characters, and deepest nesting of parentheses and braces. Elasticsearch
#: refuses bool queries nested deeper than 30; the compilers add a level or two per node.
MAX_QUERY_LENGTH = 10_000
MAX_DEPTH = 20


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """How long and how deeply nested a query may be (`Settings.query_limits`)."""

    max_length: int = MAX_QUERY_LENGTH
    max_depth: int = MAX_DEPTH


DEFAULT_LIMITS = QueryLimits()


GRAMMAR = r"""
start: or_expr?

?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND? not_expr)*
?not_expr: _NOT not_expr -> negate
         | atom
?atom: LPAR or_expr RPAR -> group
     | FIELD COLON value_expr -> field_value
     | FIELD COLON LBRACE or_expr RBRACE -> nested
     | FIELD RANGE_OP bound -> field_range
     | WORD -> free_word
     | PATH -> free_word
     | QUOTED -> free_phrase

?value_expr: value | LPAR v_or RPAR -> v_group
?v_or: v_and (_OR v_and)*
?v_and: v_not (_AND? v_not)*
?v_not: _NOT v_not -> v_negate
      | listed
      | LPAR v_or RPAR -> v_group
value: VALUE | QUOTED
listed: VALUE | QUOTED
bound: VALUE | QUOTED

_AND.5: /and(?=[\s()"{}]|$)/i
_OR.5: /or(?=[\s()"{}]|$)/i
_NOT.5: /not(?=[\s()"{}]|$)/i
PATH.4: /[A-Za-z]:\\(?:\\.|[^\s()"{}])*/
FIELD.3: /[A-Za-z_@][A-Za-z0-9_@.\-]*(?=\s*[:<>])/
QUOTED: /"(?:\\.|[^"\\])*"/
RANGE_OP: /<=|>=|<|>/
WORD: /(?!(?:and|or|not)(?:[\s()"{}]|$))(?:\\[\s\\():<>"*?{}]|[^\s\\():<>"{}]|\\)+/i
VALUE: /(?!(?:and|or|not)(?:[\s()"{}]|$))(?:\\[\s\\():<>"*?{}]|[^\s\\()<>"{}]|\\)+/i
LPAR: "("
RPAR: ")"
LBRACE: "{"
RBRACE: "}"
COLON: ":"

%import common.WS
%ignore WS
"""

SPECIAL = set('\\():<>"*?{} \t\r\n')

# What the grammar's terminals are called when we tell an analyst what we expected.
EXPECTED_WORDS = {
    "FIELD": "a field name",
    "WORD": "a word",
    "PATH": "a word",
    "VALUE": "a value",
    "QUOTED": 'a "quoted phrase"',
    "RANGE_OP": "a comparison (< <= > >=)",
    "LPAR": "'('",
    "RPAR": "')'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "_AND": "and",
    "_OR": "or",
    "_NOT": "not",
    "$END": "the end of the query",
}


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)


def _unquote(token: str) -> str:
    r"""The text of a "quoted phrase": `\"` is a quote, `\\` a backslash, any other `\` literal."""
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in '"\\':
            out.append(body[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _unescape(token: str) -> list[str | Glob]:
    """An unquoted word's literal runs and its unescaped `*` and `?`."""
    parts: list[str | Glob] = []
    run: list[str] = []
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "\\" and i + 1 < len(token) and token[i + 1] in SPECIAL:
            run.append(token[i + 1])
            i += 2
            continue
        if ch in "*?":
            if run:
                parts.append("".join(run))
                run = []
            parts.append(Glob(ch))
        else:
            run.append(ch)
        i += 1
    if run:
        parts.append("".join(run))
    return parts


class _Refused(Exception):
    """Raised inside the transformer; `parse` turns it into a QueryError with the query text."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


ValueTree = tuple[str, Any]


def _apply(field: str, tree: ValueTree) -> Node:
    """A value expression (`(a or b*)`) applied to its field."""
    kind, item = tree
    if kind == "or":
        return Or(tuple(_apply(field, t) for t in item))
    if kind == "and":
        return And(tuple(_apply(field, t) for t in item))
    if kind == "not":
        return Not(_apply(field, item))
    token: Token = item
    at = token.start_pos or 0
    if token.type == "QUOTED":
        return Match(field, _unquote(token), at)
    parts = _unescape(str(token))
    if parts == [Glob.ANY]:
        return Exists(field, at)
    if any(isinstance(p, Glob) for p in parts):
        return Wildcard(field, tuple(parts), at)
    return Match(field, "".join(str(p) for p in parts), at)


def _scoped(prefix: str, node: Node) -> Node:
    """`prefix:{ node }`: every field of `node` under `prefix.`."""
    if isinstance(node, And | Or):
        return type(node)(tuple(_scoped(prefix, p) for p in node.parts))
    if isinstance(node, Not):
        return Not(_scoped(prefix, node.part))
    if isinstance(node, Text):
        raise _Refused(f"inside {prefix}:{{ }} name a field for each value (name:value)", node.at)
    if isinstance(node, MatchAll):
        return node
    return dataclasses.replace(node, field=f"{prefix}.{node.field}")


def _flat(kind: type[And] | type[Or], items: list[Node | None]) -> Node | None:
    """One And (Or) of the items, nested ones of the same kind merged; punctuation (None) dropped."""
    parts: list[Node] = []
    for item in items:
        if item is not None:
            parts.extend(item.parts if isinstance(item, kind) else (item,))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


@v_args(inline=True)
class _ToAst(Transformer[Token, Node]):
    def start(self, *nodes: Node | None) -> Node:
        if not nodes:
            return MatchAll()
        if nodes[0] is None:
            raise _Refused("nothing to search for: words need letters or digits", 0)
        return nodes[0]

    def or_expr(self, *items: Node | None) -> Node | None:
        return _flat(Or, list(items))

    def and_expr(self, *items: Node | None) -> Node | None:
        return _flat(And, list(items))

    def negate(self, node: Node | None) -> Node | None:
        return Not(node) if node is not None else None

    def group(self, _l: Token, node: Node | None, _r: Token) -> Node | None:
        return node

    def field_value(self, field: Token, _c: Token, tree: ValueTree) -> Node:
        return _apply(str(field), tree)

    def nested(self, field: Token, _c: Token, _l: Token, node: Node | None, _r: Token) -> Node:
        if node is None:
            raise _Refused(
                f"inside {field}:{{ }} name a field for each value (name:value)", field.start_pos or 0
            )
        return _scoped(str(field), node)

    def field_range(self, field: Token, op: Token, bound: Token) -> Node:
        value = _unquote(bound) if bound.type == "QUOTED" else "".join(map(str, _unescape(str(bound))))
        return Range(str(field), op.value, value, field.start_pos or 0)

    def free_word(self, token: Token) -> Node | None:
        """Free text; a word with no letters or digits (`--`, `'`) can match no indexed word and is
        dropped, as search engines drop punctuation."""
        at = token.start_pos or 0
        parts = _unescape(str(token))
        if parts == [Glob.ANY]:
            return MatchAll()
        prefix = bool(parts) and parts[-1] is Glob.ANY
        while parts and parts[-1] is Glob.ANY:
            parts.pop()
        if any(isinstance(p, Glob) for p in parts):
            raise _Refused(
                "in free text a wildcard can only end a word (netsh*); to match inside a value,"
                " name the field (process.name:*netsh*)",
                at,
            )
        text = "".join(str(p) for p in parts)
        found = words(text)
        if not found:
            return None
        ends_in_word = bool(text) and text[-1].isalnum()
        return Text(tuple(found), prefix and ends_in_word, at)

    def free_phrase(self, token: Token) -> Node | None:
        found = words(_unquote(token))
        return Text(tuple(found), False, token.start_pos or 0) if found else None

    def value(self, token: Token) -> ValueTree:
        return ("value", token)

    def listed(self, token: Token) -> ValueTree:
        return ("value", token)

    def v_group(self, _l: Token, tree: ValueTree, _r: Token) -> ValueTree:
        return tree

    def v_or(self, *trees: ValueTree) -> ValueTree:
        return ("or", list(trees))

    def v_and(self, *trees: ValueTree) -> ValueTree:
        return ("and", list(trees))

    def v_negate(self, tree: ValueTree) -> ValueTree:
        return ("not", tree)

    def bound(self, token: Token) -> Token:
        return token


def _expected(names: set[str] | frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted({EXPECTED_WORDS.get(n, n) for n in names}))


def _say(expected: tuple[str, ...]) -> str:
    if not expected:
        return ""
    if len(expected) == 1:
        return f"expected {expected[0]}"
    return f"expected {', '.join(expected[:-1])} or {expected[-1]}"


def _syntax_error(query: str, exc: UnexpectedInput) -> QueryError:
    if isinstance(exc, UnexpectedCharacters):
        offset = exc.pos_in_stream or 0
        char = query[offset]
        expected = _expected(exc.allowed or set())
        if char == '"':
            return QueryError("this quote is never closed", query=query, offset=offset, expected=('"',))
        what = f"unexpected {char!r}"
    elif isinstance(exc, UnexpectedToken):
        token = exc.token
        expected = _expected(exc.accepts or exc.expected)
        if token.type == "$END":
            offset = len(query)
            what = "the query ends too early"
        else:
            offset = token.start_pos or 0
            what = f"unexpected {EXPECTED_WORDS.get(token.type, repr(str(token)))}"
            if token.type in ("WORD", "VALUE", "FIELD", "PATH", "QUOTED"):
                what = f"unexpected {str(token)!r}"
    elif isinstance(exc, UnexpectedEOF):
        offset = len(query)
        expected = _expected(set(exc.expected))
        what = "the query ends too early"
    else:  # pragma: no cover - lark raises only the three above
        offset, expected, what = 0, (), "cannot read this query"
    message = f"{what}: {_say(expected)}" if expected else what
    return QueryError(message, query=query, offset=offset, expected=expected)


def _depth(node: Node) -> int:
    todo: list[tuple[Node, int]] = [(node, 1)]
    deepest = 0
    while todo:
        item, level = todo.pop()
        deepest = max(deepest, level)
        if isinstance(item, And | Or):
            todo.extend((p, level + 1) for p in item.parts)
        elif isinstance(item, Not):
            todo.append((item.part, level + 1))
    return deepest


def parse(query: str, limits: QueryLimits = DEFAULT_LIMITS) -> Node:
    """The syntax tree of `query`, or a QueryError saying where and what was expected."""
    max_length, max_depth = limits.max_length, limits.max_depth
    if len(query) > max_length:
        raise QueryError(f"the query is longer than {max_length} characters", query=query, offset=max_length)
    too_deep = _too_deep(query, max_depth)
    if too_deep is not None:
        raise QueryError(f"parentheses nested deeper than {max_depth} levels", query=query, offset=too_deep)
    try:
        tree = _parser().parse(query)
    except UnexpectedInput as exc:
        raise _syntax_error(query, exc) from None
    try:
        node: Node = _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _Refused):
            raise QueryError(exc.orig_exc.message, query=query, offset=exc.orig_exc.offset) from None
        raise
    if _depth(node) > max_depth:
        raise QueryError(f"the query is nested deeper than {max_depth} levels", query=query, offset=0)
    return node


def _too_deep(query: str, max_depth: int) -> int | None:
    """Where `(` and `{` first nest deeper than `max_depth` outside quotes, checked before lark
    builds a tree that deep (its transformer recurses)."""
    depth = 0
    quoted = escaped = False
    for at, ch in enumerate(query):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "({":
            depth += 1
            if depth > max_depth:
                return at
        elif not quoted and ch in ")}":
            depth -= 1
    return None
