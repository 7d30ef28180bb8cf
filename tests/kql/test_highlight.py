"""Search results are marked where the query's words occur, as the stores found them (issue 15)."""

from __future__ import annotations

import pytest

from soc_console.render import highlight
from soc_core.kql import parse
from soc_core.kql.highlight import MAX_TERMS, Term, spans, terms


def _marked(query: str, text: str) -> list[str]:
    return [text[a:b] for a, b in spans(text, terms(parse(query)))]


@pytest.mark.parametrize(
    ("query", "text", "marked"),
    [
        ("da xoa", "Người dùng ĐÃ XÓA tệp", ["ĐÃ", "XÓA"]),
        ('"da xoa"', "đã xem, Đã   xóa", ["Đã   xóa"]),  # a phrase: its words together only
        (
            'process.executable:"C:\\\\Windows\\\\System32\\\\netsh.exe"',
            "ran C:\\Windows\\System32\\netsh.exe advfirewall",
            ["C:\\Windows\\System32\\netsh.exe"],
        ),
        ("netsh* and not mimikatz", "netsh.exe mimikatz", ["netsh"]),  # excluded words stay plain
        ("host.name:ws* or user.name:admin", "ws01 admin administrators", ["ws01", "admin"]),
        ("script", "<script>ascript scripts", ["script"]),  # whole words, as the search matched them
        ("event.code >= 4000 and host.name:*", "4625 on ws01", []),  # ranges, existence: nothing
        ("æble", "Æble", ["Æble"]),  # one letter folding to two
        ("process.executable:*sh.exe", "C:\\netsh.exe", ["netsh.exe"]),  # a word's end, then whole
        ("host.name:*eb*", "web01 ebb", ["web01", "ebb"]),  # inside a word
    ],
)
def test_what_a_query_marks(query: str, text: str, marked: list[str]) -> None:
    assert _marked(query, text) == marked


def test_overlapping_terms_are_one_mark() -> None:
    assert spans("netsh advfirewall", [Term(("netsh", "advfirewall")), Term(("advfirewall",))]) == [(0, 17)]


def test_a_query_with_many_words_marks_only_the_first_ones() -> None:
    query = " ".join(f"w{n}" for n in range(MAX_TERMS + 5))
    assert len(terms(parse(query))) == MAX_TERMS


def test_hostile_content_stays_text_when_marked() -> None:
    page = str(highlight('<img src=x onerror="alert(1)"> Đã xóa \u202egnp.exe', "da xoa or onerror"))
    assert "<img" not in page and "\u202e" not in page
    assert "&lt;img src=x <mark>onerror</mark>=&#34;alert(1)&#34;&gt;" in page
    assert "<mark>Đã</mark> <mark>xóa</mark>" in page


def test_a_query_that_does_not_parse_marks_nothing() -> None:
    assert str(highlight("a (b", "a (")) == "a (b"
    assert str(highlight(None, "x")) == ""
