"""Where a query's words occur in a piece of text, for marking search results.

The marks follow the search: a query's free text and the values its fields are asked for are cut
into the same folded words the stores search (`soc_core.kql.text`), so `da xoa` marks "Đã xóa" and
`process.executable:"C:\\Windows\\System32\\netsh.exe"` marks the path wherever it is shown. What a
query excludes (under `not`) and what cannot be words (ranges, `field:*`) is never marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from soc_core.kql.ast import And, Glob, Match, Node, Not, Or, Text, Wildcard
from soc_core.kql.text import fold, word_spans, words

MAX_TERMS = 16
"""More terms than a reader can tell apart: the first ones are marked, the rest are not."""


@dataclass(frozen=True, slots=True)
class Term:
    """Consecutive folded words to find: with `prefix` the last may continue (`netsh*`), with
    `suffix` the first may be the end of a longer word (`*sh.exe`). `field` is the field the query
    asked it of (None: free text, found anywhere)."""

    words: tuple[str, ...]
    prefix: bool = False
    suffix: bool = False
    field: str | None = None


def terms(node: Node) -> list[Term]:
    """The terms a query looks for, in query order, without repeats (at most `MAX_TERMS`)."""
    found: list[Term] = []
    _collect(node, found)
    unique = list(dict.fromkeys(t for t in found if t.words))
    return unique[:MAX_TERMS]


def _collect(node: Node, found: list[Term]) -> None:
    if isinstance(node, And | Or):
        for part in node.parts:
            _collect(part, found)
    elif isinstance(node, Not):
        return  # what a query excludes is not in its results
    elif isinstance(node, Text):
        found.append(Term(node.words, node.prefix))
    elif isinstance(node, Match):
        found.append(Term(tuple(words(node.value)), field=node.field))
    elif isinstance(node, Wildcard):
        found.extend(_wildcard_terms(node.field, node.pattern))


def _wildcard_terms(field: str, pattern: tuple[str | Glob, ...]) -> list[Term]:
    """The literal runs of a wildcard, each a term, continuing into the globs around it."""
    out: list[Term] = []
    for i, part in enumerate(pattern):
        if isinstance(part, str):
            before = pattern[i - 1] if i > 0 else None
            after = pattern[i + 1] if i + 1 < len(pattern) else None
            out.append(
                Term(tuple(words(part)), prefix=after is Glob.ANY, suffix=before is Glob.ANY, field=field)
            )
    return out


def for_field(found: list[Term], field: str | None) -> list[Term]:
    """What to mark in one field's value: the free text, and what the query asked of that field."""
    return [t for t in found if t.field is None or t.field == field]


def _folded(text: str) -> tuple[str, list[int]]:
    """`text` folded, and for each folded character the index of the character it came from."""
    if text.isascii():
        return text.lower(), list(range(len(text)))
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = fold(ch)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def spans(text: str, wanted: list[Term]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) ranges of `text` where a term occurs as whole words, in order."""
    if not wanted or not text:
        return []
    folded, origin = _folded(text)
    tokens = word_spans(folded)
    found: list[tuple[int, int]] = []
    for term in wanted:
        n = len(term.words)
        for i in range(len(tokens) - n + 1):
            if _matches(term, [tok[0] for tok in tokens[i : i + n]]):
                found.append((origin[tokens[i][1]], origin[tokens[i + n - 1][2] - 1] + 1))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _matches(term: Term, seen: list[str]) -> bool:
    """`seen` (as many words as the term) is the term, its ends continuing where it allows."""
    for i, (want, got) in enumerate(zip(term.words, seen, strict=True)):
        first, last = i == 0, i == len(seen) - 1
        if want == got:
            continue
        if first and last and term.prefix and term.suffix and want in got:
            continue
        if last and term.prefix and got.startswith(want):
            continue
        if first and term.suffix and got.endswith(want):
            continue
        return False
    return True
