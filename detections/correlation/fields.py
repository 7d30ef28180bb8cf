"""Correlation field names through the base rule's processing pipeline.

A correlation on a Windows rule writes `group-by: IpAddress`; the events carry
`winlog.event_data.IpAddress`. The same `socpipe_pipeline()` that maps the base rule's detection maps
these names: a throw-away rule with the base rule's logsource and one selection per field goes
through the pipeline, and the field names it comes out with are the event fields to read. A rule
with a Security-log variant (process_creation also fires on 4688) reads its fields from either
shape, so the variant's names are added after the main ones (`Image` is `winlog.event_data.Image`
or, on a 4688 event, `winlog.event_data.NewProcessName`; the first present wins).
"""

from __future__ import annotations

from functools import cache

from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule

from detections.pipelines import apply_pipelines, socpipe_pipeline


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
    variants = apply_pipelines(rule, socpipe_pipeline())
    out: list[tuple[str, ...]] = []
    for i, name in enumerate(fields):
        mapped: list[str] = []
        for variant in variants:
            for item in variant.detection.detections[f"s{i}"].detection_items:
                mapped += _names(item)
        out.append(tuple(dict.fromkeys(mapped)) or (name,))
    return tuple(out)
