"""Routing rules and response guidance as an admin edits them: validated, versioned, picked up live.

An admin saves a YAML text in the console (`api.notify.config`); it is parsed here first, and a
text that is not valid YAML or not a valid set of rules is refused with every problem named by
its place (`rules.2.min_severity`, the rule's name, the field) and never stored. A valid text is
stored as the next version (`soc_core.notify_config.NotifyConfigStore`).

`LiveConfig` is what the notifier reads: the newest stored version of each kind, or the seed (the
YAML files of `SOC_NOTIFY_RULES_FILE` / `SOC_NOTIFY_GUIDANCE_FILE`, else the built-in) until the
first save; with the routing rules come the on-call list and the escalation chain (a text that
names neither leaves `SOC_NOTIFY_ONCALL` / `SOC_NOTIFY_ESCALATION` in force). It asks the store
for the current versions at most every `SOC_NOTIFY_CONFIG_POLL_S`, so a change reaches a running
notify worker without a restart. A store that cannot answer, or a stored text that no longer
parses (a release changed the schema), keeps the configuration in use; the failure is logged
and counted, never raised into the notifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from notify.rules import DEFAULT_RULES, RoutingRules, contacts
from notify.text import Guidance
from soc_core.errors import ConfigError, StoreError
from soc_core.metrics import STAGE_ERRORS
from soc_core.notify import Recipient
from soc_core.notify_config import ConfigKind, NotifyConfigStore
from soc_core.settings import NotifySettings

log = logging.getLogger(__name__)

BUILT_IN_GUIDANCE = Path(__file__).with_name("guidance.yaml")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    location: str | None
    """Where: `rules.1.min_severity`, `checklist.VN-01.do`, `line 3, column 5`; None for the whole text."""
    message: str


class NotifyConfigInvalid(ConfigError):
    """A routing or guidance text that cannot be used; `problems` names each place."""

    def __init__(self, kind: ConfigKind, problems: list[ConfigProblem]) -> None:
        shown = "; ".join(p.message for p in problems[:3])
        super().__init__(f"{kind.value} not saved: {len(problems)} problem(s): {shown}", kind=kind.value)
        self.problems = problems


MODELS: dict[ConfigKind, type[BaseModel]] = {ConfigKind.ROUTING: RoutingRules, ConfigKind.GUIDANCE: Guidance}


LISTS = {"oncall": '"oncall" (the on-call list)', "escalation": '"escalation" (the escalation chain)'}


def _where(kind: ConfigKind, loc: tuple[int | str, ...], data: Any) -> str:
    """`rule "usb" (number 2), field "to"` from pydantic's location in the document."""
    if kind is ConfigKind.ROUTING and len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        rules = data.get("rules") if isinstance(data, dict) else None
        rule = rules[index] if isinstance(rules, list) and index < len(rules) else None
        name = rule.get("name") if isinstance(rule, dict) else None
        said = f'rule "{name}" (number {index + 1})' if name else f"rule number {index + 1}"
        field = ".".join(str(p) for p in loc[2:])
        return f'{said}, field "{field}"' if field else said
    if kind is ConfigKind.ROUTING and len(loc) == 2 and loc[0] in LISTS and isinstance(loc[1], int):
        return f"{LISTS[str(loc[0])]}, entry {loc[1] + 1}"
    if kind is ConfigKind.GUIDANCE and len(loc) >= 2 and loc[0] in ("checklist", "families"):
        field = ".".join(str(p) for p in loc[2:])
        said = f'{loc[0]} "{loc[1]}"'
        return f'{said}, field "{field}"' if field else said
    return f'field "{".".join(str(p) for p in loc)}"' if loc else "the document"


