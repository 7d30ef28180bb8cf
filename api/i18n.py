"""The words the API's documents and the console share, in Vietnamese and English, through Babel.

The dossier's PDF and DOCX, the coverage report and the JSON labels (checklist titles, ad-hoc
reasons) print the same vocabulary as the console pages beside them: statuses, kinds, checklist
items, durations ("20 phút" / "20 minutes") and counts. That vocabulary is the `documents` catalog
here; the console merges it into its own catalog, so each word is translated once.

Message ids are English (the gettext convention) and both languages have a catalog, so English
wording and plurals are explicit too. The `.po` files are compiled to `.mo` in memory when first
used: a translator edits one text file and no binary lives in git. `tests/api/test_auth_i18n.py`
fails when a marked string is missing, empty or fuzzy in either language.

Refreshing this catalog after changing a marked string (no make; `babel.cfg` is at the repository
root; the console's catalog has the same steps, in the docstring of its i18n module):

    pybabel extract -F babel.cfg -k N_ --no-location -o /tmp/documents.pot api
    pybabel update -i /tmp/documents.pot -d api/locales -D documents -N --ignore-obsolete
    # then translate the new entries in vi/ and en/

    t = translations("vi")
    label(FINDING_STATUS, "open", t)  # 'Chưa khắc phục'
    duration(1200, t)                 # '20 phút'
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = ("vi", "en")
CATALOGS = Path(__file__).parent / "locales"
DOMAIN = "documents"


def compile_catalog(folder: Path, domain: str, locale: str) -> Translations:
    """`folder/<locale>/LC_MESSAGES/<domain>.po` as Babel `Translations` (fuzzy entries left out)."""
    with (folder / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        catalog = read_po(fh, locale=locale, domain=domain)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo, domain=domain)


@cache
def translations(locale: str) -> Translations:
    return compile_catalog(CATALOGS, DOMAIN, locale)


def N_(message: str) -> str:
    """Mark a message id for extraction where it is defined; it is translated where it is shown."""
    return message


def label(table: Mapping[str, str], key: str | None, t: Translations) -> str:
    """The word for a code (`"open"` -> "Chưa khắc phục"); an unknown code shows as itself."""
    if key is None:
        return "—"
    message = table.get(key)
    return t.gettext(message) if message else key


def duration(seconds: float | None, t: Translations) -> str:
    """20 phút · 3 giờ 5 phút · 2 ngày 4 giờ (20 minutes · 3 hours 5 minutes · 2 days 4 hours)."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24) if hours >= 48 else (0, hours)
    parts = [
        t.ngettext("%(num)d day", "%(num)d days", days) % {"num": days} if days else "",
        t.ngettext("%(num)d hour", "%(num)d hours", hours) % {"num": hours} if hours or days else "",
        t.ngettext("%(num)d minute", "%(num)d minutes", minutes) % {"num": minutes} if not days else "",
    ]
    return " ".join(p for p in parts if p)
