"""Words for free-text search, the same on every store: case- and diacritics-insensitive.

Both stores index the words of a document (`search_text`) and a query's free text is cut into
words by the same function, so SQLite (FTS5) and Elasticsearch (a whitespace-analysed field) see
identical tokens: "Đã xóa" and "da xoa" are both `da xoa`; `C:\\Windows\\System32\\netsh.exe` is
`c windows system32 netsh exe`, a phrase.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

# Letters without a decomposition that asciifolding still folds (Vietnamese đ, Nordic ø, ...).
_EXTRA_FOLD = str.maketrans(
    {"đ": "d", "ð": "d", "ø": "o", "ł": "l", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)
_WORD = re.compile(r"[^\W_]+")
# `event.original`'s words are not searched: the raw record repeats the normalised fields.


def fold(text: str) -> str:
    """Lower case without diacritics: `Đã Xóa` -> `da xoa`."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().translate(_EXTRA_FOLD)


def words(text: str) -> list[str]:
    """The folded words (letters and digits) of `text`; everything else separates them."""
    return _WORD.findall(fold(text))


def word_spans(folded: str) -> list[tuple[str, int, int]]:
    """Each word of already folded text with where it starts and ends (for marking results)."""
    return [(m.group(0), m.start(), m.end()) for m in _WORD.finditer(folded)]


@lru_cache(maxsize=65_536)
def _leaf_words(text: str) -> str:
    """A value's words, space-joined; values repeat across events (hosts, users, paths), so the
    folding of each is remembered (this is on the write path of every event)."""
    return " ".join(words(text))


def leaves(doc: dict[str, Any]) -> list[str]:
    """The document's string and number values in document order, `event.original` and
    `ecs.version` left out (the schema's version is in every event: its words 9, 4 and 0 would
    make free text for a digit match everything) — an event's, and an alert's triggering event's
    (`{"rule": ..., "event": {<event document>}}`), whose raw record was more than half of an
    alert's words and of the cost of indexing it.

    A walk that dispatches on the exact type first (the common case) and copies nothing: this
    runs for every event written, and the stack-and-isinstance walk was a third of `search_text`.
    """
    out: list[str] = []
    inner = doc.get("event")
    if type(inner) is dict and type(inner.get("event")) is dict:  # an alert: its event below it
        doc = {**doc, "event": _without_raw(inner)}
    else:
        doc = _without_raw(doc)
    _walk(doc.values(), out)
    return out


def _without_raw(doc: dict[str, Any]) -> dict[str, Any]:
    """An event document without `event.original` and `ecs` (shallow copies, only when needed)."""
    event = doc.get("event")
    if isinstance(event, dict) and "original" in event:
        doc = {**doc, "event": {k: v for k, v in event.items() if k != "original"}}
    return {k: v for k, v in doc.items() if k != "ecs"} if "ecs" in doc else doc


def _walk(values: Iterable[Any], out: list[str]) -> None:
    for value in values:
        kind = type(value)
        if kind is str:
            out.append(value)
        elif kind is dict:
            _walk(value.values(), out)
        elif kind is list:
            _walk(value, out)
        elif kind is int or kind is float:
            out.append(str(value))
        elif kind is bool or value is None:
            continue
        elif isinstance(value, str):  # subclasses (enums) as the plain types would be
            out.append(value)
        elif isinstance(value, dict):
            _walk(value.values(), out)
        elif isinstance(value, list):
            _walk(value, out)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(str(value))
        elif isinstance(value, datetime):  # an event's times, as its JSON gives them (`Event.to_json`)
            out.append(orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode())


def leaf_words(leaf: str) -> str:
    """One value's folded words, space-joined (remembered for the short, repeating ones)."""
    return _leaf_words(leaf) if len(leaf) <= 256 else " ".join(words(leaf))


def search_text(doc: dict[str, Any]) -> str:
    """Every word of a JSON document's values, space-separated: what free text searches. An
    `Event.doc` gives the words of its JSON (its times as `Event.to_json` writes them)."""
    parts: list[str] = []
    for leaf in leaves(doc):  # `leaf_words`, inlined: called for every value of every event indexed
        found = _leaf_words(leaf) if len(leaf) <= 256 else " ".join(words(leaf))
        if found:
            parts.append(found)
    return " ".join(parts)