def parse(kind: ConfigKind, text: str) -> Any:
    """The model `text` describes (`RoutingRules` or `Guidance`); `NotifyConfigInvalid` naming every
    problem otherwise."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        location = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise NotifyConfigInvalid(kind, [ConfigProblem(location, f"not valid YAML: {problem}")]) from exc
    if data is None and kind is ConfigKind.ROUTING:
        data = {}
    if not isinstance(data, dict):
        raise NotifyConfigInvalid(kind, [ConfigProblem(None, "the text must be a YAML mapping")])
    try:
        model = MODELS[kind].model_validate(data)
    except ValidationError as exc:
        problems = [
            ConfigProblem(
                ".".join(str(p) for p in e["loc"]) or None,
                f"{_where(kind, e['loc'], data)}: {e['msg'].removeprefix('Value error, ')}",
            )
            for e in exc.errors()
        ]
        raise NotifyConfigInvalid(kind, problems) from exc
    if isinstance(model, RoutingRules):
        seen: set[str] = set()
        repeated = [
            ConfigProblem(f"rules.{i}.name", f'rule "{r.name}" (number {i + 1}): the name is used twice')
            for i, r in enumerate(model.rules)
            if r.name in seen or seen.add(r.name)  # type: ignore[func-returns-value]
        ]
        if repeated:
            raise NotifyConfigInvalid(kind, repeated)
    return model


class LiveConfig:
    """The rules and guidance in force, refreshed from the store by the clock (see the module doc)."""

    def __init__(
        self,
        store: NotifyConfigStore | None,
        *,
        seed_rules: RoutingRules,
        seed_guidance: Guidance,
        poll_s: float,
        oncall: Sequence[Recipient] = (),
        escalation: Sequence[Recipient] = (),
    ) -> None:
        """`oncall` and `escalation` (the settings') are in force while the rules name none."""
        self._store = store
        self._poll = timedelta(seconds=poll_s)
        self._default_oncall = list(oncall)
        self._default_escalation = list(escalation)
        self._set_rules(seed_rules)
        self.guidance = seed_guidance
        self.versions: dict[ConfigKind, int] = {ConfigKind.ROUTING: 0, ConfigKind.GUIDANCE: 0}
        self._checked: datetime | None = None
        self._failing = False

    def refresh(self, now: datetime) -> bool:
        """Read the stored versions when the poll interval has passed; True when one changed."""
        if self._store is None or (self._checked is not None and now - self._checked < self._poll):
            return False
        self._checked = now
        changed = failed = False
        for kind in ConfigKind:
            try:
                current = self._store.current(kind)
                if current is None or current.version == self.versions[kind]:
                    continue
                model = parse(kind, current.text)
            except (StoreError, NotifyConfigInvalid) as exc:
                STAGE_ERRORS.labels("notify").inc()
                if not self._failing:  # logged once per outage, not at every poll
                    log.error("notify: %s configuration kept as it was: %s", kind.value, exc)
                failed = True
                continue
            self._install(kind, model, current.version)
            changed = True
        self._failing = failed
        return changed

    def _set_rules(self, rules: RoutingRules) -> None:
        self.rules = rules
        self.oncall = contacts(rules.oncall, self._default_oncall)
        self.escalation = contacts(rules.escalation, self._default_escalation)

    def _install(self, kind: ConfigKind, model: Any, version: int) -> None:
        if kind is ConfigKind.ROUTING:
            self._set_rules(model)
            log.info(
                "notify: routing version %d in force (%d rules, %d on-call, %d escalation contacts)",
                version,
                len(self.rules.rules),
                len(self.oncall),
                len(self.escalation),
            )
        else:
            self.guidance = model
            log.info("notify: %s configuration version %d in force", kind.value, version)
        self.versions[kind] = version


def _dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def seed_text(kind: ConfigKind, settings: NotifySettings) -> str:
    """The text in force before the first save: the seed file's, else the built-in one. A routing
    seed that names no on-call list or escalation chain gets the settings' ones written in, so the
    admin sees (and edits) who is on duty; in force it is the same thing."""
    path = settings.rules_file if kind is ConfigKind.ROUTING else settings.guidance_file
    if kind is ConfigKind.GUIDANCE and path is None:
        path = BUILT_IN_GUIDANCE
    lists = {"oncall": list(settings.oncall), "escalation": list(settings.escalation)}
    if path is None:
        rules = [r.model_dump(mode="json", exclude_defaults=True) for r in DEFAULT_RULES]
        return _dump({**lists, "rules": rules})
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{kind.value} seed file not read: {exc}", path=str(path)) from exc
    if kind is ConfigKind.GUIDANCE:
        return text
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return text  # shown as it is: saving it names the problem
    if not isinstance(data, dict):
        return text
    missing = {k: v for k, v in lists.items() if k not in data}
    if not missing:
        return text
    names = " and ".join(f"SOC_NOTIFY_{k.upper()}" for k in missing)
    return f"{text.rstrip()}\n# {names} (the file names none):\n{_dump(missing)}".lstrip()
