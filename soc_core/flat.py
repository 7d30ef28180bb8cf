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


def flatten_into(doc: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """Add `doc`'s leaves to `out` under dotted keys (`prefix` + `host.name`); lists stay values."""
    for key, value in doc.items():
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:  # JSON gives these back as is
            out[prefix + key] = value
        elif kind is dict:
            flatten_into(value, prefix + key + ".", out)
        elif kind is datetime:  # a JSON string with nothing to escape: the dump without its quotes
            out[prefix + key] = orjson.dumps(value, option=JSON_OPTIONS)[1:-1].decode()
        elif kind is list and _all_strings(value):
            out[prefix + key] = list(value)
        else:  # floats (NaN), tuples, lists of other things, models: as JSON would give them back
            value = orjson.loads(orjson.dumps(value, option=JSON_OPTIONS))
            if type(value) is dict:
                flatten_into(value, prefix + key + ".", out)
            else:
                out[prefix + key] = value


def _all_strings(items: list[Any]) -> bool:
    for item in items:  # noqa: SIM110  (a loop compiles to C; all() over a generator does not)
        if type(item) is not str:
            return False
    return True
