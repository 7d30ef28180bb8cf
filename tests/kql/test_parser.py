"""The query language's grammar: every construct, precedence, and errors that say where and what."""

from __future__ import annotations

import pytest

from soc_core.errors import QueryError
from soc_core.kql import EVENT_FIELDS, Node, parse, parse_for
from soc_core.kql.ast import And, Exists, Glob, Match, MatchAll, Not, Or, Range, Text, Wildcard
from soc_core.kql.text import fold, search_text, words


def t(*ws: str, prefix: bool = False) -> Text:
    return Text(ws, prefix)


NETSH = "C:\\Windows\\System32\\netsh.exe"

PARSED: list[tuple[str, Node]] = [
    ("", MatchAll()),
    ("   ", MatchAll()),
    ("*", MatchAll()),
    ("user.name:admin", Match("user.name", "admin")),
    ("user.name : admin", Match("user.name", "admin")),
    ('user.name:"Nguyễn Văn A"', Match("user.name", "Nguyễn Văn A")),
    ('message:"say \\"hi\\" \\\\ now"', Match("message", 'say "hi" \\ now')),
    (f'process.executable:"{NETSH}"', Match("process.executable", NETSH)),
    (f"process.executable:{NETSH}", Match("process.executable", NETSH)),
    ("@timestamp:*", Exists("@timestamp")),
    ("host.name:ws*", Wildcard("host.name", ("ws", Glob.ANY))),
    ("host.name:*db?1", Wildcard("host.name", (Glob.ANY, "db", Glob.ONE, "1"))),
    ("user.name:a\\*b", Match("user.name", "a*b")),
    ('user.name:"a*b"', Match("user.name", "a*b")),
    ("f:a\\:b\\(c\\)", Match("f", "a:b(c)")),
    ("source.port >= 1024", Range("source.port", ">=", "1024")),
    ("source.port<80", Range("source.port", "<", "80")),
    ('@timestamp > "2026-01-01T00:00:00+07:00"', Range("@timestamp", ">", "2026-01-01T00:00:00+07:00")),
    ("event.code:(4624 or 4625)", Or((Match("event.code", "4624"), Match("event.code", "4625")))),
    ("tags:(a and not b)", And((Match("tags", "a"), Not(Match("tags", "b"))))),
    ("tags:(a b)", And((Match("tags", "a"), Match("tags", "b")))),
    ("user:{ name:admin and domain:CORP }", And((Match("user.name", "admin"), Match("user.domain", "CORP")))),
    ("process:{ parent:{ name:cmd.exe } }", Match("process.parent.name", "cmd.exe")),
    # free text
    ("mimikatz", t("mimikatz")),
    ("Đã Xóa", And((t("da"), t("xoa")))),
    ('"Đã xóa tệp"', t("da", "xoa", "tep")),
    ("netsh*", t("netsh", prefix=True)),
    ("netsh.exe", t("netsh", "exe")),
    ("Sys.*", t("sys")),
    (NETSH, t("c", "windows", "system32", "netsh", "exe")),
    ("' OR 1=1 --", t("1", "1")),
    ("android or notes and nothing", Or((t("android"), And((t("notes"), t("nothing")))))),
    # precedence: not > and > or; implicit and; parentheses
    ("a or b and c", Or((t("a"), And((t("b"), t("c")))))),
    ("a and b or c", Or((And((t("a"), t("b"))), t("c")))),
    ("(a or b) and c", And((Or((t("a"), t("b"))), t("c")))),
    ("not a and b", And((Not(t("a")), t("b")))),
    ("not (a and b)", Not(And((t("a"), t("b"))))),
    ("a not b", And((t("a"), Not(t("b"))))),
    ("a AND b Or NOT c", Or((And((t("a"), t("b"))), Not(t("c"))))),
    ("a and (b and c)", And((t("a"), t("b"), t("c")))),
    ("not not a", Not(Not(t("a")))),
    ("x:1 or (y:2 and z:3)", Or((Match("x", "1"), And((Match("y", "2"), Match("z", "3")))))),
]


