"""Spreadsheet-safe CSV cells (OWASP "CSV injection"): a text cell that starts with `=`, `+`, `-`,
`@`, a tab or a carriage return is read by Excel and LibreOffice as a formula, so a registry name
such as `=HYPERLINK(...)` would run in the analyst's spreadsheet. Such cells get a leading `'`,
which spreadsheets show as text and do not print.

Hand-written rather than `defusedcsv`: that package (3.0) leaves tab and carriage return alone and
rewrites `|` inside cells, and the registry's CSV must read back to what was written. Plain numbers
(`-5`, `+3.2`) are data, not formulas, and stay as they are. The escape is reversible: `unescape`
undoes exactly what `escape` added (a value that itself starts with `'` and a trigger gets one more
`'`), so an exported registry imports unchanged.
"""

from __future__ import annotations

import re

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _formula_like(text: str) -> bool:
    bare = text.lstrip("'")
    return bare.startswith(TRIGGERS) and _NUMBER.fullmatch(bare) is None


def escape(value: object) -> object:
    """The cell to write: text that a spreadsheet would evaluate gets a leading `'`."""
    if isinstance(value, str) and _formula_like(value):
        return "'" + value
    return value


def unescape(text: str) -> str:
    """The value a cell written by `escape` stood for."""
    if text.startswith("'") and _formula_like(text[1:]):
        return text[1:]
    return text
