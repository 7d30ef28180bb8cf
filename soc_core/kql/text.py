"""Words for free-text search, the same on every store: case- and diacritics-insensitive.

Both stores index the words of a document (`search_text`) and a query's free text is cut into
words by the same function, so SQLite (FTS5) and Elasticsearch (a whitespace-analysed field) see
identical tokens: "Đã xóa" and "da xoa" are both `da xoa`; `C:\\Windows\\System32\\netsh.exe` is
`c windows system32 netsh exe`, a phrase.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any

# Letters without a decomposition that asciifolding still folds (Vietnamese đ, Nordic ø, ...).
_EXTRA_FOLD = str.maketrans(
    {"đ": "d", "ð": "d", "ø": "o", "ł": "l", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th"}
)
_WORD = re.compile(r"[^\W_]+")
#: Document fields whose words are not searched: the raw record repeats the normalised fields.
UNSEARCHED = frozenset({"event.original"})


def fold(text: str) -> str:
    """Lower case without diacritics: `Đã Xóa` -> `da xoa`."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().translate(_EXTRA_FOLD)


def words(text: str) -> list[str]:
    """The folded words (letters and digits) of `text`; everything else separates them."""
    return _WORD.findall(fold(text))


def _leaves(value: Any, path: str) -> Iterator[str]:
    if path in UNSEARCHED:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, path)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)


def search_text(doc: dict[str, Any]) -> str:
    """Every word of a JSON document's values, space-separated: what free text searches."""
    return " ".join(w for leaf in _leaves(doc, "") for w in words(leaf))
