"""Console languages: Vietnamese by default, English on request, from gettext catalogs read with Babel.

Message ids are English (the usual gettext convention); `locales/vi/LC_MESSAGES/messages.po` holds the
Vietnamese. The `.po` is read directly (Babel's `read_po`), so no compiled `.mo` lives in git and a
translator edits one text file. `tests/api/test_auth_i18n.py` extracts every `_()` from the templates
and this package with Babel's extractors and fails when one has no Vietnamese translation.

    _ = gettext_for("vi")
    _("Alerts")  # 'Cảnh báo'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from fastapi import Request

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"
LANG_COOKIE = "socpipe_lang"
CATALOG_DIR = Path(__file__).parent / "locales"


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid -> translation for `locale` (English is the msgids themselves: an empty catalog)."""
    path = CATALOG_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == "en" or not path.exists():
        return {}
    with path.open("rb") as fh:
        po = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in po if m.id and m.string and not m.fuzzy}


def translate(locale: str, message: str) -> str:
    return catalog(locale).get(message, message)


def gettext_for(locale: str) -> Callable[[str], str]:
    return lambda message: translate(locale, message)


def locale_of(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE, DEFAULT_LOCALE)
    return value if value in LOCALES else DEFAULT_LOCALE


def format_number(value: float, locale: str) -> str:
    """1.234,5 in Vietnamese, 1,234.5 in English (CLDR data through Babel)."""
    return format_decimal(value, locale="vi_VN" if locale == "vi" else "en_US")
