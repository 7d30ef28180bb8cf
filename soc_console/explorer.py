"""What the explorer page builds from a query: filter-in/out clauses and the highlighting of matches.

Clicking a value adds `field:"value"` (or `not field:"value"`) to the query as typed: the analyst
sees and can edit exactly what was added. A query whose top level is an `or` is put in parentheses
first, since `a or b and c` would mean `a or (b and c)`.

Highlighting marks what the query looked for, the way the stores matched it: free-text words anywhere,
ignoring case and diacritics ("da xoa" marks "Đã xóa"), a field's value in that field's column. The
text is made visible (`soc_core.text.show_controls`) and escaped first; only then are `<mark>`s added,
so log content can never become markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from markupsafe import Markup, escape

from soc_core.kql import And, Match, Node, Not, Or, Text, Wildcard
from soc_core.kql.text import fold
from soc_core.text import show_controls

FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_@.\-]*$")
"""A field KQL can name without escaping (the parser's FIELD token)."""
ANYWHERE = ""
"""The key of free-text terms in `Terms`: they are marked in every column."""
Terms = dict[str, list[str]]


def quoted(value: str) -> str:
    """`value` as a KQL phrase: only `"` and `\\` need a backslash inside quotes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def clause(field: str, value: str, *, exclude: bool = False) -> str:
    return f"{'not ' if exclude else ''}{field}:{quoted(value)}"


def add_clause(q: str, node: Node | None, extra: str) -> str:
    """`q and extra`, with `q` in parentheses when its top level is an `or`."""
    q = q.strip()
    if not q:
        return extra
    return f"({q}) and {extra}" if isinstance(node, Or) else f"{q} and {extra}"


def terms(node: Node | None) -> Terms:
    """The folded words and values `node` looks for (what is under a `not` is not marked)."""
    found: Terms = {}
    todo: list[Node] = [node] if node is not None else []
    while todo:
        item = todo.pop()
        if isinstance(item, And | Or):
            todo.extend(item.parts)
        elif isinstance(item, Text):
            words = [w for w in item.words if w]
            if item.prefix and words:
                words[-1] += "*"  # the last word may continue (`netsh*`)
            found.setdefault(ANYWHERE, []).extend(words)
        elif isinstance(item, Match):
            found.setdefault(item.field, []).append(fold(item.value))
        elif isinstance(item, Wildcard):
            literal = max((p for p in item.pattern if isinstance(p, str)), key=len, default="")
            if literal:
                found.setdefault(item.field, []).append(fold(literal))
        elif not isinstance(item, Not):  # Exists, Range, MatchAll mark nothing
            continue
    return found


def _folded(text: str) -> tuple[str, list[int]]:
    """`fold(text)` one character at a time, with each folded character's index in `text`."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        f = fold(ch)
        out.append(f)
        where.extend([i] * len(f))
    return "".join(out), where


def _pattern(words: Iterable[str], values: Iterable[str]) -> re.Pattern[str] | None:
    """Free-text words as whole words (`da` does not mark "đăng"; `netsh*` marks "netsh.exe"'s
    start), values anywhere in their field."""
    parts = [
        (rf"(?<![^\W_]){re.escape(w[:-1])}" if w.endswith("*") else rf"(?<![^\W_]){re.escape(w)}(?![^\W_])")
        for w in sorted({w for w in words if w.strip("*")}, key=len, reverse=True)
    ]
    parts += [re.escape(v) for v in sorted({v for v in values if v}, key=len, reverse=True)]
    return re.compile("|".join(parts)) if parts else None


def mark(text: str | None, words: Iterable[str], values: Iterable[str] = ()) -> Markup:
    """`text` shown and escaped; each occurrence of free-text `words` and field `values` (folded)
    wrapped in `<mark>`."""
    shown = show_controls(text or "")
    pattern = _pattern(words, values)
    if pattern is None or not shown:
        return escape(shown)
    folded, where = _folded(shown)
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(folded):
        if match.end() == match.start():
            continue
        start, end = where[match.start()], where[match.end() - 1] + 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(str(escape(shown[last:start])))
        out.append(f"<mark>{escape(shown[start:end])}</mark>")
        last = end
    out.append(str(escape(shown[last:])))
    return Markup("".join(out))


def marked(field: str, text: str | None, found: Terms) -> Markup:
    """A cell of `field`: the query's free text and its values for this field marked."""
    return mark(text, found.get(ANYWHERE, []), found.get(field, []) if field != ANYWHERE else [])
