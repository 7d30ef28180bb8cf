"""The catalogs: every string the templates and the Python sources mark (`_`, `gettext`, `ngettext`,
`N_`) has a Vietnamese and an English translation, not empty and not fuzzy, with the same
placeholders; each word lives in one catalog, and no catalog keeps words nothing uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from api.i18n import LOCALES, duration
from soc_console.i18n import format_number, translations

ROOT = Path(__file__).resolve().parents[2]
MessageId = str | tuple[str, ...]


def marked(folder: str) -> set[MessageId]:
    """What Babel extracts from `folder` with the project's mapping (`babel.cfg`)."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    found = extract_from_dir(str(ROOT / folder), method_map, options_map, keywords=keywords)
    return {message for _file, _line, message, _comments, _context in found}


def catalog(folder: str, domain: str, locale: str) -> Catalog:
    with (ROOT / folder / "locales" / locale / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
        return read_po(fh, locale=locale, domain=domain)


def problems(ids: set[MessageId], catalogs: list[Catalog]) -> list[str]:
    found = []
    for msgid in sorted(ids, key=str):
        key = msgid[0] if isinstance(msgid, tuple) else msgid
        entry = next((c[key] for c in catalogs if key in c), None)
        if entry is None:
            found.append(f"missing: {msgid!r}")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if entry.fuzzy or not all(strings):
            found.append(f"fuzzy or empty: {msgid!r}")
        if isinstance(msgid, tuple) != entry.pluralizable:
            found.append(f"plural forms differ from the source: {msgid!r}")
    for c in catalogs:
        found += [f"{c.domain}: {m.id!r}: {'; '.join(map(str, errors))}" for m, errors in c.check()]
    return found


@pytest.mark.parametrize("locale", LOCALES)
def test_every_marked_string_is_translated(locale: str) -> None:
    documents = catalog("api", "documents", locale)
    messages = catalog("soc_console", "messages", locale)
    api_ids, console_ids = marked("api"), marked("soc_console")
    assert len(api_ids) > 70 and len(console_ids) > 300  # the extraction sees the sources
    assert problems(api_ids, [documents]) == []
    assert problems(console_ids, [messages, documents]) == []


@pytest.mark.parametrize("locale", LOCALES)
def test_each_word_in_one_catalog_and_none_unused(locale: str) -> None:
    documents = {m.id for m in catalog("api", "documents", locale) if m.id}
    messages = {m.id for m in catalog("soc_console", "messages", locale) if m.id}
    assert documents & messages == set()
    assert documents <= marked("api")
    assert messages <= marked("soc_console")


def test_catalog_terms_follow_the_domain_vocabulary() -> None:
    vi = translations("vi").gettext
    assert [vi(s) for s in ("New", "In progress", "Resolved", "False positive", "Acknowledged")] == [
        "Mới",
        "Đang xử lý",
        "Đã xử lý",
        "Cảnh báo nhầm",
        "Đã tiếp nhận",
    ]
    assert [vi(s) for s in ("Low", "Medium", "High", "Critical")] == [
        "Thấp",
        "Trung bình",
        "Cao",
        "Nghiêm trọng",
    ]
    assert translations("en").gettext("Alert queue") == "Alert queue"
    assert format_number(1234.5, "vi") == "1.234,5" and format_number(1234.5, "en") == "1,234.5"


def test_durations_and_counts_take_the_plural_of_their_language() -> None:
    vi, en = translations("vi"), translations("en")
    assert [duration(s, vi) for s in (60, 1200, 3 * 3600 + 300, 52 * 3600)] == [
        "1 phút",
        "20 phút",
        "3 giờ 5 phút",
        "2 ngày 4 giờ",
    ]
    assert [duration(s, en) for s in (60, 1200, 3600, 52 * 3600)] == [
        "1 minute",
        "20 minutes",
        "1 hour 0 minutes",
        "2 days 4 hours",
    ]
