"""The SigmaHQ regression samples: (rule id, title, list of evtx-JSON record texts) per case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import yaml


def cases(root: Path) -> Iterator[tuple[str, str, Path, list[str]]]:
    """Each `info.yml` case folder: its rule id, title, JSON file and the records in it.

    The JSON files hold one or several concatenated evtx-to-JSON objects (not a JSON array).
    """
    for info_path in sorted(root.rglob("info.yml")):
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        meta = info["rule_metadata"][0]
        for json_path in sorted(info_path.parent.glob("*.json")):
            text = json_path.read_text(encoding="utf-8")
            decoder = json.JSONDecoder()
            records: list[str] = []
            pos = 0
            while True:
                while pos < len(text) and text[pos].isspace():
                    pos += 1
                if pos >= len(text):
                    break
                obj, pos = decoder.raw_decode(text, pos)
                records.append(json.dumps(obj))
            yield str(meta["id"]), str(meta.get("title", "")), json_path, records
