"""What the explorer page builds from a query: filter-in/out clauses and the highlighting of matches.

Clicking a value adds `field:"value"` (or `not field:"value"`) to the query as typed: the analyst
sees and can edit exactly what was added. A query whose top level is an `or` is put in parentheses
first, since `a or b and c` would mean `a or (b and c)`.

Highlighting (`soc_core.kql.highlight`, drawn by `soc_console.render.mark`) marks what the query
looked for, the way the stores matched it: free-text words anywhere, ignoring case and diacritics
("da xoa" marks "Đã xóa"), a field's value in that field's column. The text is escaped first; only
then are `<mark>`s added, so log content can never become markup.
"""

from __future__ import annotations

import re

from markupsafe import Markup

from soc_console.render import mark
from soc_core.kql import Node, Or
from soc_core.kql.highlight import Term, for_field
from soc_core.kql.highlight import terms as highlight_terms

FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_@.\-]*$")
"""A field KQL can name without escaping (the parser's FIELD token)."""
ANYWHERE = None
"""The field of the raw record: only the query's free text is marked there."""


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


def terms(node: Node | None) -> list[Term]:
    """What the query looks for (`soc_core.kql.highlight`): nothing for the empty query."""
    return highlight_terms(node) if node is not None else []


def marked(field: str | None, text: str | None, found: list[Term]) -> Markup:
    """A value of `field` (None: the raw record) with the query's free text and what it asked of
    that field marked, escaped first."""
    return mark(text, for_field(found, field))