@pytest.mark.parametrize(("query", "tree"), PARSED, ids=[q or "<empty>" for q, _ in PARSED])
def test_parse(query: str, tree: Node) -> None:
    assert parse(query) == tree


def test_nodes_remember_where_they_came_from() -> None:
    node = parse("host.name:ws01 and  mimikatz")
    assert isinstance(node, And)
    assert [p.at for p in node.parts if isinstance(p, Match | Text)] == [10, 20]


ERRORS: list[tuple[str, int, int, str, tuple[str, ...]]] = [
    # query, line, column, message contains, expected contains
    ("user.name:", 1, 11, "ends too early", ("a value", 'a "quoted phrase"')),
    ("a and", 1, 6, "ends too early", ("a field name", "a word")),
    ("(a or b", 1, 8, "ends too early", ("')'",)),
    ("a or b)", 1, 7, "unexpected ')'", ("the end of the query",)),
    ('message:"never closed', 1, 9, "never closed", ('"',)),
    ("source.port >=", 1, 15, "ends too early", ("a value",)),
    ("a and\n  or b", 2, 3, "unexpected or", ("a field name",)),
    ("f:{a}", 1, 4, "name a field", ()),
    ("*net*", 1, 1, "can only end a word", ()),
    ("ne?sh", 1, 1, "can only end a word", ()),
    ("--", 1, 1, "nothing to search for", ()),
    ("(" * 21 + "a" + ")" * 21, 1, 21, "nested deeper than 20", ()),
]


@pytest.mark.parametrize(
    ("query", "line", "column", "says", "expected"), ERRORS, ids=[e[0][:30] for e in ERRORS]
)
def test_errors_point_at_the_position_and_say_what_was_expected(
    query: str, line: int, column: int, says: str, expected: tuple[str, ...]
) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    err = caught.value
    assert (err.line, err.column) == (line, column)
    assert says in err.message
    assert set(expected) <= set(err.expected)
    assert err.offset == sum(len(row) + 1 for row in query.split("\n")[: line - 1]) + column - 1


def test_a_long_query_is_refused_before_it_is_read() -> None:
    with pytest.raises(QueryError, match="longer than 10000"):
        parse("a " * 6000)


FIELD_ERRORS = [
    ("usr.name:admin", "usr.name is not a field", ("user.name",)),
    ("event.original:x", "not a field", ()),
    ("process.pid:abc", "is not a number", ("a number (4624, 1.5)",)),
    ("process.pid:12*", "wildcards work only on text fields", ()),
    ('@timestamp > "yesterday"', "is not a date", ()),
    ("source.ip:10.0.*", "an IP field takes a network", ()),
    ("source.ip:not-an-ip", "is not an IP address", ()),
    ("source.ip > 10.0.0.1", "use a network", ()),
    ("winlog.event_data.TargetUserName:*min", "can only end the value", ()),
]


@pytest.mark.parametrize(("query", "says", "expected"), FIELD_ERRORS, ids=[e[0] for e in FIELD_ERRORS])
def test_fields_and_values_are_checked_against_what_is_searched(
    query: str, says: str, expected: tuple[str, ...]
) -> None:
    with pytest.raises(QueryError, match=says.replace("(", r"\(").replace(")", r"\)")) as caught:
        parse_for(query, EVENT_FIELDS)
    assert set(expected) <= set(caught.value.expected)
    assert caught.value.column > 0


def test_flattened_keys_and_known_fields_pass() -> None:
    query = "winlog.event_data.AnyKey:x and labels.team:a* and source.ip:10.0.0.0/8 and process.pid >= 4"
    assert isinstance(parse_for(query, EVENT_FIELDS), And)


def test_words_ignore_case_and_diacritics() -> None:
    assert fold("Đã XÓA Ærø") == "da xoa aero"
    assert words("C:\\Windows\\System32\\netsh.exe") == ["c", "windows", "system32", "netsh", "exe"]
    assert words("nhật_ký--bảo/mật") == ["nhat", "ky", "bao", "mat"]
    doc = {"message": "Đã xóa", "event": {"original": "<raw>secret</raw>", "code": 4624}, "ok": True}
    assert search_text(doc) == "da xoa 4624"
