"""Find every message id the console shows (Babel's extractors over templates and Python).

Used by the catalog test, and by translators: `python -m soc_console.i18n_extract` lists the ids that
`locales/vi/LC_MESSAGES/messages.po` lacks.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from soc_console.i18n import catalog

ROOT = Path(__file__).parent
KEYWORDS = {"_": None, "N_": None}
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]


def extract_messages() -> set[str]:
    found: set[str] = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), METHODS, keywords=KEYWORDS, options_map={"templates/**.html": {"extensions": ""}}
    ):
        if isinstance(message, str) and message:
            found.add(message)
    return found


def missing(locale: str = "vi") -> list[str]:
    return sorted(extract_messages() - set(catalog(locale)))


if __name__ == "__main__":
    for msg in missing():
        print(msg)
