"""The console's catalogs: every message the templates and Python mark has a Vietnamese translation."""

from __future__ import annotations

from soc_console.i18n import catalog, format_number, translate
from soc_console.i18n_extract import extract_messages, missing


def test_every_marked_message_has_a_vietnamese_translation() -> None:
    assert len(extract_messages()) > 100
    assert missing("vi") == []


def test_catalog_terms_follow_the_domain_vocabulary() -> None:
    vi = catalog("vi")
    assert [vi[s] for s in ("New", "In progress", "Resolved", "False positive", "Acknowledged")] == [
        "Mới",
        "Đang xử lý",
        "Đã xử lý",
        "Cảnh báo nhầm",
        "Đã tiếp nhận",
    ]
    assert [vi[s] for s in ("Low", "Medium", "High", "Critical")] == [
        "Thấp",
        "Trung bình",
        "Cao",
        "Nghiêm trọng",
    ]
    assert translate("en", "Alert queue") == "Alert queue"
    assert format_number(1234.5, "vi") == "1.234,5" and format_number(1234.5, "en") == "1,234.5"
