"""What the OpenAPI document says of routes that answer a file or text rather than JSON, so a
generated client (and the schema-based fuzz run, `tests/api/test_fuzz.py`) expects the right type."""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

#: `response_class=` for such routes: no JSON body is documented for them.
FILE = Response


def file_responses(*media_types: str, description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route whose 200 is one of `media_types` (a file, or text)."""
    return {200: {"description": description, "content": {m: {} for m in media_types}}}
