"""Console languages: Vietnamese by default, English on request, through Babel and Jinja's i18n.

The language is the `socpipe_lang` cookie the switch in the header sets (`POST /lang`). Each page is
rendered with Babel `Translations` for it: the console's own catalog (`locales/<lang>/LC_MESSAGES/
messages.po`) merged with the vocabulary it shares with the API's documents (`api.i18n`). Templates
call `_()`, `gettext()` and `ngettext()` (Jinja's `jinja2.ext.i18n`, new-style: `%(name)s`
placeholders are filled and escaped by Jinja). A word the API's documents also print belongs to
`api/locales` instead; `tests/api/test_auth_i18n.py` fails on a word in both catalogs.

Refreshing the console's catalog after changing a marked string (no make):

    pybabel extract -F babel.cfg -k N_ --no-location -o /tmp/messages.pot soc_console
    pybabel update -i /tmp/messages.pot -d soc_console/locales -D messages -N --ignore-obsolete
    # then translate the new entries in vi/ and en/ (words already in api/locales: delete them here)

    translations("vi").gettext("Alerts")  # 'Cảnh báo'
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.numbers import format_decimal
from babel.support import Translations
from fastapi import Request

from api import i18n as documents
from api.i18n import LOCALES, compile_catalog

__all__ = ["DEFAULT_LOCALE", "LANG_COOKIE", "LOCALES", "format_number", "locale_of", "translations"]

DEFAULT_LOCALE = "vi"
LANG_COOKIE = "socpipe_lang"
CATALOGS = Path(__file__).parent / "locales"
DOMAIN = "messages"


@cache
def translations(locale: str) -> Translations:
    """The console's catalog for `locale` with the documents' vocabulary merged in."""
    own = compile_catalog(CATALOGS, DOMAIN, locale)
    own.merge(documents.translations(locale))
    return own


def locale_of(request: Request) -> str:
    value = request.cookies.get(LANG_COOKIE, DEFAULT_LOCALE)
    return value if value in LOCALES else DEFAULT_LOCALE


def format_number(value: float, locale: str) -> str:
    """1.234,5 in Vietnamese, 1,234.5 in English (CLDR data through Babel)."""
    return format_decimal(value, locale="vi_VN" if locale == "vi" else "en_US")
