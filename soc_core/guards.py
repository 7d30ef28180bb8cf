"""What a stage checks on a record before parsing it, so that one hostile record cannot stop a worker.

JSON nesting. orjson reads documents up to 1024 levels deep but writes at most 254 (it raises
`TypeError: Recursion limit reached`); pydantic and the event flattener recurse too. A record
nested deeper than the intake allows (`SOC_MAX_RECORD_DEPTH`; it reached a worker by another
route, say kcat into Kafka) is refused before any of them sees it, as a dead letter with the
reason, instead of failing later while a worker publishes or stores it. The check is cheap for
every normal record: nesting can never exceed the number of `{` and `[` in the text, and two
`count()` calls in C settle it; only a record with more brackets than the limit is scanned (its
strings removed first, so brackets inside values are not counted).

A message between stages is parsed anyway, so `loads_checked` parses first (orjson itself refuses
more than 1024 levels) and, when the brackets do not settle it, measures the nesting of the parsed
value, visiting its objects and arrays only: a batch of raw records is mostly the text of their
payloads, and removing the strings from it was a quarter of the normalize worker's CPU.

Between stages a record is wrapped in a few more levels (an alert carries its event, a rule hit
the event's context), so stages after normalize allow `ENVELOPE_DEPTH` more.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from soc_core.errors import RecordRefused

#: Nesting a record may have, as the intake's default (`SOC_MAX_RECORD_DEPTH`): far more than
#: any log format uses (a Windows event has 4), far less than orjson can write.
DEFAULT_MAX_DEPTH = 32

#: Levels the messages between stages add around a record (alert -> event, hit -> context -> event).
ENVELOPE_DEPTH = 8

#: The deepest document orjson writes.
WRITABLE_DEPTH = 254


def record_depth_limit(configured: int) -> int:
    """The nesting a stage allows: the configured limit, at most what can still be written once a
    stage wraps the record for the next one."""
    return min(configured, WRITABLE_DEPTH - ENVELOPE_DEPTH)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRINGS_B = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STEP = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _STEP)


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of objects and arrays in a JSON text (brackets inside strings not counted);
    for text that is not JSON, a number at most its count of `{` and `[`."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    brackets = _STRINGS_B.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        depth += _STEP[byte]
        if depth > deepest:
            deepest = depth
    return deepest


def check_depth(text: str | bytes, max_depth: int) -> None:
    """Raise `RecordRefused` when `text` (JSON) nests deeper than `max_depth`."""
    if isinstance(text, str):
        if text.count("{") + text.count("[") <= max_depth:
            return
    elif text.count(b"{") + text.count(b"[") <= max_depth:
        return
    depth = json_depth(text)
    if depth > max_depth:
        raise RecordRefused(
            f"record nested {depth} levels deep, more than the {max_depth} allowed", depth=depth
        )


def nesting_depth(value: Any, stop_above: int) -> int:
    """The nesting of a parsed JSON value as `json_depth` counts it (an object or array is one
    level, a scalar none), or the first depth found above `stop_above` (the walk stops there)."""
    if type(value) is not dict and type(value) is not list:
        return 0
    deepest = 1
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > deepest:
            deepest = depth
            if deepest > stop_above:
                return deepest
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                pending.append((child, depth + 1))
    return deepest


def loads_checked(data: bytes | str, max_depth: int) -> Any:
    """`data` parsed as JSON, refused (`RecordRefused`) when it nests deeper than `max_depth`;
    raises `orjson.JSONDecodeError` (a `ValueError`) for text that is not JSON."""
    value = orjson.loads(data)
    if isinstance(data, str):
        brackets = data.count("{") + data.count("[")
    else:
        brackets = data.count(b"{") + data.count(b"[")
    if brackets > max_depth:
        depth = nesting_depth(value, max_depth)
        if depth > max_depth:
            raise RecordRefused(
                f"record nested {depth} or more levels deep, more than the {max_depth} allowed", depth=depth
            )
    return value


def check_size(text: str | bytes, max_bytes: int) -> None:
    """Raise `RecordRefused` when `text` is longer than `max_bytes` (UTF-8)."""
    size = len(text)
    if isinstance(text, str) and size * 4 > max_bytes:  # only then can the encoding pass the limit
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise RecordRefused(f"record of {size} bytes, more than the {max_bytes} allowed", size=size)


def looks_like_json(text: str) -> bool:
    """Whether a payload is a JSON document (a syslog line is not, and may hold brackets freely)."""
    return text[:1] in ("{", "[") or text.lstrip()[:1] in ("{", "[")
