"""Typed errors of triage and incidents; `api.app` maps them to 404 / 409 / 422.

SocError
└── TriageError
    ├── NotFound        no such alert or incident
    ├── Conflict        another analyst changed it at the same moment, and retries ran out
    └── InvalidChange   a change that makes no sense (empty bulk, unknown alert in an incident)
"""

from __future__ import annotations

from soc_core.errors import SocError


class TriageError(SocError):
    pass


class NotFound(TriageError):
    pass


class Conflict(TriageError):
    pass


class InvalidChange(TriageError):
    pass
