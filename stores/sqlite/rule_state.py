"""The embedded mode's rule state: a small JSON file beside the SQLite database in the data folder.

A file rather than a table, so `socpipe` commands and the running server share it with an
advisory lock and atomic replaces, whatever else holds the database.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from soc_core.errors import StoreError
from soc_core.rule_state import RuleState


class JsonRuleStateStore:
    """Embedded mode: a small JSON file beside the SQLite store.

    Readers never lock: writers replace the file atomically (`os.replace`). Writers serialise on an
    advisory lock file, so a CLI and the running server can both change the state.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def load(self) -> RuleState:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return RuleState()
        except OSError as exc:
            raise StoreError(f"rule state not readable: {exc}", path=str(self.path)) from exc
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"rule state is not JSON: {exc}", path=str(self.path)) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("version", 0), int):
            raise StoreError("rule state is not a JSON object with an integer version", path=str(self.path))
        return RuleState.from_doc(doc, version=str(doc.get("version", 0)))

    def set_enabled(
        self,
        rule_id: str,
        enabled: bool,
        *,
        actor: str,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> RuleState:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                current = self.load()
                state = current.with_change(rule_id, enabled, actor=actor, reason=reason, at=at)
                state = replace(state, version=str(int(current.version) + 1))
                self._write({"version": int(state.version), **state.to_doc()})
                return state
        except OSError as exc:
            raise StoreError(f"rule state not written: {exc}", path=str(self.path)) from exc

    def _write(self, doc: dict[str, Any]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".rule-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
