"""Words for free-text search, the same on every store: case- and diacritics-insensitive.

Both stores index the words of a document (`search_text`) and a query's free text is cut into
words by the same function, so SQLite (FTS5) and Elasticsearch (a whitespace-analysed field) see
identical tokens: "Đã xóa" and "da xoa" are both `da xoa`; `C:\\Windows\\System32\\netsh.exe` is
`c windows system32 netsh exe`, a phrase.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

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


def _leaves(doc: dict[str, Any]) -> list[str]:
    """The document's string and number values in document order, `event.original` left out (a
    loop without paths: this runs for every event written)."""
    top = dict(doc)
    event = top.get("event")
    if isinstance(event, dict) and "original" in event:
        top["event"] = {k: v for k, v in event.items() if k != "original"}
    out: list[str] = []
    stack: list[Any] = [top]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            stack.extend(reversed(value.values()))
        elif isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append(str(value))
    return out


def search_text(doc: dict[str, Any]) -> str:
    """Every word of a JSON document's values, space-separated: what free text searches."""
    parts = [_leaf_words(leaf) if len(leaf) <= 256 else " ".join(words(leaf)) for leaf in _leaves(doc)]
    return " ".join(p for p in parts if p)
