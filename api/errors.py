"""Typed errors that every area of the API raises the same way; `api.problems` answers them.

    SocError
    ├── NotFound        no such alert, incident, plan, visit, finding, evidence file or unit
    ├── InvalidChange   a change that makes no sense (an empty bulk, a unit outside the registry...)
    └── InvalidCursor   a paging cursor this API did not hand out

Area-specific errors stay beside their area (`api.alerts.errors`, `api.auth.errors`,
`api.inspections.errors`); these are shared so one "not found" means one thing everywhere.
"""

from __future__ import annotations

from soc_core.errors import SocError


class NotFound(SocError):
    pass


class InvalidChange(SocError):
    pass


class InvalidCursor(SocError):
    pass
