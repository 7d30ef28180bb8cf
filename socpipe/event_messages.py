"""How events travel on `soc.events`: JSON arrays of one source's events, one Kafka message each.

kafka-python is pure Python, and its per-message work (the producer's batch building and
partitioning, the consumer's record decoding, the broker's own bookkeeping) cost about 36 µs of
the producer's CPU per 3 KB event here: more than normalizing the event, and as much again on
each of the two consumers (`bench/bench_e2e.py`). So the normalize worker packs a batch's events
per source into arrays of up to `EVENT_BATCH_BYTES` (the raw topic has carried its records this
way from the start, `soc_core.records.encode_raw_batches`), keyed by the source as before, so one
source's events stay in order on one partition.

Readers take either shape: an array, or one event object (what a tool writing to the topic by hand
sends, and what the topic held before). One element that is not an event is a dead letter of its
own, with its position in the message (`socpipe.workers.undecodable`); the rest of the message is
processed. A message nested deeper than an event may be (which the normalize worker never writes:
it refuses such records) is refused whole, as one dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from soc_core.bus import KeyValue, Message
from soc_core.guards import ENVELOPE_DEPTH, loads_checked
from soc_core.records import pack_arrays

#: Bytes of events one message carries at most (an event larger than this travels alone).
EVENT_BATCH_BYTES = 1024 * 1024


def encode_event_messages(events: Sequence[tuple[str | None, bytes]]) -> list[KeyValue]:
    """(source id, event JSON) pairs as messages: per source, in order, arrays of at most
    `EVENT_BATCH_BYTES`, keyed by the source."""
    by_source: dict[str | None, list[bytes]] = {}
    for source_id, body in events:
        by_source.setdefault(source_id, []).append(body)
    return [
        (source_id.encode() if source_id is not None else None, message)
        for source_id, bodies in by_source.items()
        for message in pack_arrays(bodies, EVENT_BATCH_BYTES)
    ]


def event_documents(message: Message, max_depth: int) -> list[Any]:
    """The elements of an events message (one, if it holds a single object), not yet checked to be
    event documents; raises `ValueError` for a message that is not JSON and `RecordRefused` for one
    nested deeper than an event may be (`max_depth`, plus the array and the stages' envelope)."""
    value = loads_checked(message.value, max_depth + ENVELOPE_DEPTH + 1)
    return value if type(value) is list else [value]


def event_document(item: Any) -> dict[str, Any]:
    """One element as an event document to validate; raises `ValueError` if it is not an object."""
    if type(item) is not dict:
        raise ValueError(f"an event (a JSON object) expected, got {type(item).__name__}")
    return item
