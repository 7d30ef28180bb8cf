"""Events already in ECS (Filebeat or Elastic Agent with ECS processors): validated and passed on."""

from __future__ import annotations

from typing import Any

import orjson

from normalizers.base import ParseContext
from soc_core.errors import NormalizeError


class EcsPassthrough:
    name = "ecs"
    typed_output = False  # the payload is the document: the stage validates it

    def parse(self, raw: str, ctx: ParseContext) -> dict[str, Any]:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise NormalizeError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise NormalizeError(f"ECS event must be a JSON object, got {type(doc).__name__}")
        if "@timestamp" not in doc:
            raise NormalizeError("ECS event has no @timestamp")
        # Attribution is ours to stamp: never trust soc.* from the payload.
        doc.pop("soc", None)
        return doc

    def sniff(self, raw: str) -> bool:
        return raw.lstrip().startswith("{") and '"@timestamp"' in raw


NORMALIZER = EcsPassthrough()
