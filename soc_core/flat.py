"""The dotted view of an event document (`Event.flat()`), compiled by mypyc when built.

Every event is flattened once for the detection engine (about 50 keys from 14 nested objects
for a Windows event), which as interpreted Python was a seventh of `socpipe detect`'s time; the
module is kept apart from `soc_core.event` (pydantic models, not for mypyc) so that `make native`
can compile it (`deploy/native/build.py`). Values come out as JSON gives them back; only values
JSON would change (times, lists of other than strings, other types) go through orjson, one value
at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

JSON_OPTIONS = orjson.OPT_UTC_Z

#: Dotted names already built, per prefix: `_NAMES["host."]["name"] == "host.name"`. Events repeat
#: their field names, and a name looked up here costs less than one built and hashed per event.
#: Bounded, since field names come from payloads (at most a few MB): names of up to `MAX_KEY`
#: characters, `MAX_NAMES_PER_PREFIX` per prefix, `MAX_PREFIXES` prefixes; others are built as needed.
_NAMES: dict[str, dict[str, str]] = {}
MAX_PREFIXES = 256
MAX_NAMES_PER_PREFIX = 512
MAX_KEY = 64
_CHILDREN: dict[str, str] = {}


def _child(name: str) -> str:
    """The prefix of a nested object's names (`host.`), the same string object every event."""
    prefix = _CHILDREN.get(name)
    if prefix is None:
        prefix = name + "."
        if len(_CHILDREN) < MAX_PREFIXES and len(name) <= MAX_KEY * 4:
            _CHILDREN[name] = prefix
    return prefix


def _names(prefix: str) -> dict[str, str] | None:
    names = _NAMES.get(prefix)
    if names is None and len(_NAMES) < MAX_PREFIXES and len(prefix) <= MAX_KEY * 4:
        names = _NAMES[prefix] = {}
    return names


def flatten_into(doc: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """Add `doc`'s leaves to `out` under dotted keys (`prefix` + `host.name`); lists stay values."""
    names = _names(prefix)
    for key, value in doc.items():
        name: str | None = names.get(key) if names is not None else None
        if name is None:
            name = prefix + key
            if names is not None and len(names) < MAX_NAMES_PER_PREFIX and len(key) <= MAX_KEY:
                names[key] = name
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:  # JSON gives these back as is
            out[name] = value
        elif kind is dict:
            flatten_into(value, _child(name), out)
        elif kind is datetime:  # a JSON string with nothing to escape: the dump without its quotes
            out[name] = orjson.dumps(value, option=JSON_OPTIONS)[1:-1].decode()
        elif kind is list and _all_strings(value):
            out[name] = list(value)
        else:  # floats (NaN), tuples, lists of other things, models: as JSON would give them back
            value = orjson.loads(orjson.dumps(value, option=JSON_OPTIONS))
            if type(value) is dict:
                flatten_into(value, _child(name), out)
            else:
                out[name] = value


def _all_strings(items: list[Any]) -> bool:
    for item in items:  # noqa: SIM110  (a loop compiles to C; all() over a generator does not)
        if type(item) is not str:
            return False
    return True
