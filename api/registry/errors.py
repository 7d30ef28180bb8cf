"""The registry's typed error, apart from the service so the error handlers can import it alone."""

from __future__ import annotations

from soc_core.errors import ConfigError


class RegistryInvalid(ConfigError):
    """The registry (or an import into it) is inconsistent; `problems` lists every issue."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} registry problem(s): " + "; ".join(problems[:5]))
        self.problems = problems
