"""Keep the cyclic garbage collector off what a process built before it serves or consumes.

A receiver allocates several GC-tracked objects per record (the parsed JSON object, the
`RawRecord` and its field dict), so the collector runs often, and each full collection walks
every tracked object in the process. After startup `socpipe api` holds about 290,000 of them
(FastAPI routes, pydantic schemas, the rule engine, the registry): under bench load its full
collections took a quarter to a third of the process's CPU, more than parsing the records.

What startup built lives as long as the process, so it is moved out of the collector's reach
with `gc.freeze()`; everything created afterwards is collected as before. Stage workers do the
same: the detect worker's compiled rule set is the largest heap of all. Reference counting
still frees frozen objects that become unreferenced; only cycles among them would stay.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect startup garbage, then exempt every surviving object from later collections.

    Call it once the process is built, just before it starts serving. Returns how many objects
    were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d startup objects out of garbage collection", frozen)
    return frozen


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector held off while a worker handles one batch, and let run after it.

    A batch's events are thousands of parsed JSON containers that live until the batch is done:
    collections triggered in the middle of it walked them again and again (frozen heap or not),
    about a tenth of the index and detect workers' CPU (a real handler on captured `soc.events`
    messages, collector on and off). They are acyclic and freed by reference counting when the
    batch ends; whatever cycles a batch leaves are collected after it, as before. A collector
    already disabled by the caller is left so."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
