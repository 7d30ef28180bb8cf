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
from typing import Any, Final

import orjson

JSON_OPTIONS: Final = orjson.OPT_UTC_Z
_dumps: Final = orjson.dumps  # held: compiled, a module attribute is looked up at every call

#: Dotted names already built, as a tree of the nested objects' places: `_ROOT.children["host"]`
#: is `host.`, whose `names["name"] == "host.name"`. Events repeat their field names, and a name
#: looked up here costs less than one built and hashed per event; holding a nested object's place
#: (rather than looking its prefix up by string, twice per nested object) saves the rest.
#: Bounded, since field names come from payloads (at most a few MB): names of up to `MAX_KEY`
#: characters, `MAX_NAMES_PER_PREFIX` per place, `MAX_PREFIXES` places; others are built as needed.
MAX_PREFIXES = 256
MAX_NAMES_PER_PREFIX = 512
MAX_KEY = 64


class Place:
    """One nested object's place among the dotted names: its prefix (`host.`), the dotted names
    of its keys built so far, and the places of the objects nested in it."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: dict[str, str] = {}
        self.children: dict[str, Place] = {}


_ROOT = Place("")
_place_count = 1


def place(prefix: str) -> Place | None:
    """The remembered place of the dotted `prefix` (`winlog.event_data.`), if there is one."""
    found: Place | None = _ROOT
    for part in prefix.split(".")[:-1] if prefix else []:
        found = found.children.get(part) if found is not None else None
    return found


def _child(parent: Place | None, key: str, name: str) -> Place | None:
    global _place_count
    if parent is None:
        return None
    found = parent.children.get(key)
    if found is None and _place_count < MAX_PREFIXES and len(key) <= MAX_KEY:
        found = parent.children[key] = Place(name + ".")
        _place_count += 1
    return found


def flatten_into(doc: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """Add `doc`'s leaves to `out` under dotted keys (`prefix` + `host.name`); lists stay values."""
    _flatten(doc, _ROOT if not prefix else place(prefix), prefix, out)


def make_place(prefix: str) -> Place | None:
    """The place of the dotted `prefix` (`winlog.event_data.`), made if new (None past the bound):
    for a writer of the flat view that holds its places (`normalizers.windows_ecs.to_flat`)."""
    found: Place | None = _ROOT
    name = ""
    for part in prefix.split(".")[:-1]:
        name = name + "." + part if name else part
        found = _child(found, part, name)
    return found


def flatten_at(doc: dict[str, Any], at: Place | None, prefix: str, out: dict[str, Any]) -> None:
    """`flatten_into(doc, prefix, out)` with the place of `prefix` already at hand (`make_place`)."""
    _flatten(doc, at, prefix, out)


def flatten_under(doc: dict[str, Any], key: str, out: dict[str, Any]) -> None:
    """`flatten_into(doc, key + ".", out)` for a top-level key (`event`): its place by one lookup."""
    inner = _child(_ROOT, key, key)
    _flatten(doc, inner, inner.prefix if inner is not None else key + ".", out)


def json_time(value: datetime) -> str:
    """A time as the flat view holds it: its JSON string (RFC 3339, `Z` for UTC), unquoted."""
    return _dumps(value, option=JSON_OPTIONS)[1:-1].decode()


def _flatten(doc: dict[str, Any], at: Place | None, prefix: str, out: dict[str, Any]) -> None:
    names = at.names if at is not None else None
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
            inner = _child(at, key, name)
            _flatten(value, inner, inner.prefix if inner is not None else name + ".", out)
        elif kind is datetime:  # a JSON string with nothing to escape: the dump without its quotes
            out[name] = json_time(value)
        elif kind is list and _all_strings(value):
            out[name] = list(value)
        else:  # floats (NaN), tuples, lists of other things, models: as JSON would give them back
            value = orjson.loads(orjson.dumps(value, option=JSON_OPTIONS))
            if type(value) is dict:
                inner = _child(at, key, name)
                _flatten(value, inner, inner.prefix if inner is not None else name + ".", out)
            else:
                out[name] = value


def _all_strings(items: list[Any]) -> bool:
    for item in items:  # noqa: SIM110  (a loop compiles to C; all() over a generator does not)
        if type(item) is not str:
            return False
    return True
