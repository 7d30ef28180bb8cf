"""Typed errors of triage and incidents; `api.problems` maps them to HTTP answers.

SocError
└── TriageError
    └── Conflict        another analyst changed it at the same moment, and retries ran out

"No such alert" and "a change that makes no sense" are the shared `api.errors.NotFound` and
`api.errors.InvalidChange`.
"""

from __future__ import annotations

from soc_core.errors import SocError


class TriageError(SocError):
    pass


class Conflict(TriageError):
    pass
