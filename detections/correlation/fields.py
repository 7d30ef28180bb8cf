"""Correlation field names through the base rule's processing pipeline.

A correlation on a Windows rule writes `group-by: IpAddress`; the events carry
`winlog.event_data.IpAddress`. The same `socpipe_pipeline()` that maps the base rule's detection maps
these names: a throw-away rule with the base rule's logsource and one selection per field goes
through the pipeline, and the field names it comes out with are the event fields to read.
"""

from __future__ import annotations

from functools import cache

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from detections.pipelines import socpipe_pipeline


def _names(item: SigmaDetection | SigmaDetectionItem) -> list[str]:
    if isinstance(item, SigmaDetectionItem):
        return [item.field] if item.field else []
    return [name for sub in item.detection_items for name in _names(sub)]


@cache
def map_fields(
    logsource: tuple[tuple[str, str], ...], fields: tuple[str, ...]
) -> tuple[tuple[str, ...], ...]:
    """For each Sigma field name, the flat event fields it maps to under this logsource."""
    if not fields:
        return ()
    detection: dict[str, object] = {f"s{i}": {name: "x"} for i, name in enumerate(fields)}
    detection["condition"] = "1 of s*"
    rule = SigmaRule.from_dict(
        {
            "title": "correlation field mapping",
            "logsource": dict(logsource),
            "detection": detection,
        }
    )
    socpipe_pipeline().apply(rule)
    out: list[tuple[str, ...]] = []
    for i, name in enumerate(fields):
        mapped: list[str] = []
        for item in rule.detection.detections[f"s{i}"].detection_items:
            mapped += _names(item)
        out.append(tuple(dict.fromkeys(mapped)) or (name,))
    return tuple(out)
